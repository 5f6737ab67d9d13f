"""``bayesdeconv deconvolve`` and ``--version``: the success paths."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile

from bayesdeconv import __version__
from bayesdeconv.cli import main
from bayesdeconv.io import read_image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _tiff(path):
    with tifffile.TiffFile(path) as tif:
        return tif.asarray()


def test_version_in_process(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"bayesdeconv {__version__}"


def test_all_outputs(inputs, run_cli):
    import arviz as az

    folder = inputs.folder
    out, std, psf_out = folder / "mean.tif", folder / "std.tif", folder / "psf_out.tif"
    report, nc = folder / "report.png", folder / "posterior.nc"
    proc = run_cli(
        "deconvolve", inputs.image, "--psf", inputs.psf, "-o", out,
        "--std-output", std, "--psf-output", psf_out, "--report", report, "--arviz", nc,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr

    mean_data, std_data = _tiff(out), _tiff(std)
    for data in (mean_data, std_data):
        assert data.dtype == np.float32
        assert data.shape == inputs.array.shape
        assert np.isfinite(data).all()
    assert (std_data > 0).all()
    # the deconvolved image stays on the data's scale
    assert abs(float(mean_data.mean()) - float(inputs.array.mean())) < 0.1

    # the input's voxel size is kept
    assert read_image(out).voxel_size == pytest.approx((0.1, 0.1), rel=1e-6)
    assert read_image(out).unit == "um"

    psf_data = _tiff(psf_out)
    assert psf_data.dtype == np.float32
    np.testing.assert_allclose(psf_data, inputs.psf_array, atol=1e-7)

    assert report.read_bytes()[:8] == PNG_MAGIC
    idata = az.from_netcdf(nc)
    assert "image" in idata.posterior
    assert idata.posterior["image"].shape[-2:] == inputs.array.shape

    # one summary line naming the method and every output
    summary = proc.stdout.strip().splitlines()
    assert len(summary) == 1
    assert "ivb" in summary[0]
    for path in (out, std, psf_out, report, nc):
        assert str(path) in summary[0]
    # no temporary files left behind
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["image.tif", "psf.npy", "mean.tif", "std.tif", "psf_out.tif", "report.png", "posterior.nc"]
    )


def test_quiet_svi_prints_nothing(inputs, capfd):
    out = inputs.folder / "out.tif"
    args = [
        "deconvolve", inputs.image, "--psf", inputs.psf, "-o", out,
        "--method", "svi", "--steps", "10", "--seed", "1", "--boundary", "circular", "--quiet",
    ]  # fmt: skip
    code = main([str(a) for a in args])
    captured = capfd.readouterr()  # file-descriptor level: catches any stray output
    assert code == 0, captured.err
    assert captured.out == ""
    assert captured.err == ""
    assert _tiff(out).shape == inputs.array.shape


def test_in_process_map_with_mask_and_png(inputs, capsys):
    from PIL import Image

    folder = inputs.folder
    image = folder / "image.png"
    scaled = np.clip(inputs.array, 0, 1)
    Image.fromarray(np.round(scaled * 255).astype(np.uint8)).save(image)
    mask = np.ones(inputs.array.shape, dtype=np.uint8)
    mask[10:14, 20:30] = 0
    np.save(folder / "mask.npy", mask)
    out = folder / "out.tiff"
    code = main(
        [
            "deconvolve", str(image), "--psf", str(inputs.psf), "-o", str(out),
            "--mask", str(folder / "mask.npy"), "--method", "map", "--steps", "20",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert re.search(r"map, 20 iterations", captured.out)
    data = _tiff(out)
    assert data.dtype == np.float32 and data.shape == inputs.array.shape
    assert read_image(out).voxel_size is None  # a PNG has no voxel size


def test_existing_output_is_overwritten(inputs):
    out = inputs.folder / "out.tif"
    out.write_bytes(b"old content")
    args = ["deconvolve", str(inputs.image), "--psf", str(inputs.psf), "-o", str(out), "-q"]
    assert main(args) == 0
    assert _tiff(out).shape == inputs.array.shape


def test_blind_writes_image_and_psf(inputs, capsys):
    folder = inputs.folder
    out, psf_out, std_out = folder / "out.tif", folder / "psf_est.tif", folder / "std.tif"
    code = main(
        [
            "deconvolve", str(inputs.image), "--blind", "--psf-size", "7", "-o", str(out),
            "--psf-output", str(psf_out), "--std-output", str(std_out), "--steps", "3", "-q",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert _tiff(out).shape == inputs.array.shape
    psf = _tiff(psf_out)
    assert psf.shape == (7, 7) and psf.min() >= 0 and psf.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.all(_tiff(std_out) > 0)


def test_blind_without_psf_size_estimates_the_support(inputs, capsys):
    out, psf_out = inputs.folder / "out.tif", inputs.folder / "psf_est.tif"
    code = main(
        [
            "deconvolve", str(inputs.image), "--blind", "-o", str(out),
            "--psf-output", str(psf_out), "--steps", "2",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    psf = _tiff(psf_out)
    assert psf.shape[0] == psf.shape[1] and psf.shape[0] % 2 == 1
    assert f"PSF support {psf.shape[0]}x{psf.shape[1]} (estimated" in captured.out


def test_gibbs_std_output_with_mask(inputs, capsys):
    folder = inputs.folder
    mask = np.ones(inputs.array.shape, dtype=np.uint8)
    mask[16:28, 16:28] = 0
    np.save(folder / "mask.npy", mask)
    out, std_out = folder / "out.tif", folder / "std.tif"
    code = main(
        [
            "deconvolve", str(inputs.image), "--psf", str(inputs.psf), "-o", str(out),
            "--prior", "sparse", "--method", "gibbs", "--steps", "20",
            "--mask", str(folder / "mask.npy"), "--std-output", str(std_out),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert re.search(r"gibbs, 120 iterations \(20 draws kept after burn-in\)", captured.out)
    std = _tiff(std_out)
    assert std.shape == inputs.array.shape and np.all(np.isfinite(std)) and np.all(std > 0)
