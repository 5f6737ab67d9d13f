"""Deep image priors on the Levin et al. (CVPR 2009) set, with the kernel size estimated.

For every case: the PSF support is estimated once (``psf_size=None``'s estimator; its time is
added to every engine), then each engine estimates the kernel blind:

* ``ivb``: our pipeline (sparse prior, L0 kernel-search start, closed-form IVB);
* ``selfdeblur``: ``prior="dip", method="map"`` (SelfDeblur: generated image and kernel);
* ``vdip-sparse``, ``vdip-extreme``: the variational DIP with the sparse or the
  extreme-channel prior (SVI with the network guide).

The deep image priors run with the package's default on the device (the CPU preset on a CPU,
the published network and schedule on a GPU; ``--preset published`` forces the published one),
once per seed (``--seeds``, default 2); the ``@best`` rows keep, per case, the seed with the
better final objective (what ``restarts=2`` returns). As in ``bench_levin.py`` the final image
is our non-blind sparse IVB with the estimated kernel, scored against the sharp image
(15-pixel crop, best sub-pixel shift); error ratio = SSD(final) / SSD(same deconvolution with
the true kernel), success = ratio <= 3. ``psnr_own`` scores each engine's own image (the DIP's
generated image, the mean of q(x)). The seed spread is the mean over cases of the absolute
PSNR difference between the seeds.

Run ``python benchmarks/bench_dip.py [--smoke] [--jobs 2 --threads 1] [--cases 1-1,2-3]
[--engines ...] [--device cuda] [--true-size] [--resume]``. ``--resume`` keeps the runs of the
results file an interrupted run with the same settings left (those whose estimated support is
still the one estimated now) and runs only the missing ones.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, parse_args, read_results, write_results  # noqa: E402
from bench_levin import _cases  # noqa: E402

from bayesdeconv import deconvolve  # noqa: E402
from bayesdeconv.diagnostics import levin as scoring  # noqa: E402
from bayesdeconv.infer.kernel_size import estimate_psf_size  # noqa: E402
from bayesdeconv.priors import DeepImagePrior, DIPSchedule, GeneratorShape  # noqa: E402

NAME = "bench_dip"
CPU_CASES = "1-1,2-3,3-5,4-7"
ENGINES = ("ivb", "selfdeblur", "vdip-sparse", "vdip-extreme")
DIP_ENGINES = ("selfdeblur", "vdip-sparse", "vdip-extreme")
SMOKE_NETWORK = GeneratorShape(width=4, depth=2, skip=2, input_channels=2)
SMOKE_SCHEDULE = DIPSchedule(steps=20, milestones=(10,), ssim_after=10, pretrain=4)


def _options(parser) -> None:
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--cases", default="", help=f"e.g. 1-1,2-3 (default {CPU_CASES})")
    parser.add_argument("--all", action="store_true", help="all 32 cases (a GPU run)")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--seeds", type=int, default=2, help="seeds per DIP engine")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", choices=("device", "published"), default="device")
    parser.add_argument("--true-size", action="store_true", help="true size + 4, not estimated")
    parser.add_argument("--tag", default="", help="results file suffix")
    parser.add_argument("--resume", action="store_true", help="keep the runs already written")


_SETTINGS = ("device", "preset", "true_size")


def _previous_rows(args) -> list[dict]:
    """The runs an earlier, interrupted run with the same settings wrote (``--resume``)."""
    if not args.resume:
        return []
    payload = read_results(NAME + (f"_{args.tag}" if args.tag else ""), smoke=args.smoke)
    if payload is None:
        return []
    config = payload["config"]
    differs = [k for k in _SETTINGS if config.get(k) != getattr(args, k)]
    if differs:
        raise SystemExit(f"--resume: the results file was written with other {differs}")
    engines = set(args.engines.split(","))
    rows = [r for r in payload["results"]
            if r["engine"] in engines and r["seed"] < args.seeds]  # fmt: skip
    for row in rows:  # the results file writes non-finite numbers as strings ("nan")
        for key, value in row.items():
            if value in ("nan", "inf", "-inf"):
                row[key] = float(value)
    return rows


def _prior(engine: str, smoke: bool, preset: str):
    """The image prior of a DIP engine: a registry name, or an instance for a preset."""
    if engine == "selfdeblur":
        if smoke:
            return DeepImagePrior(SMOKE_NETWORK, SMOKE_SCHEDULE)
        return DeepImagePrior.published() if preset == "published" else "dip"
    if not smoke and preset == "device":
        return engine
    from bayesdeconv.api import image_prior
    from bayesdeconv.priors import VariationalDIP
    from bayesdeconv.priors.dip import PUBLISHED_NETWORK, VDIP_SCHEDULE

    base = image_prior({"vdip-sparse": "sparse", "vdip-extreme": "extreme-channel"}[engine],
                       blind=True)  # fmt: skip
    if smoke:
        return VariationalDIP(base, SMOKE_NETWORK, SMOKE_SCHEDULE)
    return VariationalDIP(base, PUBLISHED_NETWORK, VDIP_SCHEDULE)


def _blind(case, engine, size, seed, smoke, preset, device):
    if engine == "ivb":
        steps = {"steps": 3} if smoke else {}
        return deconvolve(case.blurred, psf_size=size, prior="sparse", method="ivb",
                          progress=False, seed=0, **steps)  # fmt: skip
    method = "map" if engine == "selfdeblur" else "svi"
    return deconvolve(case.blurred, psf_size=size, prior=_prior(engine, smoke, preset),
                      method=method, seed=seed, device=device, progress=False)  # fmt: skip


def _prepare(case, threads, true_size):
    """The true-kernel reference and the estimated support of one case."""
    if threads is not None:
        torch.set_num_threads(threads)
    ref = deconvolve(case.blurred, case.psf, prior="sparse", progress=False)
    begin = time.perf_counter()
    if true_size:
        size = (case.kernel.shape[0] + 4,) * 2
    else:
        size = estimate_psf_size(case.blurred)
    return ref.mean, scoring.score(ref.mean, case.sharp)["psnr"], size, time.perf_counter() - begin


def _run_one(case, engine, seed, prepared, smoke, threads, preset, device) -> dict:
    """One engine and seed on one case (one task of a worker process)."""
    if threads is not None:
        torch.set_num_threads(threads)
    ref_mean, ref_psnr, size, size_seconds = prepared
    begin = time.perf_counter()
    with warnings.catch_warnings():  # off-centre kernels: scoring aligns
        warnings.simplefilter("ignore", UserWarning)
        blind = _blind(case, engine, size, seed, smoke, preset, device)
        psf = np.asarray(blind.psf, dtype=np.float64)
        psf = psf / psf.sum()
        final = deconvolve(case.blurred, psf, prior="sparse", progress=False)
    seconds = time.perf_counter() - begin + size_seconds
    scores = scoring.score(final.mean, case.sharp)
    runs = blind.info.get("restarts") or [{"objective": float("nan")}]
    row = {
        "case": case.name,
        "engine": engine,
        "seed": seed,
        "psf_size": size[0],
        "true_size": case.kernel.shape[0],
        "psnr": scores["psnr"],
        "ssim": scores["ssim"],
        "error_ratio": scoring.error_ratio(final.mean, ref_mean, case.sharp),
        "psnr_own": scoring.score(blind.mean, case.sharp)["psnr"],
        "kernel_ncc": scoring.kernel_ncc(psf, case.psf),
        "objective": runs[0]["objective"],
        "seconds": seconds,
        "psnr_reference": ref_psnr,
    }
    print(
        f"{case.name:>7} {engine:>12} seed {seed}: PSNR {row['psnr']:.2f} (own "
        f"{row['psnr_own']:.2f}, true kernel {ref_psnr:.2f}), ratio "
        f"{row['error_ratio']:.2f}, size {size[0]}, {seconds:.0f} s",
        flush=True,
    )
    return row


def _best_rows(rows: list[dict]) -> list[dict]:
    """Per case and DIP engine, the seed with the better final objective (``@best``)."""
    best = {}
    for row in rows:
        if row["engine"] not in DIP_ENGINES:
            continue
        key = (row["case"], row["engine"])
        if key not in best or row["objective"] > best[key]["objective"]:
            best[key] = row
    return [{**row, "engine": row["engine"] + "@best"} for row in best.values()]


def _summary(rows: list[dict]) -> dict:
    out = {}
    for engine in dict.fromkeys(r["engine"] for r in rows):
        mine = [r for r in rows if r["engine"] == engine]
        ratios = [r["error_ratio"] for r in mine]
        spread = []
        for case in dict.fromkeys(r["case"] for r in mine):
            values = [r["psnr"] for r in mine if r["case"] == case]
            if len(values) > 1:
                spread.append(max(values) - min(values))
        out[engine] = {
            "n": len(mine),
            "psnr_mean": float(np.mean([r["psnr"] for r in mine])),
            "psnr_own_mean": float(np.mean([r["psnr_own"] for r in mine])),
            "ssim_mean": float(np.mean([r["ssim"] for r in mine])),
            "success": float(np.mean([r <= 3 for r in ratios])),
            "error_ratio_geomean": float(math.exp(np.mean(np.log(ratios)))),
            "seed_spread_db": float(np.mean(spread)) if spread else None,
            "seconds_mean": float(np.mean([r["seconds"] for r in mine])),
        }
    return out


def _write(args, cases, engines, rows, done) -> None:
    """Write the results of the cases finished so far (rewritten after every case)."""
    rows = list(rows)
    rows += _best_rows(rows)
    per_engine = _summary(rows)
    ivb = per_engine.get("ivb")
    vdip = [per_engine[e] for e in ("vdip-sparse@best", "vdip-extreme@best") if e in per_engine]
    summary = {
        "engines": per_engine,
        "vdip_at_least_ivb": None if not (ivb and vdip) else any(
            v["error_ratio_geomean"] <= ivb["error_ratio_geomean"]
            and v["success"] >= ivb["success"] for v in vdip
        ),
        "vdip_spread_below_selfdeblur": None,
    }  # fmt: skip
    sd = per_engine.get("selfdeblur", {}).get("seed_spread_db")
    spreads = [per_engine[e]["seed_spread_db"] for e in ("vdip-sparse", "vdip-extreme")
               if e in per_engine and per_engine[e]["seed_spread_db"] is not None]  # fmt: skip
    if sd is not None and spreads:
        summary["vdip_spread_below_selfdeblur"] = min(spreads) < sd
    table = markdown_table(
        ["engine", "n", "PSNR (final)", "PSNR (own image)", "SSIM", "success",
         "geo-mean ratio", "seed spread dB", "mean s"],
        [[e, s["n"], f"{s['psnr_mean']:.2f}", f"{s['psnr_own_mean']:.2f}",
          f"{s['ssim_mean']:.3f}", f"{100 * s['success']:.0f} %",
          f"{s['error_ratio_geomean']:.2f}",
          "—" if s["seed_spread_db"] is None else f"{s['seed_spread_db']:.2f}",
          f"{s['seconds_mean']:.0f}"] for e, s in per_engine.items()],
    )  # fmt: skip
    per_case = markdown_table(
        ["case", "engine", "seed", "size (true)", "PSNR", "own", "ratio", "NCC", "objective",
         "s"],
        [[r["case"], r["engine"], r["seed"], f"{r['psf_size']} ({r['true_size']})",
          f"{r['psnr']:.2f}", f"{r['psnr_own']:.2f}", f"{r['error_ratio']:.2f}",
          f"{r['kernel_ncc']:.3f}", f"{r['objective']:.6g}", f"{r['seconds']:.0f}"]
         for r in rows],
    )  # fmt: skip
    size_note = "true size + 4" if args.true_size else "estimated (`psf_size=None`)"
    size_note += (
        f"; {len(rows)} runs; cases finished: {len(done)} of {len(cases)} "
        f"({', '.join(done) or 'none'})"
    )
    body = (
        f"Kernel support: {size_note}. Device: {args.device}, preset: {args.preset}, "
        f"seeds per DIP engine: {args.seeds}. Final image: non-blind sparse IVB with the "
        "estimated kernel; `own image` scores the engine's own image. Targets: a VDIP "
        "engine at least as good as `ivb` (geo-mean ratio and success); VDIP seed spread "
        "below SelfDeblur's.\n\n"
        f"{table}\n\nTarget VDIP ≥ IVB met: {summary['vdip_at_least_ivb']}; "
        f"VDIP spread below SelfDeblur: {summary['vdip_spread_below_selfdeblur']}.\n\n"
        f"Per case:\n\n{per_case}\n"
    )
    tag = f"_{args.tag}" if args.tag else ""
    write_results(
        NAME + tag,
        smoke=args.smoke,
        config={"cases": [c.name for c in cases], "finished": done, "engines": engines,
                "seeds": args.seeds, "device": args.device, "preset": args.preset,
                "true_size": args.true_size},
        results=rows,
        summary=summary,
        markdown_body=body,
        title="Deep image priors on the Levin set (SelfDeblur, VDIP) against IVB",
    )  # fmt: skip


def engine_list(text: str) -> list[str]:
    """The engines of a comma-separated ``--engines`` value (a clear exit on unknown ones)."""
    engines = [e for e in text.split(",") if e]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise SystemExit(f"unknown engine(s) {sorted(unknown)}; choose from {list(ENGINES)}")
    return engines


def make_tasks(cases, engines: list[str], seeds: int) -> list[tuple]:
    """``(case, engine, seed)`` case by case, every engine's first seed before the second (a
    run cut short still has whole cases); IVB is deterministic and runs once."""
    return [(case, engine, seed) for case in cases for seed in range(seeds)
            for engine in engines if seed == 0 or engine in DIP_ENGINES]  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv, extra=_options)
    engines = engine_list(args.engines)
    cases = _cases("" if args.all else args.cases or CPU_CASES, args.smoke)
    tasks = make_tasks(cases, engines, args.seeds)
    rows = [r for r in _previous_rows(args) if r["case"] in {c.name for c in cases}]
    common = (args.smoke, args.threads, args.preset, args.device)
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        prepared = {
            case.name: pool.submit(_prepare, case, args.threads, args.true_size) for case in cases
        }
        prepared = {name: future.result() for name, future in prepared.items()}
        # a kept run counts only if it used the support estimated now (the estimator may
        # have changed since); the others run again
        rows = [r for r in rows if r["psf_size"] == prepared[r["case"]][2][0]]
        finished = {(r["case"], r["engine"], r["seed"]) for r in rows}
        tasks = [t for t in tasks if (t[0].name, t[1], t[2]) not in finished]
        left = {case.name: sum(1 for t in tasks if t[0] is case) for case in cases}
        done = [name for name, n in left.items() if n == 0]
        if rows:
            _write(args, cases, engines, rows, done)
        futures = {
            pool.submit(_run_one, case, engine, seed, prepared[case.name], *common): case.name
            for case, engine, seed in tasks
        }
        for future in as_completed(futures):
            rows.append(future.result())
            left[futures[future]] -= 1
            done = [name for name, n in left.items() if n == 0]
            _write(args, cases, engines, rows, done)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
