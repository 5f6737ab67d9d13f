"""``--normalise-psf``: a measured PSF (sum 3 here) is divided by its sum, or refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from bayesdeconv.cli import main

PREFIX = "bayesdeconv: error: "


def _args(inputs, psf: Path, *extra: str) -> list[str]:
    out = inputs.folder / "out.tif"
    return ["deconvolve", str(inputs.image), "--psf", str(psf), "-o", str(out), "-q", *extra]


def _sum_three(inputs) -> Path:
    path = inputs.folder / "measured.tif"
    tifffile.imwrite(path, (3 * inputs.psf_array).astype(np.float32))
    return path


def test_normalise_psf_accepts_a_psf_of_sum_three(inputs, capsys):
    psf = _sum_three(inputs)
    psf_out = inputs.folder / "psf_used.tif"
    code = main(_args(inputs, psf, "--normalise-psf", "--steps", "5", "--psf-output", str(psf_out)))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    used = tifffile.imread(psf_out)
    assert used.sum() == np.float32(1.0) or abs(float(used.sum()) - 1.0) < 1e-5
    np.testing.assert_allclose(used, inputs.psf_array, rtol=1e-5, atol=1e-8)
    assert tifffile.imread(inputs.folder / "out.tif").shape == inputs.array.shape


def test_without_normalise_psf_the_error_names_the_flag(inputs, capsys):
    psf = _sum_three(inputs)
    before = sorted(p.name for p in inputs.folder.iterdir())
    code = main(_args(inputs, psf))
    err = capsys.readouterr().err
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), err
    assert "not normalised (sum=3" in lines[0]
    assert "pass --normalise-psf or divide it by its sum" in lines[0]
    assert "normalise_psf" not in lines[0].split("measured.tif")[1]  # the path may hold it
    assert sorted(p.name for p in inputs.folder.iterdir()) == before  # nothing written


def test_normalise_psf_needs_a_psf_file(inputs, capsys):
    out = inputs.folder / "out.tif"
    args = ["deconvolve", str(inputs.image), "--blind", "--psf-size", "7", "--normalise-psf"]
    assert main([*args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--normalise-psf is only used with --psf" in err
    assert not out.exists()


def test_normalise_psf_in_a_real_process(inputs, run_cli):
    """The console entry point: the flag works, and without it one error line, status 2."""
    psf = _sum_three(inputs)
    proc = run_cli(*_args(inputs, psf))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "pass --normalise-psf" in proc.stderr
    assert proc.stdout == ""
    proc = run_cli(*_args(inputs, psf, "--normalise-psf", "--steps", "5"))
    assert proc.returncode == 0, proc.stderr
    assert (inputs.folder / "out.tif").is_file()
