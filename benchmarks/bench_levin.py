"""Blind deconvolution on the Levin et al. (CVPR 2009) benchmark: 4 images x 8 camera-shake kernels.

For every case and engine:

1. blind estimate of the PSF with ``deconvolve(blurred, psf=None, psf_size=s, prior="sparse",
   method=..., boundary="valid")``, with ``s`` the true kernel size plus 4 (the kernels sit a few
   pixels off their array centre);
2. final image: our non-blind deconvolution with the estimated PSF
   (``deconvolve(blurred, psf_est, prior="sparse")``, sparse-gradient IVB, valid boundary);
3. reference: the same non-blind deconvolution with the true kernel (``LevinCase.psf``, i.e. the
   stored correlation kernel rotated by 180 degrees).

Scoring (``bayesdeconv.diagnostics.levin``): crop 15 pixels, best sub-pixel shift, PSNR (peak 1)
and SSIM against the sharp image; error ratio = SSD(final) / SSD(reference); success = error
ratio <= 3. Wall time covers steps 1 and 2.

Every blind engine starts from the same kernel, found once per case by
``bayesdeconv.infer.blind.search_start`` (the best of a few L0-gradient kernel searches by the
non-blind ELBO); its time is added to every engine's. Engines: ``l0-search`` (that kernel alone,
no variational refinement), ``ivb-full``/``ivb-diag`` (closed-form IVB; ``ivb-full-60`` with
60 sweeps instead of the default 30), ``ivb-vadam-psf`` (IVB
with Vadam steps for q(k), the seed's hybrid), ``ivb-full-pyramid`` (IVB's own coarse-to-fine
sweeps instead of the search, the previous default), ``svi-mean-field`` (Pyro SVI, 3000 steps)
and ``vadam`` (fit_vadam on all sites, 3000 steps).

With ``--auto-size`` the PSF support is not given: it is estimated once per case by
``bayesdeconv.infer.kernel_size.estimate_psf_size`` (what ``deconvolve(psf_size=None)`` does),
the search and the engines run on it, and the estimate's seconds are added to every
engine's time like the search's; engines with their own start get ``psf_size=None``. The
support used is in every row (``psf_size``, next to ``psf_size_true``, true size + 4).

Run ``python benchmarks/bench_levin.py [--smoke] [--threads N] [--jobs N] [--auto-size]
[--engines ivb-full,ivb-diag] [--cases 1-1,2-4] [--save-psfs DIR]``; ``--jobs 2 --threads 1``
runs two cases at a time on a 2-core machine. An engine name followed by ``@S`` (e.g.
``ivb-full@0.04``) runs that engine with ``priors.sparse(scale=S)`` for its blind stage
instead of the default ``"sparse"`` (scale ``BLIND_SPARSE_SCALE``); the shared start is
searched once, as for every engine.
"""

from __future__ import annotations

import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import levin  # noqa: E402
from _common import markdown_table, parse_args, write_results  # noqa: E402

from bayesdeconv import deconvolve, priors  # noqa: E402
from bayesdeconv.api import image_prior  # noqa: E402
from bayesdeconv.diagnostics import levin as scoring  # noqa: E402
from bayesdeconv.infer.blind import search_start  # noqa: E402
from bayesdeconv.infer.kernel_size import estimate_psf_size  # noqa: E402
from bayesdeconv.likelihoods import GaussianNoise  # noqa: E402
from bayesdeconv.models.deconvolution import DeconvolutionModel  # noqa: E402
from bayesdeconv.physics.convolution import ConvolutionOperator  # noqa: E402
from bayesdeconv.priors import BLIND_SPARSE_SCALE  # noqa: E402
from bayesdeconv.psf_priors import ARDPSFPrior  # noqa: E402

