"""The ``bayesdeconv`` command.

Usage::

    bayesdeconv deconvolve INPUT -o OUTPUT (--psf PSF | --blind --psf-size N) [options]
    bayesdeconv demo [-o DIR] [--quiet]
    bayesdeconv --version

``deconvolve`` reads a 2-D or 3-D image (``.tif``, ``.tiff``, ``.png`` or ``.npy``), runs
:func:`bayesdeconv.deconvolve` and writes the posterior mean (and optionally its standard
deviation, the PSF, a PNG report and an ArviZ NetCDF file). ``demo`` runs the embedded
examples of :mod:`bayesdeconv.datasets` and reports the PSNR gain.

Exit status
-----------
0 on success; 2 for bad usage or bad input, with one line ``bayesdeconv: error: ...`` on
stderr and no output file written; 1 (with a traceback) for an unexpected failure.

Outputs are written only after everything has been computed: each goes to a temporary file
in its target directory, and the temporary files are renamed over the targets at the very end.
Existing targets are moved aside first and put back if any rename fails, so a run replaces
either all of its outputs or none. An output may never be one of the input files.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np

from bayesdeconv import __version__
from bayesdeconv.io import ImageReadError, direct_writes, file_mode_for, read_image, write_tiff

__all__ = ["CLIError", "build_parser", "main"]

PROG = "bayesdeconv"
TIFF_SUFFIXES = (".tif", ".tiff")
DEFAULT_DEMO_DIR = "bayesdeconv-demo"
#: Posterior draws stored in the ArviZ file.
ARVIZ_SAMPLES = 200

#: Errors that mean bad usage or bad input: reported on one line, exit status 2.
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    NotImplementedError,
    FileNotFoundError,
    ImageReadError,
    OSError,
    FloatingPointError,
)


class CLIError(Exception):
    """Bad usage or input detected by the command itself (exit status 2)."""


def _usage_error(prog: str, message: str) -> NoReturn:
    """Report bad usage on one line, ``bayesdeconv: error: ...``, and exit with status 2."""
    sys.stderr.write(f"{PROG}: error: {_one_line(message)} (see '{prog} --help')\n")
    raise SystemExit(2)


class _Parser(argparse.ArgumentParser):
    """Argument parser whose usage errors are one line: ``bayesdeconv: error: ...``."""

    def error(self, message: str) -> NoReturn:
        _usage_error(self.prog, message)


def _one_line(text: object) -> str:
    """Collapse whitespace (newlines included) so a message fits on one line."""
    return " ".join(str(text).split())


def _message(exc: BaseException) -> str:
    """One readable line describing an input error."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    text = _one_line(exc)
    return text or type(exc).__name__


