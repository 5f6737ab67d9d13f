"""``bayesdeconv deconvolve --psf gaussian --psf-size N``: a posterior over the PSF's width."""

import numpy as np
import pytest
import tifffile
import torch

from bayesdeconv.physics import ConvolutionOperator, gaussian_psf


@pytest.fixture
def blurred_tif(tmp_path):
    rng = np.random.default_rng(0)
    scene = np.kron(rng.random((8, 8)), np.ones((4, 4)))  # 32x32 blocks
    op = ConvolutionOperator(gaussian_psf(9, 1.6), scene.shape, boundary="circular")
    y = op.forward(torch.as_tensor(scene)).numpy() + 0.01 * rng.standard_normal(scene.shape)
    path = tmp_path / "blurred.tif"
    tifffile.imwrite(path, y.astype(np.float32))
    return path


def test_gaussian_family_runs_the_evidence_engine_and_reports_sigma(blurred_tif, run_cli):
    out, psf_out = blurred_tif.with_name("mean.tif"), blurred_tif.with_name("psf.tif")
    proc = run_cli(
        "deconvolve", blurred_tif, "-o", out, "--psf", "gaussian", "--psf-size", 9,
        "--psf-sigma", "0.5:4", "--boundary", "circular", "--steps", 40, "--psf-output", psf_out,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "evidence" in proc.stdout and "psf_sigma_x =" in proc.stdout
    assert tifffile.imread(psf_out).shape == (9, 9)
    assert tifffile.imread(out).shape == (32, 32)


def test_gaussian_family_with_the_sparse_prior_runs_parametric_ivb(blurred_tif, run_cli):
    out = blurred_tif.with_name("mean.tif")
    proc = run_cli(
        "deconvolve", blurred_tif, "-o", out, "--psf", "gaussian", "--psf-size", 9,
        "--prior", "sparse", "--steps", 30, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "ivb" in proc.stdout and "psf_sigma_y =" in proc.stdout
    assert tifffile.imread(out).shape == (32, 32)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--psf", "gaussian"], "needs --psf-size N"),
        (["--psf", "gaussian", "--psf-size", "9", "--blind"], "drop --blind"),
        (["--psf", "motion", "--psf-size", "9", "--psf-sigma", "1:2"], "only with --psf gaussian"),
        (["--psf", "gaussian", "--psf-size", "9", "--psf-sigma", "2:1"], "0 < LO < HI"),
        (["--psf", "gaussian", "--psf-size", "9", "--psf-sigma", "a"], "LO:HI"),
    ],
)
def test_bad_family_options_exit_2_with_one_line(blurred_tif, run_cli, extra, message):
    proc = run_cli("deconvolve", blurred_tif, "-o", blurred_tif.with_name("m.tif"), *extra)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not blurred_tif.with_name("m.tif").exists()