NAME = "bench_levin"
ENGINES = {
    "l0-search": {},
    "ivb-full": {"method": "ivb", "psf_covariance": "full"},
    "ivb-full-60": {"method": "ivb", "psf_covariance": "full", "steps": 60},
    "ivb-diag": {"method": "ivb", "psf_covariance": "diagonal"},
    "ivb-full-pyramid": {"method": "ivb", "psf_covariance": "full", "psf_init": "pyramid"},
    "ivb-vadam-psf": {"method": "ivb", "psf_covariance": "diagonal", "psf_update": "vadam"},
    "svi-mean-field": {"method": "svi", "guide": "mean-field"},
    "vadam": {"method": "vadam"},
}
MARGIN = 4
SCALE_MARK = "@"  # "ivb-full@0.04": the engine with the sparse prior at gradient scale 0.04
BLIND_PRIOR = "sparse"  # the natural-image preset; "piecewise" gave worse kernels here
TARGET_PSNR, TARGET_SUCCESS, TARGET_SECONDS = 33.0, 0.9, 120.0


def _options(parser) -> None:
    parser.add_argument(
        "--engines", default="ivb-full", help="comma-separated: " + ",".join(ENGINES)
    )
    parser.add_argument(
        "--cases", default="", help="comma-separated image-kernel pairs, e.g. 1-4,2-8"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="cases run in parallel worker processes"
    )
    parser.add_argument(
        "--refine-start",
        action="store_true",
        help="refine the winning search kernel (search_start(refine=True)) before the engines",
    )
    parser.add_argument(
        "--save-psfs",
        default="",
        metavar="DIR",
        help="also write every estimated PSF to DIR/<case>_<engine>.npy (not a results file)",
    )
    parser.add_argument(
        "--auto-size",
        action="store_true",
        help="estimate the PSF support (psf_size=None) instead of the true size + 4",
    )
    parser.add_argument(
        "--tag", default="", help="results go to bench_levin_<tag>.{json,md} (default: no tag)"
    )


def _split_engine(engine: str) -> tuple[str, float | None]:
    """``"ivb-full@0.04"`` -> ``("ivb-full", 0.04)``; no mark -> the default blind prior."""
    name, mark, scale = engine.partition(SCALE_MARK)
    if not mark:
        return name, None
    try:
        value = float(scale)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise SystemExit(f"engine {engine!r}: the gradient scale after @ must be positive")
    return name, value


def _cases(spec: str, smoke: bool) -> list[levin.LevinCase]:
    if smoke:
        case = levin.load_case(1, 5)
        crop = slice(80, 176)  # 96 x 96 from the centre, kernel 5 is 13 x 13
        return [
            levin.LevinCase(
                case.image_index,
                case.kernel_index,
                case.sharp[crop, crop],
                case.blurred[crop, crop],
                case.kernel,
            )
        ]
    if not spec:
        return levin.load_all()
    pairs = [tuple(int(v) for v in item.split("-")) for item in spec.split(",")]
    return [levin.load_case(i, j) for i, j in pairs]


def search(
    case: levin.LevinCase, refine: bool = False, auto_size: bool = False
) -> tuple[np.ndarray, float]:
    """The engines' shared start: ``search_start`` on the blind model, and its seconds (with
    ``auto_size``, those of estimating the support too)."""
    start = time.perf_counter()
    size = estimate_psf_size(case.blurred)[0] if auto_size else case.kernel.shape[0] + MARGIN
    model = DeconvolutionModel(
        ConvolutionOperator(
            np.full((size, size), 1.0 / size**2), case.blurred.shape, boundary="valid"
        ),
        prior=image_prior(BLIND_PRIOR, blind=True),  # what the engines get by name
        noise=GaussianNoise(),
        psf_prior=ARDPSFPrior((size, size)),
    )
    kernel, _ = search_start(model, case.blurred, refine=refine)
    return kernel, time.perf_counter() - start


