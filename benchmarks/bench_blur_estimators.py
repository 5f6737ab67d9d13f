"""Fast Gaussian-blur estimators on the cases of ``bench_parametric_psf``: ours vs Polyblur's.

Point estimates only, on the same images, blurs and noise as ``bench_parametric_psf.py``:

* **gradient (ours)**: ``bayesdeconv.infer.blur_estimate.estimate_gaussian_blur``;
* **evidence MAP (smooth)**: ``bayesdeconv.infer.collapsed.map_psf_parameters``;
* **polyblur package**: ``polyblur.blur_estimation.gaussian_blur_estimation`` (Delbracio et
  al. 2021, the authors' PyPI package 0.1.6) with its default constants, when it can be
  imported (it is not a dependency: install it with
  ``pip install --no-build-isolation --no-deps polyblur``). It returns a kernel; its widths
  and angle are read from the kernel's second moments.

Run ``python benchmarks/bench_blur_estimators.py [--smoke]``.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import parse_args, write_results  # noqa: E402
from bench_parametric_psf import (  # noqa: E402
    _summary_rows,
    _table,
    cases,
    observe,
    parameter_row,
    psf_prior,
)

from bayesdeconv.infer.blur_estimate import estimate_gaussian_blur  # noqa: E402
from bayesdeconv.infer.collapsed import map_psf_parameters  # noqa: E402


def kernel_moments(kernel: np.ndarray) -> tuple[float, float, float]:
    """(sigma_x, sigma_y, theta) of a kernel from its second moments (x = columns)."""
    k = np.asarray(kernel, float)
    k = k / k.sum()
    iy, ix = np.indices(k.shape)
    mx, my = (k * ix).sum(), (k * iy).sum()
    cxx = (k * (ix - mx) ** 2).sum()
    cyy = (k * (iy - my) ** 2).sum()
    cxy = (k * (ix - mx) * (iy - my)).sum()
    values, vectors = np.linalg.eigh(np.array([[cxx, cxy], [cxy, cyy]]))
    wide = vectors[:, 1]
    theta = math.atan2(wide[1], wide[0]) % math.pi
    return float(math.sqrt(values[1])), float(math.sqrt(max(values[0], 0.0))), theta


def polyblur_estimator():
    try:
        from polyblur.blur_estimation import gaussian_blur_estimation
    except ImportError:
        return None

    def estimate(y: np.ndarray) -> tuple[float, float, float]:
        image = torch.as_tensor(np.clip(y, 0, 1), dtype=torch.float32)[None, None]
        kernel = gaussian_blur_estimation(image, ker_size=25)
        return kernel_moments(kernel[0, 0].numpy())

    return estimate


def main(argv=None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    polyblur = polyblur_estimator()
    rows = []
    for case in cases(args.smoke):
        y, _, _ = observe(
            case["image"],
            case["size"],
            case["truth"],
            case["noise"],
            case["boundary"],
            case["seed"],
        )
        truth = case["truth"]
        base = {"image": case["image"], "noise": case["noise"], "boundary": case["boundary"]}
        t = time.perf_counter()
        g = estimate_gaussian_blur(y)
        seconds = time.perf_counter() - t
        rows.append({**base, "method": "gradient (ours)",
                     **parameter_row(truth, g.sigma_x, g.sigma_y, g.theta, seconds)})  # fmt: skip
        t = time.perf_counter()
        m = map_psf_parameters(y, psf_prior(), boundary=case["boundary"])
        seconds = time.perf_counter() - t
        row = parameter_row(truth, m["sigma_x"], m["sigma_y"], m["theta"], seconds)
        rows.append({**base, "method": "evidence MAP (smooth)", **row})
        if polyblur is not None:
            t = time.perf_counter()
            sx, sy, th = polyblur(y)
            seconds = time.perf_counter() - t
            rows.append({**base, "method": "polyblur package",
                         **parameter_row(truth, sx, sy, th, seconds)})  # fmt: skip
    table = _summary_rows(rows)
    summary = {
        "median_rel_err": {
            f"{t['method']} / {t['noise']} / {t['boundary']}": t["median_rel_err"] for t in table
        },
        "polyblur_available": polyblur is not None,
    }
    body = "\n\n".join(["## Summary", _table(table), "## Every case", _table(rows)])
    write_results(
        "bench_blur_estimators",
        smoke=args.smoke,
        config={"cases": len(rows), "polyblur": polyblur is not None},
        results={"cases": rows, "summary_table": table},
        summary=summary,
        markdown_body=body,
        title="Fast Gaussian-blur estimators: ours vs the polyblur package",
    )
    print(_table(table))


if __name__ == "__main__":
    main()
