"""Shared helpers for the benchmark scripts: options, timing, environment, result files.

Every script in ``benchmarks/`` is run as ``python benchmarks/<name>.py [--smoke]`` and writes
``benchmarks/results/<name>.json`` (machine readable) and ``benchmarks/results/<name>.md`` (a
markdown report). Smoke mode (``--smoke``, or the environment variable ``BAYESDECONV_SMOKE=1``,
or ``CI`` set) uses tiny problems and one repeat and writes to ``benchmarks/results/smoke/``
instead, so real results are never overwritten by a quick check. The environment variable
``BAYESDECONV_BENCH_RESULTS`` replaces ``benchmarks/results`` (the tests write to a temporary
folder this way).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "RESULTS_DIR",
    "blur_circular",
    "load_image",
    "environment",
    "environment_markdown",
    "fmt",
    "markdown_table",
    "parse_args",
    "read_results",
    "smoke_requested",
    "summarise",
    "time_repeated",
    "write_results",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where full runs write; smoke runs write to its ``smoke/`` sub-folder."""


def smoke_requested(flag: bool = False, full: bool = False) -> bool:
    """Whether to run in smoke mode: the flag, ``BAYESDECONV_SMOKE=1`` or ``CI`` set.

    ``full`` (the ``--full`` option) wins over the environment, not over ``--smoke``.
    """
    if full and not flag:
        return False
    env = os.environ.get("BAYESDECONV_SMOKE", "").strip().lower()
    return bool(flag) or env not in ("", "0", "false", "no") or bool(os.environ.get("CI"))


def parse_args(
    description: str,
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """Common options: ``--smoke``, ``--full``, ``--repeat``, ``--warmup``, ``--threads``.

    ``extra`` may add script-specific options to the parser. ``args.smoke`` is resolved against
    the environment (see :func:`smoke_requested`); ``args.threads`` is ``None`` (torch's default)
    unless given, else applied with ``torch.set_num_threads``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny problem sizes and one repeat; results go to benchmarks/results/smoke/",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="timed repetitions (default 5; 1 in smoke mode)"
    )
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up runs (default 1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads value (default: leave torch's default)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="full sizes even when BAYESDECONV_SMOKE or CI is set in the environment",
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    args.smoke = smoke_requested(args.smoke, args.full)
    if args.repeat is None:
        args.repeat = 1 if args.smoke else 5
    if args.warmup is None:
        args.warmup = 1
    if args.repeat < 1 or args.warmup < 0:
        parser.error("need --repeat >= 1 and --warmup >= 0")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    return args


def load_image(name: str, size: int) -> np.ndarray:
    """A ``skimage.data`` image as float64 grayscale, centre-cropped, resized, scaled to [0, 1].

    Colour images are converted with ``rgb2gray``; the largest centred square is resized to
    ``size x size`` (anti-aliased) and the result is min-max rescaled to exactly ``[0, 1]``.
    """
    from skimage import color, data, transform

    image = getattr(data, name)()
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    image = image.astype(np.float64)
    h, w = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top : top + side, left : left + side]
    image = transform.resize(image, (size, size), anti_aliasing=True, preserve_range=True)
    lo, hi = float(image.min()), float(image.max())
    return (image - lo) / (hi - lo)


def blur_circular(image: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """Circular true convolution with :class:`~bayesdeconv.physics.ConvolutionOperator`.

    The PSF centre is at ``s // 2`` (the package convention); computed in float64.
    """
    from bayesdeconv.physics import ConvolutionOperator

    op = ConvolutionOperator(psf, image.shape, boundary="circular", dtype=torch.float64)
    return op.forward(torch.as_tensor(image, dtype=torch.float64)).numpy()


def summarise(times: Sequence[float]) -> dict[str, float | int]:
    """Median, minimum, maximum and count of a list of durations (seconds)."""
    values = [float(t) for t in times]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def time_repeated(
    fn: Callable[[], Any], *, repeat: int, warmup: int = 1
) -> tuple[dict[str, float | int], Any]:
    """Time ``fn()`` ``repeat`` times with ``time.perf_counter`` after ``warmup`` untimed calls.

    Returns the :func:`summarise` statistics and the last call's return value.
    """
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return summarise(times), out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except ImportError:
        return None
    return getattr(mod, "__version__", None)


def environment() -> dict[str, Any]:
    """Date, machine and library versions, recorded with every result."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "load_average": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "pyro": _version("pyro"),
        "skimage": _version("skimage"),
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "torch_threads": torch.get_num_threads(),
    }


def environment_markdown(env: dict[str, Any]) -> str:
    """The environment as a markdown bullet list."""
    rows = [
        ("Date (UTC)", env["date"]),
        ("CPU", env["cpu_model"]),
        ("Cores", f"{env['cpu_count']} (usable: {env['cpu_affinity']})"),
        ("Load average (1, 5, 15 min) at the end", env["load_average"]),
        ("Python", env["python"]),
        ("torch", env["torch"]),
        ("pyro", env["pyro"]),
        ("scikit-image", env["skimage"]),
        ("numpy / scipy", f"{env['numpy']} / {env['scipy']}"),
        ("torch threads", env["torch_threads"]),
    ]
    return "\n".join(f"- {key}: {value}" for key, value in rows)


def fmt(value: Any, digits: int = 3) -> str:
    """Format a number for a table: ``digits`` significant digits, ``-`` for missing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (numbers formatted with :func:`fmt`)."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(fmt(cell) for cell in row) + " |")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary sibling, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _results_folder(smoke: bool) -> Path:
    base = Path(os.environ.get("BAYESDECONV_BENCH_RESULTS") or RESULTS_DIR)
    return base / "smoke" if smoke else base


def read_results(name: str, *, smoke: bool) -> dict[str, Any] | None:
    """The payload an earlier :func:`write_results` call wrote for ``name``, or ``None``.

    Used by scripts that resume a run cut short (``--resume``).
    """
    path = _results_folder(smoke) / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_results(
    name: str,
    *,
    smoke: bool,
    config: dict[str, Any],
    results: Any,
    summary: dict[str, Any],
    markdown_body: str,
    title: str,
) -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.md`` (under ``smoke/`` in smoke mode).

    The folder is ``BAYESDECONV_BENCH_RESULTS`` if set, else :data:`RESULTS_DIR`.

    The JSON holds the keys ``benchmark``, ``smoke``, ``environment``, ``config``, ``results``
    and ``summary``; the markdown starts with the title and the environment.
    """
    env = environment()
    folder = _results_folder(smoke)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "smoke": smoke,
        "environment": env,
        "config": config,
        "results": results,
        "summary": summary,
    }
    json_path = folder / f"{name}.json"
    md_path = folder / f"{name}.md"
    _write_atomic(json_path, json.dumps(_jsonable(payload), indent=2) + "\n")
    mode = " (smoke run: tiny sizes, not representative)" if smoke else ""
    text = (
        f"# {title}{mode}\n\n"
        f"Command: `python {' '.join([f'benchmarks/{Path(sys.argv[0]).name}', *sys.argv[1:]])}`\n\n"
        f"{environment_markdown(env)}\n\n{markdown_body.strip()}\n"
    )
    _write_atomic(md_path, text)
    return json_path, md_path