def run_case(
    case: levin.LevinCase,
    engine: str,
    reference: np.ndarray,
    smoke: bool,
    start: tuple[np.ndarray, float],
    auto_size: bool = False,
) -> tuple[dict, np.ndarray]:
    """One engine on one case: its scores and its PSF. Engines that start from the search get
    ``start`` (the kernel and the seconds it took, which are added to the engine's time); with
    ``auto_size`` they take the support from that kernel, the others estimate it."""
    true_size = case.kernel.shape[0] + MARGIN
    size = None if auto_size else true_size
    name, scale = _split_engine(engine)
    options = dict(ENGINES[name])
    prior = BLIND_PRIOR if scale is None else priors.sparse(scale=scale)
    if smoke and options:
        options["steps"] = 3 if options["method"] == "ivb" else 50
    if name == "vadam" and not smoke:
        options["steps"] = 3000
    searched = "psf_init" not in options
    if searched:
        options["psf_init"] = start[0]
    begin = time.perf_counter()
    with warnings.catch_warnings():  # estimated PSFs are often off-centre; scoring aligns
        warnings.simplefilter("ignore", UserWarning)
        if name == "l0-search":
            psf, blind_psnr, sweeps, used = start[0], float("nan"), 0, start[0].shape[0]
        else:
            blind = deconvolve(
                case.blurred, psf_size=size, prior=prior, progress=False, seed=0, **options
            )
            psf, sweeps, used = blind.psf, blind.n_iter, blind.info["psf_size"][0]
            blind_psnr = scoring.score(blind.mean, case.sharp)["psnr"]
        final = deconvolve(case.blurred, psf, prior="sparse", progress=False)
    seconds = time.perf_counter() - begin + (start[1] if searched else 0.0)
    scores = scoring.score(final.mean, case.sharp)
    return {
        "case": case.name,
        "engine": engine,
        "psnr": scores["psnr"],
        "ssim": scores["ssim"],
        "error_ratio": scoring.error_ratio(final.mean, reference, case.sharp),
        "psnr_blind_mean": blind_psnr,
        "kernel_ncc": scoring.kernel_ncc(psf, case.psf),
        "seconds": seconds,
        "iterations": sweeps,
        "psf_size": int(used),
        "psf_size_true": true_size,
    }, psf


def _run_all_engines(
    case: levin.LevinCase,
    engines: list[str],
    smoke: bool,
    threads: int | None,
    refine_start: bool = False,
    save_psfs: str = "",
    auto_size: bool = False,
) -> tuple[dict, list[dict]]:
    """The reference and every engine on one case (one worker process)."""
    if threads is not None:
        torch.set_num_threads(threads)
    ref = deconvolve(case.blurred, case.psf, prior="sparse", progress=False)
    ref_score = scoring.score(ref.mean, case.sharp)
    searched = any(ENGINES[_split_engine(e)[0]].get("psf_init") is None for e in engines)
    start = search(case, refine_start, auto_size) if searched else None
    rows = []
    for engine in engines:
        row, psf = run_case(case, engine, ref.mean, smoke, start, auto_size)
        if save_psfs:
            np.save(Path(save_psfs) / f"{case.name}_{engine}.npy", psf)
        row["psnr_reference"] = ref_score["psnr"]
        rows.append(row)
        print(
            f"{row['case']:>7} {engine:>14}: PSNR {row['psnr']:.2f} dB "
            f"(true kernel {ref_score['psnr']:.2f}), ratio {row['error_ratio']:.2f}, "
            f"{row['seconds']:.1f} s, support {row['psf_size']} (true + {MARGIN}: "
            f"{row['psf_size_true']})",
            flush=True,
        )
    return {"psnr": ref_score["psnr"], "ssim": ref_score["ssim"]}, rows


