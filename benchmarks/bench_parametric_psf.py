"""Parametric Gaussian PSFs on natural images: parameter error, calibration, PSNR, time.

Natural 256 x 256 scikit-image photographs, blurred by an anisotropic Gaussian whose
parameters are drawn from the model's own prior (sigma_x, sigma_y ~ U(0.5, 4) px,
theta ~ U(0, pi)), noise std 0.5 % and 2 % of the [0, 1] range, ``circular`` and ``valid``
boundaries. Per case:

* **gradient**: the Polyblur-style estimator (``bayesdeconv.infer.blur_estimate``), a point;
* **evidence MAP (smooth)**: the collapsed-evidence MAP under the smooth prior
  (``map_psf_parameters``, the default start of parametric IVB), a point;
* **evidence NUTS (smooth)**: ``deconvolve(y, psf=GaussianPSF(...))``, the default engine for
  the smooth prior (circular only: NUTS on the parameters, the image integrated out);
* **parametric IVB (sparse)**: ``deconvolve(y, psf=GaussianPSF(...), prior="sparse")``
  (variational EM, Laplace intervals), both boundaries;
* **true PSF**: non-blind deconvolution with the true kernel under the same prior (the PSNR
  reference; target: the parametric posterior mean within 0.2 dB of it);
* **blind IVB**: our non-parametric blind IVB (kernel search + sweeps) on a subset.

Parameter error: relative error of the wider and the narrower width (the pair is unordered:
``(sx, sy, t)`` and ``(sy, sx, t + pi/2)`` are the same kernel), the angle error of the wide
axis where the blur is clearly anisotropic (ratio > 1.25). Calibration: how often the 90 %
intervals of both widths hold the truth (target 85-95 %). One 3-D case: a bead-and-filament
volume blurred by a Born & Wolf widefield PSF (``WidefieldPSF``), NA recovered with an
interval.

Run ``python benchmarks/bench_parametric_psf.py [--smoke] [--jobs 2]``.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import pyro.distributions as dist
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    load_image,
    markdown_table,  # noqa: E402
    parse_args,
    write_results,
)

from bayesdeconv import deconvolve  # noqa: E402
from bayesdeconv.diagnostics.levin import score as levin_score  # noqa: E402
from bayesdeconv.infer.blur_estimate import estimate_gaussian_blur  # noqa: E402
from bayesdeconv.infer.collapsed import map_psf_parameters  # noqa: E402
from bayesdeconv.physics import ConvolutionOperator  # noqa: E402
from bayesdeconv.physics.psf.differentiable import gaussian_kernel  # noqa: E402
from bayesdeconv.psf_priors import GaussianPSF, WidefieldPSF  # noqa: E402

IMAGES = [
    "camera", "astronaut", "brick", "grass", "gravel", "moon", "immunohistochemistry",
    "coffee", "rocket", "chelsea", "coins", "cell", "hubble_deep_field", "clock",
]  # fmt: skip
SUPPORT = 25
LOW, HIGH = 0.5, 4.0
NOISES = (0.005, 0.02)
BOUNDARIES = ("circular", "valid")
BLIND_SUBSET = 4  # images with the (slow) non-parametric blind IVB, circular, lowest noise


def psf_prior() -> GaussianPSF:
    """The model's prior, from which the benchmark's true parameters are drawn."""
    u = dist.Uniform(
        torch.tensor(LOW, dtype=torch.float64), torch.tensor(HIGH, dtype=torch.float64)
    )
    return GaussianPSF(SUPPORT, sigma_x=u, sigma_y=u)


def _table(rows: list[dict]) -> str:
    headers = list(dict.fromkeys(h for row in rows for h in row))
    return markdown_table(headers, [[row.get(h, "") for h in headers] for row in rows])


def psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((estimate - truth) ** 2)))


def widths(sx, sy) -> tuple[np.ndarray, np.ndarray]:
    """(wide, narrow) per draw."""
    sx, sy = np.asarray(sx, float), np.asarray(sy, float)
    return np.maximum(sx, sy), np.minimum(sx, sy)


def wide_angle(sx: float, sy: float, theta: float) -> float:
    return (theta if sx >= sy else theta + math.pi / 2) % math.pi


def angle_error(a: float, b: float) -> float:
    d = (a - b) % math.pi
    return math.degrees(min(d, math.pi - d))


def parameter_row(truth: dict, sx, sy, theta, seconds: float) -> dict:
    wide_t, narrow_t = widths(truth["sigma_x"], truth["sigma_y"])
    wide, narrow = widths(sx, sy)
    row = {
        "err_wide": float(np.mean(wide) / wide_t - 1),
        "err_narrow": float(np.mean(narrow) / narrow_t - 1),
        "seconds": seconds,
    }
    if wide_t / narrow_t > 1.25:
        t_true = wide_angle(truth["sigma_x"], truth["sigma_y"], truth["theta"])
        sx0, sy0 = float(np.mean(sx)), float(np.mean(sy))
        th = float(np.angle(np.mean(np.exp(2j * np.asarray(theta, float)))) / 2)
        row["angle_err_deg"] = angle_error(wide_angle(sx0, sy0, th), t_true)
    if np.size(sx) > 1:  # draws: the 90 % intervals
        for name, draws, value in (("wide", wide, wide_t), ("narrow", narrow, narrow_t)):
            lo, hi = np.quantile(draws, [0.05, 0.95])
            row[f"covers_{name}"] = bool(lo <= value <= hi)
            row[f"width90_{name}"] = float(hi - lo)
    return row


def observe(name: str, size: int, truth: dict, noise: float, boundary: str, seed: int):
    x = load_image(name, size)
    k = gaussian_kernel(SUPPORT, truth["sigma_x"], truth["sigma_y"], truth["theta"])
    shape = x.shape if boundary == "circular" else tuple(s - SUPPORT + 1 for s in x.shape)
    op = ConvolutionOperator(k, shape, boundary=boundary)
    y = op.forward(torch.as_tensor(x)).numpy()
    y = y + noise * np.random.default_rng(seed).standard_normal(shape)
    frame = (
        x
        if boundary == "circular"
        else x[SUPPORT // 2 : -(SUPPORT // 2), SUPPORT // 2 : -(SUPPORT // 2)]
    )
    return y, frame, k.numpy()


def run_case(case: dict) -> list[dict]:
    torch.set_num_threads(1)
    name, size, noise, boundary = case["image"], case["size"], case["noise"], case["boundary"]
    truth = case["truth"]
    y, frame, k_true = observe(name, size, truth, noise, boundary, case["seed"])
    base = {
        "image": name,
        "noise": noise,
        "boundary": boundary,
        "sigma_x": truth["sigma_x"],
        "sigma_y": truth["sigma_y"],
        "theta": truth["theta"],
    }
    rows = []

    def add(method: str, row: dict) -> None:
        rows.append({**base, "method": method, **row})

    t = time.perf_counter()
    g = estimate_gaussian_blur(y)
    add("gradient", parameter_row(truth, g.sigma_x, g.sigma_y, g.theta, time.perf_counter() - t))
    t = time.perf_counter()
    m = map_psf_parameters(y, psf_prior(), boundary=boundary)
    add(
        "evidence MAP (smooth)",
        parameter_row(truth, m["sigma_x"], m["sigma_y"], m["theta"], time.perf_counter() - t),
    )
    fits = []
    if boundary == "circular":
        fits.append(("evidence NUTS (smooth)", "smooth"))
    fits.append(("parametric IVB (sparse)", "sparse"))
    for method, prior in fits:
        t = time.perf_counter()
        steps = {"steps": 50} if case["size"] < 128 and prior == "smooth" else {}
        r = deconvolve(
            y,
            psf=psf_prior(),
            prior=prior,
            boundary=boundary,
            seed=case["seed"],
            progress=False,
            **steps,
        )
        seconds = time.perf_counter() - t
        p = r.psf_parameters
        row = parameter_row(
            truth, p["psf_sigma_x"].values, p["psf_sigma_y"].values, p["psf_theta"].values, seconds
        )
        row["psnr"] = psnr(r.mean, frame)
        row["_mean"] = r.mean
        t = time.perf_counter()
        ref = deconvolve(
            y,
            psf=k_true,
            prior=prior,
            boundary=boundary,
            progress=False,
            **({"std": "family"} if prior == "smooth" else {}),
        )
        row["psnr_true_psf"] = psnr(ref.mean, frame)
        row["true_psf_seconds"] = time.perf_counter() - t
        row["psnr_input"] = psnr(y, frame)
        add(method, row)
    if case.get("blind"):
        t = time.perf_counter()
        r = deconvolve(y, psf_size=SUPPORT, prior="sparse", boundary=boundary, progress=False)
        seconds = time.perf_counter() - t
        ref = next(x for x in rows if x["method"] == "parametric IVB (sparse)")
        aligned = levin_score(r.mean, frame)["psnr"]  # a blind kernel may be off-centre
        add(
            "blind IVB (non-parametric)",
            {
                "psnr": psnr(r.mean, frame),
                "psnr_aligned": aligned,
                "psnr_parametric_aligned": levin_score(ref["_mean"], frame)["psnr"],
                "seconds": seconds,
            },
        )
    for row in rows:
        row.pop("_mean", None)
    return rows


def cases(smoke: bool) -> list[dict]:
    rng = np.random.default_rng(2026)
    images = ["camera"] if smoke else IMAGES
    noises = NOISES[:1] if smoke else NOISES
    out = []
    for noise in noises:
        for boundary in BOUNDARIES:
            for i, name in enumerate(images):
                sx, sy = rng.uniform(LOW, HIGH, 2)
                truth = {
                    "sigma_x": float(sx),
                    "sigma_y": float(sy),
                    "theta": float(rng.uniform(0, math.pi)),
                }
                blind = (
                    not smoke and i < BLIND_SUBSET and boundary == "circular" and noise == NOISES[0]
                )
                out.append(
                    {
                        "image": name,
                        "size": 64 if smoke else 256,
                        "noise": noise,
                        "boundary": boundary,
                        "truth": truth,
                        "seed": len(out),
                        "blind": blind,
                    }
                )
    return out


def widefield_case(smoke: bool) -> list[dict]:
    """A 3-D bead-and-filament volume, Born & Wolf PSF (NA 1.2, oil), 1 % noise: NA back."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(7)
    shape = (12, 24, 24) if smoke else (32, 64, 64)
    volume = np.zeros(shape)
    for _ in range(30 if smoke else 120):  # beads
        volume[tuple(rng.integers(0, s) for s in shape)] = rng.uniform(0.5, 1.0)
    for _ in range(3 if smoke else 8):  # filaments: random straight segments
        start, direction = rng.uniform(0, 1, 3) * shape, rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        for t in np.linspace(0, max(shape), 4 * max(shape)):
            index = tuple(int(v) % s for v, s in zip(start + t * direction, shape, strict=True))
            volume[index] = 0.6
    optics = dict(wavelength=0.52, pixel_size=0.1, z_step=0.25, refractive_index=1.515)
    support = (7, 11, 11) if smoke else (15, 21, 21)
    truth = 1.2
    prior = WidefieldPSF(
        support,
        **optics,
        numerical_aperture=dist.Uniform(
            torch.tensor(0.8, dtype=torch.float64), torch.tensor(1.45, dtype=torch.float64)
        ),
    )
    k = prior.kernel(numerical_aperture=truth)
    rows = []
    for boundary in ("circular",):  # the evidence engine; parametric IVB is 2-D only
        out_shape = (
            shape
            if boundary == "circular"
            else tuple(s - q + 1 for s, q in zip(shape, support, strict=True))
        )
        op = ConvolutionOperator(k, out_shape, boundary=boundary)
        y = op.forward(torch.as_tensor(volume)).numpy()
        y = y + 0.01 * rng.standard_normal(y.shape)
        for method, image_prior in [("evidence NUTS (smooth)", "smooth")]:
            t = time.perf_counter()
            r = deconvolve(
                y,
                psf=prior,
                prior=image_prior,
                boundary=boundary,
                progress=False,
                **({"steps": 40} if smoke else {}),
            )
            na = r.psf_parameters["psf_numerical_aperture"].values
            lo, hi = np.quantile(na, [0.05, 0.95])
            rows.append(
                {
                    "volume": "x".join(map(str, shape)),
                    "boundary": boundary,
                    "method": method,
                    "na_true": truth,
                    "na_mean": float(na.mean()),
                    "na_std": float(na.std()),
                    "na_90": f"{lo:.3f}-{hi:.3f}",
                    "covers": bool(lo <= truth <= hi),
                    "seconds": time.perf_counter() - t,
                }
            )
    return rows