# --------------------------------------------------------------------------------------------
# Argument parsing
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``bayesdeconv`` command.

    Returns
    -------
    argparse.ArgumentParser
        Parser with the ``deconvolve`` and ``demo`` sub-commands.
    """
    parser = _Parser(
        prog=PROG,
        description="Bayesian image deconvolution with posterior uncertainty (Pyro).",
        epilog="Run 'bayesdeconv COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    dec = commands.add_parser(
        "deconvolve",
        help="deconvolve an image file",
        description=(
            "Deconvolve a 2-D or 3-D image (.tif, .tiff, .png or .npy) and write the posterior "
            "mean as a float32 TIFF. The PSF file must be centred at size // 2, non-negative and "
            "sum to 1. Nothing is written unless every step succeeds."
        ),
    )
    dec.add_argument("input", metavar="INPUT", type=Path, help="observed image")
    dec.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        type=Path,
        required=True,
        help="posterior mean, float32 TIFF (.tif/.tiff)",
    )
    psf = dec.add_argument_group("PSF")
    psf.add_argument("--psf", metavar="PSF", type=Path, help="PSF image file (.tif, .tiff, .npy)")
    psf.add_argument("--blind", action="store_true", help="estimate the PSF too (needs --psf-size)")
    psf.add_argument(
        "--psf-size", metavar="N", type=int, help="odd PSF support for --blind, pixels per axis"
    )
    psf.add_argument(
        "--psf-covariance",
        choices=("full", "diagonal"),
        default="full",
        help="covariance of the PSF posterior with --blind (default: full)",
    )
    psf.add_argument(
        "--psf-update",
        choices=("closed-form", "elbo", "vadam"),
        default="closed-form",
        help="how --blind --method ivb/gibbs updates the PSF posterior: closed form, Adam on the "
        "reparameterised ELBO, or Vadam (needs --psf-covariance diagonal; default: closed-form)",
    )
    psf.add_argument(
        "--psf-init",
        choices=("search", "pyramid"),
        default="search",
        help="where --blind starts the PSF: the best of three L0-gradient kernel searches by the "
        "non-blind ELBO (default), or IVB's own coarse-to-fine sweeps (--method ivb/gibbs)",
    )
    model = dec.add_argument_group("model and inference")
    model.add_argument(
        "--prior",
        choices=("smooth", "piecewise", "sparse"),
        default=None,
        help="image prior (default: smooth with --psf, sparse with --blind)",
    )
    model.add_argument(
        "--noise",
        choices=("gaussian", "poisson"),
        default="gaussian",
        help="noise model (default: gaussian)",
    )
    model.add_argument(
        "--method",
        choices=("ivb", "svi", "vadam", "map", "gibbs"),
        default="ivb",
        help="inference engine (default: ivb); gibbs samples the piecewise/sparse models "
        "after IVB, for a std map that does not collapse in flat or masked regions",
    )
    model.add_argument(
        "--guide", metavar="NAME", help="SVI guide, e.g. mean-field (default) or full"
    )
    model.add_argument(
        "--steps",
        metavar="N",
        type=int,
        help="iteration limit (IVB sweeps, SVI steps, or Gibbs draws kept)",
    )
    model.add_argument(
        "--mask",
        metavar="MASK",
        type=Path,
        help="observation mask image of the input's shape: nonzero = observed",
    )
    model.add_argument(
        "--boundary",
        choices=("valid", "circular"),
        default="valid",
        help="image boundary model (default: valid)",
    )
    model.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="compute device (default: cpu)"
    )
    model.add_argument("--seed", metavar="S", type=int, help="random seed")
    out = dec.add_argument_group("further outputs")
    out.add_argument(
        "--std-output",
        metavar="STD",
        type=Path,
        help="posterior standard deviation, float32 TIFF",
    )
    out.add_argument(
        "--psf-output", metavar="PSF_OUT", type=Path, help="PSF (posterior mean), float32 TIFF"
    )
    out.add_argument("--report", metavar="PNG", type=Path, help="diagnostic figure (.png)")
    out.add_argument(
        "--arviz",
        metavar="FILE.nc",
        type=Path,
        help=f"ArviZ InferenceData as NetCDF ({ARVIZ_SAMPLES} posterior draws)",
    )
    dec.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors (no progress bar)"
    )

    demo = commands.add_parser(
        "demo",
        help="run the embedded examples",
        description=(
            "Deconvolve the embedded demo images (a synthetic fluorescence image and a crop of "
            "a public-domain photograph) and report the PSNR of the observed image and of the "
            "posterior mean against the ground truth."
        ),
    )
    demo.add_argument(
        "-o",
        "--output-dir",
        metavar="DIR",
        type=Path,
        default=Path(DEFAULT_DEMO_DIR),
        help=f"output folder, created if needed (default: ./{DEFAULT_DEMO_DIR})",
    )
    demo.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return parser


# --------------------------------------------------------------------------------------------
# Output handling
# --------------------------------------------------------------------------------------------


@dataclass
class _Output:
    """One file to write: its destination and a function writing it to a given path."""

    path: Path
    write: Callable[[Path], object]


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (after resolving links, or as the same inode)."""
    if a.resolve() == b.resolve():
        return True
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return False