def main(argv=None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv, extra=_options)
    engines = [e for e in args.engines.split(",") if e]
    unknown = {_split_engine(e)[0] for e in engines} - set(ENGINES)
    if unknown:
        raise SystemExit(f"unknown engine(s) {sorted(unknown)}; choose from {list(ENGINES)}")
    cases = _cases(args.cases, args.smoke)
    rows, references = [], {}
    if args.save_psfs:
        Path(args.save_psfs).mkdir(parents=True, exist_ok=True)
    jobs = [
        (case, engines, args.smoke, args.threads, args.refine_start, args.save_psfs, args.auto_size)
        for case in cases
    ]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            outcomes = list(pool.map(_run_all_engines, *zip(*jobs, strict=True)))
    else:
        outcomes = [_run_all_engines(*job) for job in jobs]
    for case, (ref_score, case_rows) in zip(cases, outcomes, strict=True):
        references[case.name] = ref_score
        rows.extend(case_rows)
    summary = {
        engine: scoring.summarise([r for r in rows if r["engine"] == engine]) for engine in engines
    }
    summary["reference_psnr_mean"] = float(np.mean([r["psnr"] for r in references.values()]))
    table = markdown_table(
        [
            "engine",
            "n",
            "mean PSNR",
            "mean SSIM",
            "success (ratio <= 3)",
            "median ratio",
            "geo-mean ratio",
            "mean s",
        ],
        [
            [
                e,
                s["n"],
                f"{s['psnr_mean']:.2f}",
                f"{s['ssim_mean']:.3f}",
                f"{100 * s['success_rate']:.0f} %",
                f"{s['error_ratio_median']:.2f}",
                f"{s['error_ratio_gmean']:.3f}",
                f"{s['seconds_mean']:.1f}",
            ]
            for e, s in summary.items()
            if isinstance(s, dict)
        ],
    )
    per_case = markdown_table(
        [
            "case",
            "engine",
            "PSNR",
            "true-kernel PSNR",
            "SSIM",
            "error ratio",
            "kernel NCC",
            "support",
            f"true + {MARGIN}",
            "s",
        ],
        [
            [
                r["case"],
                r["engine"],
                f"{r['psnr']:.2f}",
                f"{r['psnr_reference']:.2f}",
                f"{r['ssim']:.3f}",
                f"{r['error_ratio']:.2f}",
                f"{r['kernel_ncc']:.3f}",
                r["psf_size"],
                r["psf_size_true"],
                f"{r['seconds']:.1f}",
            ]
            for r in rows
        ],
    )
    support = (
        "estimated (estimate_psf_size; its time counted)"
        if args.auto_size
        else f"true size + {MARGIN}"
    )
    body = f"""
Blind PSF estimation (prior "{BLIND_PRIOR}", gradient scale {BLIND_SPARSE_SCALE} unless the engine
says @scale, PSF support = {support}, valid boundary,
started from the L0-gradient kernel search{" with its winner refined" if args.refine_start else ""}
unless the engine says otherwise), then non-blind
sparse-gradient IVB with the estimate. Reference: the same
non-blind deconvolution with the true kernel (mean PSNR {summary["reference_psnr_mean"]:.2f} dB).
Scores after a 15-pixel crop and the best sub-pixel shift. Targets for the best engine: mean PSNR
>= {TARGET_PSNR} dB, success >= {100 * TARGET_SUCCESS:.0f} %, <= {TARGET_SECONDS:.0f} s per image.

{table}

Per case:

{per_case}
"""
    config = {
        "engines": engines,
        "cases": [c.name for c in cases],
        "margin": MARGIN,
        "blind_prior": BLIND_PRIOR,
        "jobs": args.jobs,
        "threads": args.threads,
        "refine_start": args.refine_start,
        "auto_size": args.auto_size,
    }
    json_path, md_path = write_results(
        f"{NAME}_{args.tag}" if args.tag else NAME,
        smoke=args.smoke,
        config=config,
        results=rows,
        summary=summary,
        markdown_body=body,
        title="Blind deconvolution on the Levin et al. 2009 benchmark",
    )
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