def _median(rows, key):
    values = [abs(r[key]) for r in rows if key in r]
    return float(np.median(values)) if values else float("nan")


def _summary_rows(rows: list[dict]) -> list[dict]:
    out = []
    groups = sorted({(r["method"], r["noise"], r["boundary"]) for r in rows})
    for method, noise, boundary in groups:
        g = [
            r for r in rows if (r["method"], r["noise"], r["boundary"]) == (method, noise, boundary)
        ]
        errs = [abs(r[k]) for r in g for k in ("err_wide", "err_narrow") if k in r]
        signed = [r[k] for r in g for k in ("err_wide", "err_narrow") if k in r]
        covers = [r[k] for r in g for k in ("covers_wide", "covers_narrow") if k in r]
        gaps = [r["psnr_true_psf"] - r["psnr"] for r in g if "psnr_true_psf" in r]
        psnrs = [r["psnr"] for r in g if "psnr" in r]
        aligned = [r["psnr_aligned"] for r in g if "psnr_aligned" in r]
        aligned_ref = [r["psnr_parametric_aligned"] for r in g if "psnr_parametric_aligned" in r]
        out.append(
            {
                "method": method,
                "noise": noise,
                "boundary": boundary,
                "cases": len(g),
                "median_rel_err": float(np.median(errs)) if errs else float("nan"),
                "median_signed_err": float(np.median(signed)) if signed else float("nan"),
                "median_angle_err_deg": _median(g, "angle_err_deg"),
                "coverage_90": float(np.mean(covers)) if covers else float("nan"),
                "mean_psnr": float(np.mean(psnrs)) if psnrs else float("nan"),
                "mean_psnr_aligned": float(np.mean(aligned)) if aligned else float("nan"),
                "parametric_psnr_aligned": float(np.mean(aligned_ref))
                if aligned_ref
                else float("nan"),
                "mean_gap_to_true_psf_db": float(np.mean(gaps)) if gaps else float("nan"),
                "median_seconds": float(np.median([r["seconds"] for r in g])),
            }
        )
    return out