def _check_outputs(
    outputs: dict[str, Path], inputs: dict[str, Path], suffixes: dict[str, tuple[str, ...]]
) -> None:
    """Refuse outputs that overwrite an input, collide, lack a folder or have a wrong suffix.

    Parameters
    ----------
    outputs : dict of str to Path
        Output paths by option name (for messages).
    inputs : dict of str to Path
        Input paths by option name.
    suffixes : dict of str to tuple of str
        Allowed suffixes (lower case) by output option name.

    Raises
    ------
    CLIError
        On the first problem found.
    """
    seen: dict[str, Path] = {}
    for option, path in outputs.items():
        allowed = suffixes[option]
        if path.suffix.lower() not in allowed:
            raise CLIError(f"{option} {path} must end in {' or '.join(allowed)}")
        for in_option, in_path in inputs.items():
            if _same_file(path, in_path):
                raise CLIError(
                    f"{option} {path} is the {in_option} file; refusing to overwrite an input"
                )
        for other_option, other in seen.items():
            if _same_file(path, other):
                raise CLIError(f"{option} and {other_option} are the same file {path}")
        seen[option] = path
        if path.is_dir():
            raise CLIError(f"{option} {path} is a directory")
        folder = path.parent
        if not folder.is_dir():
            raise CLIError(f"output directory {folder} does not exist (for {option} {path})")


