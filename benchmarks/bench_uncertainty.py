"""How honest is the default std map? Holes, borders, coverage on prior draws and real images.

The default path of :func:`bayesdeconv.deconvolve` with a known PSF fits the smooth (first-
difference Gaussian) prior by IVB and reports the exact per-pixel marginal std of the
conditional posterior, estimated by perturb-and-optimise draws with a circulant control
variate (``fit_ivb(std="sampled")``). This script measures, against the variational family's
own std (``std="family"``: flat for the stationary family, mean-field with a mask):

* **holes**: a 30 x 30 hole in a 128 x 128 natural image (camera), Gaussian PSF 9 x 9
  (sigma 1.5), 1 % noise, ``valid`` boundary: median std at the hole's centre (its central
  10 x 10) over the observed pixels' median std (target >= 1.5);
* **the frame**: without a mask, the std map's range, its value at the corners and in the
  centre (a flat map has ratio 1);
* **cost**: fit time and std time (target: std <= 2x the fit);
* **coverage on prior draws**: 90 % intervals on 64 x 64 images drawn from the prior
  (alpha = 400, sigma = 0.01), precisions learned, no mask / a 16 x 16 block / 30 % random
  pixels missing (target 85-95 %);
* **coverage on real images**: scikit-image photographs at 128 x 128, same PSF and noise, for
  the default path and for the sparse prior (IVB's mean-field and Gibbs); a photograph is not
  a draw from any of these priors, so coverage is reported, not targeted.

Run ``python benchmarks/bench_uncertainty.py [--smoke]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_image, parse_args, write_results  # noqa: E402
from _common import markdown_table as _table  # noqa: E402

from bayesdeconv import deconvolve  # noqa: E402
from bayesdeconv.infer import fit_ivb  # noqa: E402
from bayesdeconv.likelihoods import GaussianNoise  # noqa: E402
from bayesdeconv.models import DeconvolutionModel  # noqa: E402
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf  # noqa: E402
from bayesdeconv.priors import SmoothPrior  # noqa: E402

PSF = gaussian_psf(9, 1.5)
NOISE = 0.01
VARIANTS = {
    "default (sampled std)": {},
    "stationary family std": {"std": "family"},
    "mean-field family std": {"covariance": "diagonal", "std": "family"},
    "mean-field fit, sampled std": {"covariance": "diagonal"},
}


def _fit(y, mask, prior, **options):
    op = ConvolutionOperator(PSF, y.shape, boundary="valid")
    model = DeconvolutionModel(
        op,
        prior=prior,
        noise=GaussianNoise(),
        mask=None if mask is None else torch.as_tensor(mask),
    )
    return fit_ivb(model, torch.as_tensor(y), progress=False, **options)


def _latent_shape(size: int) -> tuple[int, int]:
    return ConvolutionOperator(PSF, (size, size), boundary="valid").latent_shape


def _observe(truth_latent: np.ndarray, size: int, rng: np.random.Generator):
    """Blur a latent scene (``valid``: the observed window sees the scene beyond it)."""
    op = ConvolutionOperator(PSF, (size, size), boundary="valid")
    latent = torch.as_tensor(truth_latent)
    y = op.forward(latent).numpy() + NOISE * rng.standard_normal(op.observed_shape)
    return y, op.crop(latent).numpy()


def holes_and_frame(size: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    y, truth = _observe(load_image("camera", _latent_shape(size)[0]), size, rng)
    hole = size * 30 // 128
    lo = (size - hole) // 2
    mask = np.ones_like(y, dtype=bool)
    mask[lo : lo + hole, lo : lo + hole] = False
    c = slice(lo + hole // 3, lo + hole - hole // 3)
    rows = []
    for name, options in VARIANTS.items():
        for masked in (False, True):
            start = time.perf_counter()
            result = _fit(y, mask if masked else None, SmoothPrior(), **options)
            total = time.perf_counter() - start
            std = result.std
            std_seconds = result.info.get("std_seconds", 0.0)
            row = {
                "variant": name,
                "mask": f"{hole}x{hole} hole" if masked else "none",
                "family": result.info["covariance"],
                "fit_s": total - std_seconds,
                "std_s": std_seconds,
                "std_min": float(std.min()),
                "std_max": float(std.max()),
                "corner_over_centre": float(std[:4, :4].mean() / np.median(std[c, c])),
                "std_relative_error": result.info.get("std_relative_error", 0.0),
            }
            hole_ratio = np.median(std[c, c]) / np.median(std[mask]) if masked else None
            row["hole_over_observed"] = None if hole_ratio is None else float(hole_ratio)
            rows.append(row)
    return rows


def _masks(kind: str, shape, rng) -> np.ndarray | None:
    if kind == "none":
        return None
    mask = np.ones(shape, dtype=bool)
    if kind == "block":
        lo = shape[0] // 2 - shape[0] // 8
        mask[lo : lo + shape[0] // 4, lo : lo + shape[1] // 4] = False
    else:
        mask &= rng.random(shape) >= 0.3
    return mask


def coverage_on_prior_draws(size: int, draws: int) -> list[dict[str, Any]]:
    alpha = 400.0
    rows = []
    for kind in ("none", "block", "random 30 %"):
        for name, options in VARIANTS.items():
            torch.manual_seed(7)
            rng = np.random.default_rng(7)
            cover90, cover50 = [], []
            for _ in range(draws):
                op = ConvolutionOperator(PSF, (size, size), boundary="valid")
                truth_prior = SmoothPrior(precision=alpha, epsilon=1e-2)
                alpha_t = torch.tensor(alpha, dtype=torch.float64)
                x = truth_prior.distribution(alpha_t, op.latent_shape).sample()
                y, truth = _observe(x.numpy(), size, rng)
                mask = _masks(kind, y.shape, rng)
                result = _fit(y, mask, SmoothPrior(epsilon=1e-2), **options)
                for level, store in ((0.9, cover90), (0.5, cover50)):
                    lower, upper = result.credible_interval(level)
                    store.append(float(np.mean((truth >= lower) & (truth <= upper))))
            rows.append({
                "mask": kind,
                "variant": name,
                "family": result.info["covariance"],
                "coverage_90": float(np.mean(cover90)),
                "coverage_50": float(np.mean(cover50)),
            })
    return rows


def coverage_on_photographs(size: int, names: list[str], gibbs: bool) -> list[dict[str, Any]]:
    """The default path, the sparse prior by IVB (mean-field) and by Gibbs sampling."""
    rows = []
    fits = {"smooth, IVB (default)": {}, "sparse, IVB": {"prior": "sparse"}}
    if gibbs:
        fits["sparse, Gibbs"] = {"prior": "sparse", "method": "gibbs", "seed": 0}
    for name in names:
        rng = np.random.default_rng(1)
        y, truth = _observe(load_image(name, _latent_shape(size)[0]), size, rng)
        for label, options in fits.items():
            start = time.perf_counter()
            result = deconvolve(y, PSF, progress=False, **options)
            seconds = time.perf_counter() - start
            lower, upper = result.credible_interval(0.9)
            inside = (truth >= lower) & (truth <= upper)
            error = np.abs(result.mean - truth)
            rows.append({
                "image": name,
                "fit": label,
                "coverage_90": float(inside.mean()),
                "rmse": float(np.sqrt(np.mean(error**2))),
                "median_std": float(np.median(result.std)),
                "seconds": seconds,
            })
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    headers = list(rows[0])
    return _table(headers, [[row.get(h, "") for h in headers] for row in rows])


def main(argv=None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    size, draws = (64, 2) if args.smoke else (128, 6)
    prior_size = 32 if args.smoke else 64
    photos = ["camera"] if args.smoke else ["camera", "astronaut", "coffee", "moon", "coins"]
    holes = holes_and_frame(size)
    prior = coverage_on_prior_draws(prior_size, draws)
    photo = coverage_on_photographs(size, photos, gibbs=not args.smoke)
    default_hole = next(
        r for r in holes if r["variant"].startswith("default") and r["mask"] != "none"
    )
    summary = {
        "hole_over_observed": default_hole["hole_over_observed"],
        "std_over_fit_time": default_hole["std_s"] / default_hole["fit_s"],
        "prior_coverage_90": {r["mask"]: r["coverage_90"] for r in prior
                              if r["variant"].startswith("default")},
        "photo_coverage_90": {
            f"{r['image']} / {r['fit']}": r["coverage_90"] for r in photo
        },
    }
    body = "\n\n".join([
        "## Holes, frame, cost (camera, valid boundary, 9x9 Gaussian PSF sigma 1.5, 1 % noise)",
        markdown_table(holes),
        f"## Coverage on {draws} prior draws of {prior_size}x{prior_size} (alpha 400, sigma 0.01)",
        markdown_table(prior),
        f"## Coverage on photographs ({size}x{size})",
        markdown_table(photo),
    ])
    write_results(
        "bench_uncertainty",
        smoke=args.smoke,
        config={"size": size, "prior_size": prior_size, "draws": draws, "photos": photos},
        results={"holes": holes, "prior": prior, "photographs": photo},
        summary=summary,
        markdown_body=body,
        title="Default std map: holes, frame, coverage",
    )
    print(body)


if __name__ == "__main__":
    main()
