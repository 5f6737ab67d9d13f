"""``bayesdeconv demo`` and the embedded demo data of :mod:`bayesdeconv.datasets`."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile
import torch

from bayesdeconv.cli import main
from bayesdeconv.datasets import DEMO_CASES, load_demo
from bayesdeconv.physics import ConvolutionOperator

LINE = re.compile(
    r"^(?P<case>\w+): PSNR observed (?P<before>-?[\d.]+) dB -> posterior mean "
    r"(?P<after>-?[\d.]+) dB \(ivb, \d+ iterations, (?P<seconds>[\d.]+) s\)$"
)


def test_demo_improves_psnr(tmp_path, run_cli):
    folder = tmp_path / "demo out"  # a space in the name, and created by the command
    proc = run_cli("demo", "-o", folder, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    results = {}
    for line in proc.stdout.splitlines():
        match = LINE.match(line)
        if match:
            results[match["case"]] = (float(match["before"]), float(match["after"]))
    assert set(results) == set(DEMO_CASES), proc.stdout
    for case, (before, after) in results.items():
        assert after > before + 1.0, (case, before, after)
    assert str(folder) in proc.stdout.splitlines()[-1]

    for case in DEMO_CASES:
        observed = load_demo(case).observed
        for kind in ("mean", "std"):
            data = tifffile.imread(folder / f"{case}_{kind}.tif")
            assert data.dtype == np.float32
            assert data.shape == observed.shape
        assert (tifffile.imread(folder / f"{case}_std.tif") > 0).all()
        assert (folder / f"{case}_report.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files


def test_demo_quiet_in_process(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert (tmp_path / "bayesdeconv-demo" / "natural_mean.tif").is_file()


def test_demo_output_is_a_file(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert main(["demo", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bayesdeconv: error: ") and len(err.splitlines()) == 1
    assert target.read_text() == "not a folder"


@pytest.mark.parametrize("name", DEMO_CASES)
def test_demo_data_matches_the_valid_forward_model(name):
    case = load_demo(name)
    assert case.description.startswith(name)
    assert case.observed.dtype == case.truth.dtype == case.truth_frame.dtype == np.float32
    assert case.psf.dtype == np.float64
    assert case.psf.min() >= 0 and case.psf.sum() == pytest.approx(1.0, abs=1e-12)
    assert case.observed.shape == case.truth_frame.shape
    assert case.truth.shape == tuple(
        n + s - 1 for n, s in zip(case.observed.shape, case.psf.shape, strict=True)
    )
    op = ConvolutionOperator(case.psf, case.observed.shape, boundary="valid")
    np.testing.assert_array_equal(case.truth[op.frame], case.truth_frame)
    # the latent grid may be padded beyond n + s - 1 (FFT-friendly size); the pad is unobserved
    latent = np.zeros(op.latent_shape)
    latent[tuple(slice(0, n) for n in case.truth.shape)] = case.truth
    blurred = op.forward(torch.as_tensor(latent)).numpy()
    noise = case.observed - blurred
    # the residual is the added white noise: about 1 % of the signal's maximum
    assert 0.004 < noise.std() < 0.02
    assert abs(noise.mean()) < 3 * noise.std() / np.sqrt(noise.size)


def test_demo_description_credits_the_photograph():
    assert "public-domain" in load_demo("natural").description
    assert "Library of Congress" in load_demo("natural").description


def test_load_demo_unknown_name():
    with pytest.raises(ValueError, match="unknown demo case 'nope'"):
        load_demo("nope")


def test_load_demo_returns_copies():
    a = load_demo("fluorescence")
    a.observed[:] = 0
    assert load_demo("fluorescence").observed.any()