def _remove_quietly(paths: Iterator[Path] | Sequence[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def _backup_name(target: Path) -> Path:
    """A fresh name next to `target` for moving the existing file aside."""
    return target.with_name(f".{target.name}.bak-{uuid.uuid4().hex}")


def _commit(staged: Sequence[tuple[Path, Path]]) -> None:
    """Rename every ``(temp, target)`` pair into place, all or nothing.

    Existing targets are first moved aside to backup names in their own folders; then the
    temporary files are renamed over the targets. If any rename fails, the new files already
    placed are removed and the backups are renamed back, so every target is as before; on
    success the backups are deleted. A backup that cannot be restored is left in place
    rather than deleted, so no previous data are lost.
    """
    backups: list[tuple[Path, Path]] = []  # (target, backup)
    placed: list[Path] = []
    try:
        for _, target in staged:
            if os.path.lexists(target):
                backup = _backup_name(target)
                os.replace(target, backup)
                backups.append((target, backup))
        for temp, target in staged:
            os.replace(temp, target)
            placed.append(target)
    except BaseException:
        _remove_quietly(placed)
        for target, backup in reversed(backups):
            with contextlib.suppress(OSError):
                os.replace(backup, target)
        _remove_quietly(temp for temp, _ in staged)
        raise
    _remove_quietly(backup for _, backup in backups)


def _write_all(outputs: Sequence[_Output]) -> None:
    """Write every output to a temporary file next to it, then rename all of them.

    If any write fails, every temporary file is removed and no destination is touched. The
    renames are all or nothing as far as the file system allows (see :func:`_commit`).

    Parameters
    ----------
    outputs : sequence of _Output
        Files to write.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        with direct_writes():  # the writers write straight to our temporary files
            for output in outputs:
                target = output.path
                handle, name = tempfile.mkstemp(
                    dir=target.parent, prefix=f".{target.name}.", suffix=f".part{target.suffix}"
                )
                os.close(handle)
                temp = Path(name)
                staged.append((temp, target))
                output.write(temp)
                os.chmod(temp, file_mode_for(target))
    except BaseException:
        _remove_quietly(temp for temp, _ in staged)
        raise
    _commit(staged)


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its ancestors that do not exist yet, deepest first."""
    missing: list[Path] = []
    current = folder.absolute()
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    return missing


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def _read_psf(path: Path, image_shape: tuple[int, ...]) -> np.ndarray:
    """Read and validate a PSF file (finite, non-negative, normalised, not too large)."""
    from bayesdeconv.physics.psf import check_psf

    array = read_image(path).array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deconvolve checks it again and warns then
        check_psf(array, image_shape=image_shape, name=f"the PSF in {path}")
    return array


def _read_mask(path: Path) -> np.ndarray:
    """Read a mask file: nonzero pixels are observed."""
    array = read_image(path).array
    if not np.isfinite(array).all():
        raise CLIError(f"the mask in {path} contains NaN or Inf values")
    return array != 0


def _validate_deconvolve_args(args: argparse.Namespace) -> None:
    """Usage rules argparse cannot express; exits with status 2 on a violation."""
    prog = f"{PROG} deconvolve"
    if args.psf is not None and args.blind:
        _usage_error(prog, "give either --psf PSF or --blind --psf-size N, not both")
    if args.psf is None and not args.blind:
        _usage_error(prog, "give --psf PSF or --blind --psf-size N")
    if args.blind and args.psf_size is None:
        _usage_error(prog, "--blind needs --psf-size N")
    if args.psf_size is not None and not args.blind:
        _usage_error(prog, "--psf-size is only used with --blind")
    if args.psf_size is not None and args.psf_size < 1:
        _usage_error(prog, f"--psf-size must be a positive integer, got {args.psf_size}")


def _run_deconvolve(args: argparse.Namespace) -> list[str]:
    """Run ``bayesdeconv deconvolve``; return the summary lines to print."""
    from bayesdeconv.api import deconvolve

    inputs = {"INPUT": args.input}
    if args.psf is not None:
        inputs["--psf"] = args.psf
    if args.mask is not None:
        inputs["--mask"] = args.mask
    outputs = {"--output": args.output}
    suffixes = {"--output": TIFF_SUFFIXES}
    for option, path, allowed in (
        ("--std-output", args.std_output, TIFF_SUFFIXES),
        ("--psf-output", args.psf_output, TIFF_SUFFIXES),
        ("--report", args.report, (".png",)),
        ("--arviz", args.arviz, (".nc",)),
    ):
        if path is not None:
            outputs[option] = path
            suffixes[option] = allowed
    _check_outputs(outputs, inputs, suffixes)

    image = read_image(args.input)
    psf = _read_psf(args.psf, image.shape) if args.psf is not None else None
    mask = _read_mask(args.mask) if args.mask is not None else None
    result = deconvolve(
        image.array,
        psf,
        prior=args.prior,
        noise=args.noise,
        method=args.method,
        guide=args.guide,
        boundary=args.boundary,
        psf_size=args.psf_size,
        psf_covariance=args.psf_covariance,
        psf_update=args.psf_update,
        psf_init=args.psf_init,
        mask=mask,
        steps=args.steps,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    if not (np.isfinite(result.mean).all() and np.isfinite(result.std).all()):
        raise FloatingPointError(
            "the posterior contains NaN or Inf values; check the image scale and the PSF"
        )

    tiff = {"voxel_size": image.voxel_size, "unit": image.unit or "um"}
    files = [_Output(args.output, lambda p: write_tiff(p, result.mean, **tiff))]
    if args.std_output is not None:
        files.append(_Output(args.std_output, lambda p: write_tiff(p, result.std, **tiff)))
    if args.psf_output is not None:
        psf_tiff = tiff if result.psf.ndim == image.ndim else {}
        files.append(_Output(args.psf_output, lambda p: write_tiff(p, result.psf, **psf_tiff)))
    if args.report is not None:
        from bayesdeconv.diagnostics.plots import save_report

        title = f"{args.input.name}: {result.method}, {result.n_iter} iterations"
        report = {
            "observed": image.array,
            "mean": result.mean,
            "std": result.std,
            "psf": result.psf,
            "title": title,
        }
        files.append(_Output(args.report, lambda p: save_report(p, **report)))
    if args.arviz is not None:
        from bayesdeconv.diagnostics.arviz_export import save_arviz

        idata = result.to_arviz(num_samples=ARVIZ_SAMPLES, seed=args.seed)
        files.append(_Output(args.arviz, lambda p: save_arviz(idata, p)))
    _write_all(files)

    if "burn_in" in result.info:  # a sampler: no stopping rule
        state = f"{result.n_iter - result.info['burn_in']} draws kept after burn-in"
    else:
        state = "converged" if result.converged else "iteration limit reached"
    written = ", ".join(str(f.path) for f in files)
    return [
        f"{PROG}: {result.method}, {result.n_iter} iterations ({state}), "
        f"{result.runtime:.2f} s; wrote {written}"
    ]


def _run_demo(args: argparse.Namespace) -> list[str]:
    """Run ``bayesdeconv demo``; return the lines to print."""
    import time

    from bayesdeconv.api import deconvolve
    from bayesdeconv.datasets import DEMO_CASES, load_demo
    from bayesdeconv.diagnostics.metrics import psnr
    from bayesdeconv.diagnostics.plots import save_report

    folder: Path = args.output_dir
    if folder.exists() and not folder.is_dir():
        raise CLIError(f"demo output {folder} exists and is not a directory")

    files: list[_Output] = []
    lines: list[str] = []
    for name in DEMO_CASES:
        case = load_demo(name)
        start = time.perf_counter()
        result = deconvolve(
            case.observed, case.psf, method="ivb", boundary="valid", progress=not args.quiet
        )
        elapsed = time.perf_counter() - start
        before = psnr(case.observed, case.truth_frame)
        after = psnr(result.mean, case.truth_frame)
        lines.append(
            f"{name}: PSNR observed {before:.2f} dB -> posterior mean {after:.2f} dB "
            f"({result.method}, {result.n_iter} iterations, {elapsed:.2f} s)"
        )
        title = f"{name}: PSNR {before:.1f} dB -> {after:.1f} dB"
        report = {
            "observed": case.observed,
            "mean": result.mean,
            "std": result.std,
            "psf": case.psf,
            "title": title,
        }
        files += [
            _Output(folder / f"{name}_observed.tif", lambda p, c=case: write_tiff(p, c.observed)),
            _Output(folder / f"{name}_psf.tif", lambda p, c=case: write_tiff(p, c.psf)),
            _Output(folder / f"{name}_mean.tif", lambda p, r=result: write_tiff(p, r.mean)),
            _Output(folder / f"{name}_std.tif", lambda p, r=result: write_tiff(p, r.std)),
            _Output(folder / f"{name}_report.png", lambda p, kw=report: save_report(p, **kw)),
        ]
    created = _missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_all(files)
    except BaseException:
        for path in created:  # deepest first; only folders this run created (now empty)
            with contextlib.suppress(OSError):
                path.rmdir()
        raise

    lines.append(f"{PROG}: wrote {len(files)} files to {folder}")
    return lines


class _LogCollector(logging.Handler):
    """Logging handler that keeps one-line messages instead of printing them."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(level=logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.messages.append(_one_line(record.getMessage()))


@contextlib.contextmanager
def _collect_warnings(messages: list[str]) -> Iterator[None]:
    """Record warnings and library log messages as one-line texts instead of printing them.

    Libraries such as tifffile report problems through :mod:`logging`; without a handler
    Python would print them to stderr, breaking the one-line error contract.
    """
    root = logging.getLogger()
    handler = _LogCollector(messages)
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                messages.extend(_one_line(w.message) for w in caught)
    finally:
        root.removeHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bayesdeconv`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for bad usage or bad input (one line on stderr, no
        output written). Unexpected errors propagate.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    bayesdeconv 0.1.0
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "deconvolve":
            _validate_deconvolve_args(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)

    runner = _run_deconvolve if args.command == "deconvolve" else _run_demo
    warned: list[str] = []
    try:
        with _collect_warnings(warned):
            lines = runner(args)
    except (CLIError, *INPUT_ERRORS) as exc:
        print(f"{PROG}: error: {_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    if not args.quiet:
        for message in dict.fromkeys(warned):
            print(f"{PROG}: warning: {message}", file=sys.stderr)
        for line in lines:
            print(line)
    return 0
