"""``--crop-psf ENERGY``: the PSF file cropped to its energy, with a report line."""

import numpy as np
import tifffile

from bayesdeconv.physics.psf import gaussian_psf


def test_cli_crops_the_psf_file_and_says_how_much_it_dropped(tmp_path, run_cli):
    rng = np.random.default_rng(0)
    image = rng.random((32, 32)).astype(np.float32)
    big = np.zeros((21, 21))
    big[6:15, 6:15] = gaussian_psf(9, 1.2)
    tifffile.imwrite(tmp_path / "in.tif", image)
    tifffile.imwrite(tmp_path / "psf.tif", big)
    out = tmp_path / "out.tif"
    proc = run_cli("deconvolve", tmp_path / "in.tif", "--psf", tmp_path / "psf.tif",
                   "--crop-psf", "0.999", "-o", out, "--boundary", "circular")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "PSF cropped from 21x21 to" in proc.stdout and "of its energy" in proc.stdout
    bad = run_cli("deconvolve", tmp_path / "in.tif", "--psf", tmp_path / "psf.tif",
                  "--crop-psf", "2", "-o", tmp_path / "x.tif")  # fmt: skip
    assert bad.returncode == 2 and "--crop-psf" in bad.stderr
