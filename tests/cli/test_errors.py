"""Bad usage and bad input: exit status 2, one error line, no traceback, no output written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bayesdeconv.cli import main
from bayesdeconv.physics.psf import gaussian_psf

PREFIX = "bayesdeconv: error: "


def _listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) with its content."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


def _setup(case: str, inputs) -> list[str]:
    """Create the bad input of ``case`` in the input folder; return the command arguments."""
    folder = inputs.folder
    image, psf = str(inputs.image), str(inputs.psf)
    outputs = ["-o", str(folder / "out.tif"), "--std-output", str(folder / "std.tif")]
    if case == "nan-pixel":
        bad = inputs.array.copy()
        bad[5, 7] = np.nan
        np.save(folder / "nan.npy", bad)
        return ["deconvolve", str(folder / "nan.npy"), "--psf", psf, *outputs]
    if case == "inf-pixel":
        bad = inputs.array.copy()
        bad[0, 0] = np.inf
        np.save(folder / "inf.npy", bad)
        return ["deconvolve", str(folder / "inf.npy"), "--psf", psf, *outputs]
    if case == "1d-image":
        np.save(folder / "line.npy", np.arange(50.0))
        return ["deconvolve", str(folder / "line.npy"), "--psf", psf, *outputs]
    if case == "4d-image":
        np.save(folder / "4d.npy", np.ones((2, 3, 20, 20)))
        return ["deconvolve", str(folder / "4d.npy"), "--psf", psf, *outputs]
    if case == "psf-larger-than-image":
        np.save(folder / "big.npy", gaussian_psf(61, 3.0))
        return ["deconvolve", image, "--psf", str(folder / "big.npy"), *outputs]
    if case == "psf-3d-for-2d-image":
        np.save(folder / "psf3.npy", np.full((3, 3, 3), 1 / 27))
        return ["deconvolve", image, "--psf", str(folder / "psf3.npy"), *outputs]
    if case == "negative-psf":
        k = gaussian_psf(9, 1.5)
        k[0, 0] -= 0.05
        k[4, 4] += 0.05
        np.save(folder / "neg.npy", k)
        return ["deconvolve", image, "--psf", str(folder / "neg.npy"), *outputs]
    if case == "unnormalised-psf":
        np.save(folder / "twice.npy", 2 * gaussian_psf(9, 1.5))
        return ["deconvolve", image, "--psf", str(folder / "twice.npy"), *outputs]
    if case == "missing-file":
        return ["deconvolve", str(folder / "absent.tif"), "--psf", psf, *outputs]
    if case == "missing-psf-file":
        return ["deconvolve", image, "--psf", str(folder / "absent.npy"), *outputs]
    if case == "empty-file":
        (folder / "empty.tif").write_bytes(b"")
        return ["deconvolve", str(folder / "empty.tif"), "--psf", psf, *outputs]
    if case == "corrupt-file":
        (folder / "corrupt.tif").write_bytes(b"II*\x00this is not a tiff file at all" * 4)
        return ["deconvolve", str(folder / "corrupt.tif"), "--psf", psf, *outputs]
    if case == "corrupt-npy":
        (folder / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
        return ["deconvolve", str(folder / "corrupt.npy"), "--psf", psf, *outputs]
    if case == "unsupported-suffix":
        (folder / "image.jpg").write_bytes(b"\xff\xd8\xff")
        return ["deconvolve", str(folder / "image.jpg"), "--psf", psf, *outputs]
    if case == "mask-shape-mismatch":
        np.save(folder / "mask.npy", np.ones((40, 40), dtype=np.uint8))
        return ["deconvolve", image, "--psf", psf, "--mask", str(folder / "mask.npy"), *outputs]
    if case == "output-is-input":
        return ["deconvolve", image, "--psf", psf, "-o", image]
    if case == "std-output-is-psf":
        return ["deconvolve", image, "--psf", psf, "-o", str(folder / "o.tif"), "--std-output", psf]
    if case == "two-outputs-same-file":
        out = str(folder / "out.tif")
        return ["deconvolve", image, "--psf", psf, "-o", out, "--std-output", out]
    if case == "output-not-tiff":
        return ["deconvolve", image, "--psf", psf, "-o", str(folder / "out.png")]
    if case == "missing-output-dir":
        return ["deconvolve", image, "--psf", psf, "-o", str(folder / "no" / "such" / "out.tif")]
    if case == "unknown-prior":
        return ["deconvolve", image, "--psf", psf, "--prior", "nonsense", *outputs]
    if case == "poisson-with-ivb":
        noise = ["--noise", "poisson", "--prior", "smooth", "--method", "ivb"]
        return ["deconvolve", image, "--psf", psf, *noise, *outputs]
    if case == "guide-without-svi":
        return ["deconvolve", image, "--psf", psf, "--guide", "full", "--method", "ivb", *outputs]
    if case == "zero-steps":
        return ["deconvolve", image, "--psf", psf, "--steps", "0", *outputs]
    if case == "blind":
        return ["deconvolve", image, "--blind", "--psf-size", "8", *outputs]
    if case == "cuda-unavailable":
        return ["deconvolve", image, "--psf", psf, "--device", "cuda", *outputs]
    if case == "no-psf-no-blind":
        return ["deconvolve", image, *outputs]
    if case == "psf-and-blind":
        return ["deconvolve", image, "--psf", psf, "--blind", "--psf-size", "9", *outputs]
    if case == "vadam-psf-full-covariance":
        return [
            "deconvolve",
            image,
            "--blind",
            "--psf-size",
            "9",
            "--psf-update",
            "vadam",
            *outputs,
        ]
    if case == "psf-init-pyramid-with-svi":
        blind = ["--blind", "--psf-size", "9", "--method", "svi", "--psf-init", "pyramid"]
        return ["deconvolve", image, *blind, *outputs]
    if case == "psf-init-without-blind":
        return ["deconvolve", image, "--psf", psf, "--psf-init", "pyramid", *outputs]
    if case == "unknown-option":
        return ["deconvolve", image, "--psf", psf, "--frobnicate", *outputs]
    if case == "bad-method-choice":
        return ["deconvolve", image, "--psf", psf, "--method", "mcmc", *outputs]
    if case == "no-command":
        return []
    raise AssertionError(case)


CASES = [
    "nan-pixel",
    "inf-pixel",
    "1d-image",
    "4d-image",
    "psf-larger-than-image",
    "psf-3d-for-2d-image",
    "negative-psf",
    "unnormalised-psf",
    "missing-file",
    "missing-psf-file",
    "empty-file",
    "corrupt-file",
    "corrupt-npy",
    "unsupported-suffix",
    "mask-shape-mismatch",
    "output-is-input",
    "std-output-is-psf",
    "two-outputs-same-file",
    "output-not-tiff",
    "missing-output-dir",
    "unknown-prior",
    "poisson-with-ivb",
    "guide-without-svi",
    "zero-steps",
    "blind",
    pytest.param(
        "cuda-unavailable",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present"),
    ),
    "no-psf-no-blind",
    "psf-and-blind",
    "vadam-psf-full-covariance",
    "psf-init-pyramid-with-svi",
    "psf-init-without-blind",
    "unknown-option",
    "bad-method-choice",
    "no-command",
]

#: Words the error line must contain, per case (lower case).
EXPECTED = {
    "nan-pixel": "nan",
    "inf-pixel": "inf",
    "1d-image": "2-d or 3-d",
    "4d-image": "2-d or 3-d",
    "psf-larger-than-image": "larger than the image",
    "negative-psf": "negative",
    "unnormalised-psf": "not normalised (sum=2); pass --normalise-psf or divide it by its sum",
    "missing-file": "not found",
    "empty-file": "empty",
    "corrupt-file": "cannot read",
    "mask-shape-mismatch": "mask shape",
    "output-is-input": "refusing to overwrite",
    "missing-output-dir": "does not exist",
    "blind": "--psf-size must be odd",
    "cuda-unavailable": "--device cuda",
    "no-psf-no-blind": "give --psf psf or --blind [--psf-size n]",
    "vadam-psf-full-covariance": "use --psf-covariance diagonal",
    "psf-init-pyramid-with-svi": "--psf-init pyramid is ivb's coarse-to-fine; use --method ivb",
    "psf-init-without-blind": "--psf-init is only used with --blind",
    "poisson-with-ivb": "use --method svi",
    "guide-without-svi": "--guide applies to --method svi only",
    "zero-steps": "--steps must be a positive integer",
}


def _check_failure(code: int, err: str, out: str, case: str) -> None:
    assert code == 2, (case, err)
    lines = err.splitlines()
    assert len(lines) == 1, (case, err)
    assert lines[0].startswith(PREFIX), (case, err)
    assert "Traceback" not in err
    assert out == ""
    if case in EXPECTED:
        assert EXPECTED[case] in lines[0].lower(), (case, lines[0])


@pytest.mark.parametrize("case", CASES)
def test_bad_input_in_process(case, inputs, capsys):
    args = _setup(case, inputs)
    before = _listing(inputs.folder)
    code = main(args)
    captured = capsys.readouterr()
    _check_failure(code, captured.err, captured.out, case)
    # nothing written, nothing changed (inputs included), no temporary files left
    assert _listing(inputs.folder) == before


#: A few cases also run in a real process (slow start-up: torch import), which shows that
#: nothing else reaches stderr (log messages, tracebacks).
SUBPROCESS_CASES = ["nan-pixel", "corrupt-file", "blind", "unknown-option"]


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_bad_input_subprocess(case, inputs, run_cli):
    args = _setup(case, inputs)
    before = _listing(inputs.folder)
    proc = run_cli(*args)
    _check_failure(proc.returncode, proc.stderr, proc.stdout, case)
    assert _listing(inputs.folder) == before


def test_failed_late_write_leaves_nothing(inputs, capsys, monkeypatch):
    """A write failing after the first outputs were staged removes every staged file."""
    import bayesdeconv.diagnostics.plots as plots

    def broken_report(path, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(plots, "save_report", broken_report)
    folder = inputs.folder
    (folder / "std.tif").write_bytes(b"previous std")
    before = _listing(folder)
    args = [
        "deconvolve", str(inputs.image), "--psf", str(inputs.psf), "-q",
        "-o", str(folder / "out.tif"), "--std-output", str(folder / "std.tif"),
        "--report", str(folder / "report.png"),
    ]  # fmt: skip
    code = main(args)
    captured = capsys.readouterr()
    _check_failure(code, captured.err, captured.out, "disk-full")
    assert "no space left" in captured.err.lower()
    assert _listing(folder) == before


def test_usage_error_exit_code_via_argparse(capsys):
    assert main(["deconvolve"]) == 2  # INPUT and -o missing
    err = capsys.readouterr().err
    assert err.startswith(PREFIX) and len(err.splitlines()) == 1
