"""How close the IVB engine is to FFT-bound: sweep and CG-iteration costs in units of FFT pairs.

The unit is one ``rfftn`` + ``irfftn`` pair on the latent grid in float64 (the engine's dtype).
For each image size (256 and 512; the camera image, anisotropic Gaussian PSF of size 15, noise
sigma 0.01) and each boundary, ``fit_ivb(model, y, progress=False)`` is timed (median of
``--repeat`` runs after ``--warmup``) and broken down:

* ``boundary="circular"`` (Fourier family, exact posterior): a sweep is elementwise work on the
  half spectrum, no FFT at all. Reported: total fit time / sweeps, the marginal sweep cost
  ``(T(full fit) - T(max_iter=1)) / (sweeps - 1)``, the fixed cost ``T(max_iter=1)`` minus one
  sweep (set-up of the spectra plus building the result), and, measured directly, the
  construction of ``LinearGaussianSystem`` (set-up) and of one ``FourierPosterior`` (the core of
  a sweep).
* ``boundary="valid"`` (latent grid larger by 14 pixels, mean by preconditioned CG): sweeps,
  total CG iterations (``Result.info["cg_iterations"]``), the time of one CG iteration measured
  directly (``LinearGaussianSystem.cg_mean`` with ``rtol=0`` for a fixed number of iterations,
  differenced) and amortised over the fit (fit time / CG iterations). The CG keeps its vectors
  as half spectra, so the preconditioner and inner products are elementwise and one iteration
  needs exactly one FFT pair (the mask): 1 pair is the FFT-bound floor.

Run ``python benchmarks/bench_ivb_fft_bound.py [--smoke] [--threads N] [--sizes 256,512]``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    load_image,
    markdown_table,
    parse_args,
    summarise,
    time_repeated,
    write_results,
)

from bayesdeconv.infer import fit_ivb  # noqa: E402
from bayesdeconv.infer.linear_gaussian import (  # noqa: E402
    FourierPosterior,
    LinearGaussianSystem,
)
from bayesdeconv.likelihoods import GaussianNoise  # noqa: E402
from bayesdeconv.models import sites  # noqa: E402
from bayesdeconv.models.deconvolution import DeconvolutionModel  # noqa: E402
from bayesdeconv.physics import ConvolutionOperator, anisotropic_gaussian_psf  # noqa: E402
from bayesdeconv.priors import SmoothPrior  # noqa: E402

NAME = "bench_ivb_fft_bound"
NOISE_STD = 0.01
SEED = 11
CG_PROBE = 20


def factorise(n: int) -> list[int]:
    """Prime factors of ``n`` (FFT speed depends on them)."""
    factors, p = [], 2
    while p * p <= n:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    if n > 1:
        factors.append(n)
    return factors


def make_problem(size: int, boundary: str) -> tuple[DeconvolutionModel, torch.Tensor]:
    """The float64 model and observation; the scene fills the latent grid (valid: +14 px)."""
    psf = anisotropic_gaussian_psf(15, 2.5, 1.2, 0.6)
    op = ConvolutionOperator(psf, (size, size), boundary=boundary, dtype=torch.float64)
    truth = torch.as_tensor(load_image("camera", op.latent_shape[0]))
    rng = np.random.default_rng(SEED)
    y = op.forward(truth) + NOISE_STD * torch.as_tensor(rng.standard_normal((size, size)))
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=GaussianNoise())
    return model, y


def time_fft_pair(shape: tuple[int, ...], *, reps: int) -> dict[str, float | int]:
    """One ``rfftn`` + ``irfftn`` pair on ``shape`` in float64 (median over ``reps``)."""
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def pair() -> torch.Tensor:
        return torch.fft.irfftn(torch.fft.rfftn(x), s=shape)

    stats, _ = time_repeated(pair, repeat=reps, warmup=max(2, reps // 10))
    return stats


def _precisions(result) -> tuple[float, float]:
    hyper = result.hyperparameters
    return float(hyper[sites.NOISE_PRECISION].mean), float(hyper[sites.IMAGE_PRECISION].mean)


def bench_circular(size: int, args, reps: int) -> dict[str, Any]:
    """Circular boundary: fixed cost, marginal sweep cost, components, in FFT pairs."""
    model, y = make_problem(size, "circular")
    fft = time_fft_pair(model.latent_shape, reps=reps)
    full, result = time_repeated(
        lambda: fit_ivb(model, y, progress=False), repeat=args.repeat, warmup=args.warmup
    )
    one, _ = time_repeated(
        lambda: fit_ivb(model, y, max_iter=1, progress=False),
        repeat=args.repeat,
        warmup=args.warmup,
    )
    sweeps = result.n_iter
    marginal = (full["median"] - one["median"]) / max(sweeps - 1, 1)
    fixed = one["median"] - marginal
    setup, system = time_repeated(lambda: LinearGaussianSystem(model, y), repeat=reps, warmup=2)
    gamma, alpha = _precisions(result)
    posterior, _ = time_repeated(
        lambda: FourierPosterior(system, gamma, alpha), repeat=reps, warmup=2
    )
    pair = fft["median"]
    return {
        "size": size,
        "boundary": "circular",
        "latent_shape": list(model.latent_shape),
        "latent_side_factors": factorise(model.latent_shape[0]),
        "fft_pair": fft,
        "fit": full,
        "fit_one_sweep": one,
        "sweeps": sweeps,
        "converged": bool(result.converged),
        "time_per_sweep_total": full["median"] / sweeps,
        "time_per_sweep_marginal": marginal,
        "fixed_cost": fixed,
        "system_setup": setup,
        "fourier_posterior": posterior,
        "in_fft_pairs": {
            "fit": full["median"] / pair,
            "per_sweep_total": full["median"] / sweeps / pair,
            "per_sweep_marginal": marginal / pair,
            "fixed_cost": fixed / pair,
            "system_setup": setup["median"] / pair,
            "fourier_posterior": posterior["median"] / pair,
        },
    }


def time_cg_iteration(model, y, result, *, repeat: int) -> dict[str, float | int]:
    """Time of one CG iteration: ``cg_mean`` with ``rtol=0`` for ``CG_PROBE`` versus 1 iteration."""
    system = LinearGaussianSystem(model, y)
    gamma, alpha = _precisions(result)
    x0 = torch.zeros(model.latent_shape, dtype=torch.float64)  # far from converged
    per_iteration = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        system.cg_mean(gamma, alpha, x0, rtol=0.0, max_iter=1)
        t_one = time.perf_counter() - start
        start = time.perf_counter()
        system.cg_mean(gamma, alpha, x0, rtol=0.0, max_iter=CG_PROBE)
        t_many = time.perf_counter() - start
        per_iteration.append((t_many - t_one) / (CG_PROBE - 1))
    return summarise(per_iteration[1:])  # the first pair is a warm-up


def bench_valid(size: int, args, reps: int) -> dict[str, Any]:
    """Valid boundary: sweeps, CG iterations, per-iteration cost against FFT pairs."""
    model, y = make_problem(size, "valid")
    fft = time_fft_pair(model.latent_shape, reps=reps)
    # the fit alone: the sampled std map (std="auto") is measured in bench_uncertainty.py
    full, result = time_repeated(
        lambda: fit_ivb(model, y, std="family", progress=False),
        repeat=args.repeat,
        warmup=args.warmup,
    )
    cg = [int(n) for n in result.info["cg_iterations"]]
    cg_total = sum(cg)
    per_cg = time_cg_iteration(model, y, result, repeat=max(args.repeat, 3))
    pair = fft["median"]
    amortised = full["median"] / max(cg_total, 1)
    return {
        "size": size,
        "boundary": "valid",
        "latent_shape": list(model.latent_shape),
        "latent_side_factors": factorise(model.latent_shape[0]),
        "fft_pair": fft,
        "fit": full,
        "sweeps": result.n_iter,
        "converged": bool(result.converged),
        "cg_iterations_total": cg_total,
        "cg_iterations_per_sweep": cg,
        "cg_iterations_per_sweep_median": statistics.median(cg) if cg else 0,
        "cg_iteration": per_cg,
        "cg_iteration_amortised": amortised,
        "cg_share_of_fit": cg_total * per_cg["median"] / full["median"],
        "in_fft_pairs": {
            "fit": full["median"] / pair,
            "cg_iteration": per_cg["median"] / pair,
            "cg_iteration_amortised": amortised / pair,
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the result files."""

    def options(parser) -> None:
        parser.add_argument(
            "--sizes", default=None, help="comma-separated image sides (default 256,512)"
        )

    args = parse_args(__doc__.splitlines()[0], argv, options)
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = [32] if args.smoke else [256, 512]
    reps = 5 if args.smoke else 50
    circular, valid = [], []
    for size in sizes:
        row = bench_circular(size, args, reps)
        circular.append(row)
        print(
            f"circular {size}: fit {row['fit']['median'] * 1e3:.1f} ms, {row['sweeps']} sweeps, "
            f"marginal sweep {row['in_fft_pairs']['per_sweep_marginal']:.2f} FFT pairs, "
            f"fixed {row['in_fft_pairs']['fixed_cost']:.1f} pairs "
            f"(pair {row['fft_pair']['median'] * 1e3:.2f} ms)",
            flush=True,
        )
        row = bench_valid(size, args, reps)
        valid.append(row)
        print(
            f"valid {size}: fit {row['fit']['median']:.2f} s, {row['sweeps']} sweeps, "
            f"{row['cg_iterations_total']} CG its, CG it "
            f"{row['in_fft_pairs']['cg_iteration']:.2f} FFT pairs "
            f"(pair {row['fft_pair']['median'] * 1e3:.2f} ms)",
            flush=True,
        )

    summary = {
        "circular": {
            str(r["size"]): {
                "sweeps": r["sweeps"],
                "per_sweep_marginal_fft_pairs": r["in_fft_pairs"]["per_sweep_marginal"],
                "fixed_cost_fft_pairs": r["in_fft_pairs"]["fixed_cost"],
                "fit_fft_pairs": r["in_fft_pairs"]["fit"],
            }
            for r in circular
        },
        "valid": {
            str(r["size"]): {
                "sweeps": r["sweeps"],
                "cg_iterations_total": r["cg_iterations_total"],
                "cg_iteration_fft_pairs": r["in_fft_pairs"]["cg_iteration"],
                "cg_share_of_fit": r["cg_share_of_fit"],
            }
            for r in valid
        },
    }
    config = {
        "sizes": sizes,
        "dtype": "float64",
        "psf": {"size": 15, "sigma_x": 2.5, "sigma_y": 1.2, "theta": 0.6},
        "noise_std": NOISE_STD,
        "fit_call": "fit_ivb(model, y, progress=False); valid: std='family' (the fit alone)",
        "repeat": args.repeat,
        "warmup": args.warmup,
        "component_reps": reps,
        "cg_probe_iterations": CG_PROBE,
    }

    def ms(stats) -> str:
        return f"{stats['median'] * 1e3:.2f} [{stats['min'] * 1e3:.2f}, {stats['max'] * 1e3:.2f}]"

    circ_table = markdown_table(
        [
            "size",
            "FFT pair ms",
            "fit ms",
            "sweeps",
            "fit / sweeps (pairs)",
            "marginal sweep (pairs)",
            "fixed cost (pairs)",
            "system set-up (pairs)",
            "FourierPosterior (pairs)",
        ],
        [
            [
                r["size"],
                ms(r["fft_pair"]),
                ms(r["fit"]),
                r["sweeps"],
                r["in_fft_pairs"]["per_sweep_total"],
                r["in_fft_pairs"]["per_sweep_marginal"],
                r["in_fft_pairs"]["fixed_cost"],
                r["in_fft_pairs"]["system_setup"],
                r["in_fft_pairs"]["fourier_posterior"],
            ]
            for r in circular
        ],
    )
    valid_table = markdown_table(
        [
            "size (latent)",
            "FFT pair ms",
            "fit s",
            "sweeps",
            "CG its",
            "CG it ms",
            "CG it (pairs)",
            "fit / CG its (pairs)",
            "CG share of fit",
        ],
        [
            [
                f"{r['size']} ({r['latent_shape'][0]} = "
                f"{'·'.join(map(str, r['latent_side_factors']))})",
                ms(r["fft_pair"]),
                r["fit"]["median"],
                r["sweeps"],
                r["cg_iterations_total"],
                ms(r["cg_iteration"]),
                r["in_fft_pairs"]["cg_iteration"],
                r["in_fft_pairs"]["cg_iteration_amortised"],
                r["cg_share_of_fit"],
            ]
            for r in valid
        ],
    )
    body = f"""
Unit: one float64 `rfftn` + `irfftn` pair on the latent grid (median of {reps}). Fits:
`fit_ivb(model, y, progress=False)`, median [min, max] of {args.repeat} run(s) after
{args.warmup} warm-up run(s). Camera image, anisotropic Gaussian PSF (size 15), noise sigma
{NOISE_STD}.

## Circular boundary (Fourier family: sweeps are FFT-free)

{circ_table}

*marginal sweep* = (T(fit) - T(max_iter=1)) / (sweeps - 1); *fixed cost* = T(max_iter=1) minus
one sweep (spectra set-up, initial estimates, building the Result); *system set-up* and
*FourierPosterior* are the two pieces timed on their own.

## Valid boundary (preconditioned CG for the mean)

{valid_table}

A CG iteration needs one FFT pair (the mask is the only step that is not diagonal in Fourier
space), so "CG it (pairs)" = 1 would be FFT-bound. *CG share of fit* = CG iterations x
per-iteration time / fit time (the rest is set-up and the per-sweep ELBO statistics).
"""
    json_path, md_path = write_results(
        NAME,
        smoke=args.smoke,
        config=config,
        results={"circular": circular, "valid": valid},
        summary=summary,
        markdown_body=body,
        title="IVB sweep cost in FFT pairs",
    )
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
