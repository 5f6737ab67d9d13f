"""Cost of one Vadam step against one SVI step on the same model and machine.

Both engines fit the 256 x 256 model of ``bench_svi_overhead.py`` (circular anisotropic Gaussian
blur, smooth prior and Gaussian noise with learned precisions, float32) for a fixed number of
steps with ``tol=0``; the per-step cost is the wall time divided by the steps (set-up amortised).
``fit_vadam`` evaluates Pyro's potential (``initialize_model``) at one perturbation per step;
``fit_svi`` runs ``SVI`` with the mean-field ``AutoNormal`` guide and a compiled ``Trace_ELBO``.

Run ``python benchmarks/bench_vadam_step.py [--smoke] [--threads N] [--steps N]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    fmt,
    markdown_table,
    parse_args,
    time_repeated,
    write_results,
)
from bench_svi_overhead import build_problem  # noqa: E402

from bayesdeconv.infer import fit_svi, fit_vadam  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Time both engines and write the result files."""

    def options(parser) -> None:
        parser.add_argument("--steps", type=int, default=None, help="steps per fit (default 200)")

    args = parse_args(__doc__.splitlines()[0], argv, options)
    size = 32 if args.smoke else 256
    steps = args.steps or (5 if args.smoke else 200)
    model, y, _, _ = build_problem(size)
    timings = {}
    for name, fit in (("svi", fit_svi), ("vadam", fit_vadam)):
        stats, _ = time_repeated(
            lambda fit=fit: fit(model, y, steps=steps, tol=0, seed=0, progress=False),
            repeat=args.repeat,
            warmup=args.warmup,
        )
        timings[name] = {k: (v / steps if k != "n" else v) for k, v in stats.items()}
        print(f"{name}: {timings[name]['median'] * 1e3:.2f} ms per step", flush=True)
    ratio = timings["vadam"]["median"] / timings["svi"]["median"]
    print(f"vadam / svi = {ratio:.2f}", flush=True)
    table = markdown_table(
        ["engine", "ms per step (median [min, max])"],
        [
            [
                name,
                f"{fmt(t['median'] * 1e3)} [{fmt(t['min'] * 1e3)}, {fmt(t['max'] * 1e3)}]",
            ]
            for name, t in timings.items()
        ],
    )
    body = (
        f"Problem: {size}x{size} float32, circular anisotropic Gaussian blur, learned precisions;"
        f" {steps} steps per fit, wall time / steps, {args.repeat} repeat(s) after"
        f" {args.warmup} warm-up run(s).\n\n{table}\n\n**Vadam step / SVI step = {ratio:.2f}**\n"
    )
    json_path, md_path = write_results(
        "bench_vadam_step",
        smoke=args.smoke,
        config={"size": size, "steps": steps, "repeat": args.repeat, "warmup": args.warmup},
        results=timings,
        summary={"ratio_vadam_over_svi": ratio},
        markdown_body=body,
        title="Vadam step versus SVI step",
    )
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
