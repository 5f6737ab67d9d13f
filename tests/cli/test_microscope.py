"""Microscope habits of ``bayesdeconv deconvolve``: ``--psf widefield`` from the file's voxel
size (or ``--voxel-size``), saturated integer voxels, and PSFs with the wrong number of axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from bayesdeconv.cli import main
from bayesdeconv.io import read_image
from bayesdeconv.physics.psf import gaussian_psf

VOXEL = {"PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.3}
WIDEFIELD = ["--psf", "widefield", "--wavelength", "0.52", "--na", "1.0",
             "--refractive-index", "1.33"]  # fmt: skip
FAST = ["--steps", "3", "--boundary", "circular"]


def _stack(path: Path, *, ome: bool = True, dtype=np.uint16) -> Path:
    counts = np.random.default_rng(0).poisson(100, (9, 24, 24)).astype(dtype)
    if ome:
        tifffile.imwrite(path, counts, ome=True, metadata={"axes": "ZYX", **VOXEL})
    else:
        tifffile.imwrite(path, counts, photometric="minisblack")
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("bayesdeconv: error: ") and "\n" not in err, err
    return err


def test_widefield_psf_from_the_ome_voxel_size(tmp_path: Path, capsys):
    stack, out, psf_out = _stack(tmp_path / "s.ome.tif"), tmp_path / "o.tif", tmp_path / "p.tif"
    args = ["deconvolve", str(stack), *WIDEFIELD, "-o", str(out), "--psf-output", str(psf_out)]
    assert main([*args, *FAST]) == 0
    assert "widefield PSF 9x23x23 on 0.3 x 0.1 x 0.1 um voxels" in capsys.readouterr().out
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].dtype == np.float32  # uint16 in, float32 out
    result = read_image(out)
    assert result.voxel_size == pytest.approx((0.3, 0.1, 0.1)) and result.unit == "um"
    psf = read_image(psf_out).array
    assert psf.shape == (9, 23, 23) and psf.sum() == pytest.approx(1.0, rel=1e-5)


def test_voxel_size_option_overrides_the_file(tmp_path: Path, capsys):
    stack, out = _stack(tmp_path / "s.ome.tif"), tmp_path / "o.tif"
    args = ["deconvolve", str(stack), *WIDEFIELD, "--voxel-size", "0.5,0.12,0.12", "-q"]
    assert main([*args, "-o", str(out), *FAST]) == 0
    assert capsys.readouterr().out == ""  # -q: no notes
    assert read_image(out).voxel_size == pytest.approx((0.5, 0.12, 0.12))


def test_voxel_size_needed_when_the_file_has_none(tmp_path: Path, capsys):
    stack = _stack(tmp_path / "plain.tif", ome=False)
    assert main(["deconvolve", str(stack), *WIDEFIELD, "-o", str(tmp_path / "o.tif")]) == 2
    assert "records no voxel size; pass --voxel-size Z,Y,X" in _error_line(capsys)
    assert not (tmp_path / "o.tif").exists()
    args = ["deconvolve", str(stack), *WIDEFIELD, "--voxel-size", "0.3,0.1,0.1"]
    assert main([*args, "-o", str(tmp_path / "o.tif"), *FAST, "-q"]) == 0


@pytest.mark.parametrize("value", ["0,0.1,0.1", "0.3,-0.1,0.1", "nan,0.1,0.1", "inf,1,1", "a,b,c"])
def test_voxel_size_must_be_positive(tmp_path: Path, capsys, value: str):
    stack = _stack(tmp_path / "s.ome.tif")
    code = main(["deconvolve", str(stack), *WIDEFIELD, "--voxel-size", value, "-o", "o.tif"])
    assert code == 2
    assert "--voxel-size" in _error_line(capsys)


def test_voxel_size_needs_one_entry_per_axis(tmp_path: Path, capsys):
    stack = _stack(tmp_path / "s.ome.tif")
    args = ["deconvolve", str(stack), *WIDEFIELD, "--voxel-size", "0.1,0.1"]
    assert main([*args, "-o", str(tmp_path / "o.tif")]) == 2
    assert "--voxel-size has 2 values but" in _error_line(capsys)


def test_anisotropic_lateral_pixels_are_refused(tmp_path: Path, capsys):
    stack = _stack(tmp_path / "s.ome.tif")
    args = ["deconvolve", str(stack), *WIDEFIELD, "--voxel-size", "0.3,0.1,0.2"]
    assert main([*args, "-o", str(tmp_path / "o.tif")]) == 2
    assert "anisotropic lateral pixels" in _error_line(capsys)


def test_voxel_size_in_an_unknown_unit_is_refused(tmp_path: Path, capsys):
    path = tmp_path / "arb.tif"
    data = np.ones((9, 24, 24), dtype=np.float32)
    tifffile.imwrite(path, data, imagej=True, resolution=(10, 10),
                     metadata={"axes": "ZYX", "spacing": 0.3, "unit": "furlong"})  # fmt: skip
    assert main(["deconvolve", str(path), *WIDEFIELD, "-o", str(tmp_path / "o.tif")]) == 2
    assert "'furlong', not micrometres" in _error_line(capsys)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--psf", "widefield", "--wavelength", "0.52"], "needs --wavelength UM and --na NA"),
        (["--psf", "widefield", "--wavelength", "0.52", "--na", "1.6"], "cannot exceed"),
        (["--psf", "widefield", "--wavelength", "-1", "--na", "1"], "--wavelength must be"),
        ([*WIDEFIELD, "--blind"], "fixed PSF"),
        ([*WIDEFIELD, "--normalise-psf"], "--normalise-psf"),
        (["--psf", "psf.npy", "--na", "1.2"], "only used with --psf widefield"),
    ],
)
def test_widefield_usage_errors(tmp_path: Path, capsys, extra: list[str], message: str):
    stack = _stack(tmp_path / "s.ome.tif")
    assert main(["deconvolve", str(stack), *extra, "-o", str(tmp_path / "o.tif")]) == 2
    assert message in _error_line(capsys)


def test_widefield_2d_image_uses_the_in_focus_plane(tmp_path: Path, capsys):
    path, out = tmp_path / "plane.ome.tif", tmp_path / "o.tif"
    counts = np.random.default_rng(1).poisson(50, (32, 32)).astype(np.uint16)
    metadata = {"axes": "YX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1}
    tifffile.imwrite(path, counts, ome=True, metadata=metadata)
    args = ["deconvolve", str(path), *WIDEFIELD, "-o", str(out), *FAST]
    assert main([*args, "--crop-psf", "0.99"]) == 0
    printed = capsys.readouterr().out
    assert "widefield PSF 21x21 on 0.1 x 0.1 um voxels" in printed and "PSF cropped" in printed
    assert read_image(out).voxel_size == pytest.approx((0.1, 0.1))


# ---------------------------------------------------------------------------------------------
# Saturated voxels
# ---------------------------------------------------------------------------------------------


def _saturated_plane(path: Path, share: float, dtype=np.uint16) -> Path:
    top = np.iinfo(dtype).max
    rng = np.random.default_rng(2)
    counts = rng.poisson(40, (32, 32)).astype(dtype)
    counts.flat[: int(share * counts.size)] = top
    tifffile.imwrite(path, counts)
    return path


@pytest.mark.parametrize(("dtype", "top"), [(np.uint16, 65535), (np.uint8, 255)])
def test_saturated_voxels_are_masked(tmp_path: Path, capsys, dtype, top: int):
    image = _saturated_plane(tmp_path / "sat.tif", 0.05, dtype)
    np.save(tmp_path / "psf.npy", gaussian_psf(7, 1.2))
    out = tmp_path / "o.tif"
    args = ["deconvolve", str(image), "--psf", str(tmp_path / "psf.npy"), "-o", str(out), *FAST]
    assert main(args) == 0
    count = int(0.05 * 32 * 32)
    assert f"masked {count} saturated voxels (value {top})" in capsys.readouterr().out
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].dtype == np.float32
    assert np.isfinite(read_image(out).array).all()
    assert main([*args, "--keep-saturated"]) == 0
    assert "masked" not in capsys.readouterr().out
    assert main([*args, "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_saturated_voxels_combine_with_the_mask(tmp_path: Path, capsys):
    image = _saturated_plane(tmp_path / "sat.tif", 0.05)
    np.save(tmp_path / "psf.npy", gaussian_psf(7, 1.2))
    mask = np.ones((32, 32), dtype=np.uint8)
    mask[0, :10] = 0  # ten of the 51 saturated voxels are unobserved anyway
    np.save(tmp_path / "mask.npy", mask)
    args = ["deconvolve", str(image), "--psf", str(tmp_path / "psf.npy"),
            "--mask", str(tmp_path / "mask.npy"), "-o", str(tmp_path / "o.tif"), *FAST]  # fmt: skip
    assert main(args) == 0
    assert "masked 41 saturated voxels (value 65535)" in capsys.readouterr().out


@pytest.mark.parametrize("share", [0.6, 1.0])
def test_mostly_saturated_image_is_refused(tmp_path: Path, capsys, share: float):
    image = _saturated_plane(tmp_path / "sat.tif", share)
    np.save(tmp_path / "psf.npy", gaussian_psf(7, 1.2))
    out = tmp_path / "o.tif"
    assert main(["deconvolve", str(image), "--psf", str(tmp_path / "psf.npy"), "-o", str(out)]) == 2
    line = _error_line(capsys)
    assert "are saturated (value 65535)" in line and "--keep-saturated" in line
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# PSF with more (or fewer) axes than the image
# ---------------------------------------------------------------------------------------------


def test_3d_psf_for_a_2d_image(tmp_path: Path, capsys):
    image = _saturated_plane(tmp_path / "plane.tif", 0.0)
    psf = np.full((3, 5, 5), 1 / 75)
    np.save(tmp_path / "psf3.npy", psf)
    args = ["deconvolve", str(image), "--psf", str(tmp_path / "psf3.npy"), "-o", "o.tif"]
    assert main(args) == 2
    line = _error_line(capsys)
    assert "is 3-D (shape (3, 5, 5)) but the image is 2-D (shape (32, 32))" in line
    assert "2-D PSF (y, x)" in line


def test_2d_psf_for_a_stack(tmp_path: Path, capsys):
    stack = _stack(tmp_path / "s.ome.tif")
    np.save(tmp_path / "psf2.npy", gaussian_psf(5, 1.0))
    args = ["deconvolve", str(stack), "--psf", str(tmp_path / "psf2.npy"), "-o", "o.tif"]
    assert main(args) == 2
    line = _error_line(capsys)
    assert "is 2-D (shape (5, 5)) but the image is 3-D (shape (9, 24, 24))" in line
    assert "3-D PSF (z, y, x), such as --psf widefield" in line