def main(argv=None) -> None:
    def extra(parser):
        parser.add_argument("--jobs", type=int, default=1, help="worker processes")

    args = parse_args(__doc__.splitlines()[0], argv, extra)
    todo = cases(args.smoke)
    start = time.perf_counter()
    if args.jobs > 1:
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            chunks = pool.map(run_case, todo, chunksize=1)
    else:
        chunks = [run_case(c) for c in todo]
    rows = [r for chunk in chunks for r in chunk]
    wide = widefield_case(args.smoke)
    table = _summary_rows(rows)
    ivb = [t for t in table if t["method"] == "parametric IVB (sparse)"]
    summary = {
        "median_rel_err": {
            f"{t['method']} / {t['noise']} / {t['boundary']}": t["median_rel_err"] for t in table
        },
        "coverage_90": {
            f"{t['method']} / {t['noise']} / {t['boundary']}": t["coverage_90"]
            for t in table
            if not math.isnan(t["coverage_90"])
        },
        "ivb_gap_to_true_psf_db": {
            f"{t['noise']} / {t['boundary']}": t["mean_gap_to_true_psf_db"] for t in ivb
        },
        "ivb_median_seconds": float(np.median([t["median_seconds"] for t in ivb])),
        "widefield_na": wide,
        "wall_seconds": time.perf_counter() - start,
    }
    body = "\n\n".join(
        [
            "## Summary by method, noise and boundary",
            _table(table),
            "## 3-D widefield (Born & Wolf, NA 1.2 oil, 1 % noise)",
            _table(wide),
            "## Every case",
            _table(rows),
        ]
    )
    write_results(
        "bench_parametric_psf",
        smoke=args.smoke,
        config={
            "images": [c["image"] for c in todo],
            "support": SUPPORT,
            "prior": [LOW, HIGH],
            "noises": list(NOISES),
            "boundaries": list(BOUNDARIES),
            "jobs": args.jobs,
        },
        results={"cases": rows, "summary_table": table, "widefield": wide},
        summary=summary,
        markdown_body=body,
        title="Parametric Gaussian PSF: parameters, calibration, PSNR, time",
    )
    print(_table(table))
    print(_table(wide))


if __name__ == "__main__":
    main()
