"""Tests for :mod:`bayesdeconv.io.tiff_reader`: TIFF axes, colour samples, voxel sizes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from bayesdeconv.io import ImageData, ImageReadError, read_image, write_tiff

# --------------------------------------------------------------------------------------------
# TIFF
# --------------------------------------------------------------------------------------------


def test_tiff_2d_round_trip_values_and_voxel_size(tmp_path: Path, rng: np.random.Generator):
    data = rng.normal(100.0, 20.0, size=(17, 23))
    path = write_tiff(tmp_path / "img.tif", data, voxel_size=(0.2, 0.1), unit="um")
    assert path == tmp_path / "img.tif"

    img = read_image(path)
    assert isinstance(img, ImageData)
    assert img.array.dtype == np.float64
    assert img.array.shape == (17, 23)
    np.testing.assert_array_equal(img.array, data.astype(np.float32).astype(np.float64))
    assert img.voxel_size == pytest.approx((0.2, 0.1), rel=1e-9)
    assert img.unit == "um"
    # stored as float32 on disk
    assert tifffile.imread(path).dtype == np.float32


def test_tiff_3d_round_trip_values_and_voxel_size(tmp_path: Path, rng: np.random.Generator):
    data = rng.uniform(0.0, 5.0, size=(5, 12, 9))
    path = tmp_path / "stack.TIFF"  # suffix is case-insensitive
    write_tiff(path, data, voxel_size=(0.3, 0.1, 0.1))

    img = read_image(path, ndim=3)
    np.testing.assert_allclose(img.array, data, rtol=1e-6)
    np.testing.assert_array_equal(img.array, data.astype(np.float32))
    assert img.voxel_size == pytest.approx((0.3, 0.1, 0.1), rel=1e-9)
    assert img.unit == "um"
    assert img.ndim == 3 and img.shape == (5, 12, 9)


def test_tiff_without_voxel_size_reads_none(tmp_path: Path):
    path = write_tiff(tmp_path / "plain.tif", np.arange(12.0).reshape(3, 4))
    img = read_image(path)
    assert img.voxel_size is None
    assert img.unit is None


def test_tiff_non_isotropic_xy_in_nm_converted_to_um(tmp_path: Path):
    path = write_tiff(tmp_path / "nm.tif", np.ones((4, 6)), voxel_size=(65.0, 40.0), unit="nm")
    img = read_image(path)
    assert img.voxel_size == pytest.approx((0.065, 0.040), rel=1e-9)
    assert img.unit == "um"


def test_tiff_unknown_unit_kept(tmp_path: Path):
    path = write_tiff(tmp_path / "arb.tif", np.ones((4, 6)), voxel_size=(2.0, 3.0), unit="furlong")
    img = read_image(path)
    assert img.voxel_size == pytest.approx((2.0, 3.0), rel=1e-9)
    assert img.unit == "furlong"


def test_tiff_integer_counts_keep_values(tmp_path: Path):
    counts = np.array([[0, 1, 4000], [65535, 7, 12]], dtype=np.uint16)
    path = tmp_path / "counts.tif"
    tifffile.imwrite(path, counts)
    img = read_image(path)
    assert img.array.dtype == np.float64
    np.testing.assert_array_equal(img.array, counts.astype(np.float64))
    assert img.voxel_size is None  # tifffile's default resolution 1 is ignored


def test_tiff_centimetre_resolution_is_converted_to_um(tmp_path: Path):
    path = tmp_path / "cm.tif"
    # 1e4 pixels per cm = 1 um pixels in y; 5e3 per cm = 2 um in x
    tifffile.imwrite(
        path,
        np.zeros((3, 4), dtype=np.uint8),
        resolution=(5000.0, 10000.0),
        resolutionunit="CENTIMETER",
    )
    img = read_image(path)
    assert img.voxel_size == pytest.approx((1.0, 2.0))
    assert img.unit == "um"


def test_tiff_inch_print_resolution_is_ignored(tmp_path: Path):
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(
        path, np.zeros((3, 4), dtype=np.uint8), resolution=(72.0, 72.0), resolutionunit="INCH"
    )
    assert read_image(path).voxel_size is None


def test_tiff_singleton_axes_squeezed_with_voxel_size(tmp_path: Path):
    data = np.arange(20.0, dtype=np.float32).reshape(1, 4, 5)
    path = write_tiff(tmp_path / "one_slice.tif", data, voxel_size=(0.5, 0.25, 0.125))
    img = read_image(path)
    assert img.array.shape == (4, 5)
    assert img.voxel_size == pytest.approx((0.25, 0.125))


def test_tiff_keeps_nan_and_inf(tmp_path: Path):
    data = np.array([[np.nan, 1.0], [np.inf, -np.inf]])
    img = read_image(write_tiff(tmp_path / "nan.tif", data))
    assert np.isnan(img.array[0, 0])
    assert img.array[1, 0] == np.inf and img.array[1, 1] == -np.inf


def test_imagej_micron_spelling_normalised(tmp_path: Path):
    path = tmp_path / "micron.tif"
    tifffile.imwrite(
        path,
        np.zeros((2, 3, 4), dtype=np.float32),
        imagej=True,
        resolution=(1 / 0.2, 1 / 0.2),
        metadata={"spacing": 0.5, "unit": "micron", "axes": "ZYX"},
    )
    img = read_image(path)
    assert img.voxel_size == pytest.approx((0.5, 0.2, 0.2))
    assert img.unit == "um"


LUMA = np.array([0.299, 0.587, 0.114])


def _series_axes(path: Path) -> str:
    with tifffile.TiffFile(path) as tif:
        return str(tif.series[0].axes)


def test_tiff_rgb_converted_to_grayscale_with_warning(tmp_path: Path, rng: np.random.Generator):
    rgb = rng.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    assert _series_axes(path) == "YXS"
    with pytest.warns(UserWarning, match="converted colour image to grayscale"):
        img = read_image(path)
    assert img.shape == (5, 6)
    # TIFF integers are not rescaled, unlike PNG
    np.testing.assert_allclose(img.array, rgb.astype(np.float64) @ LUMA)


def test_tiff_rgba_converted_to_grayscale_with_warning(tmp_path: Path, rng: np.random.Generator):
    rgba = rng.integers(0, 256, size=(5, 6, 4), dtype=np.uint8)
    path = tmp_path / "rgba.tif"
    tifffile.imwrite(path, rgba, photometric="rgb", extrasamples=["unassalpha"])
    with pytest.warns(UserWarning, match="converted colour image to grayscale"):
        img = read_image(path)
    np.testing.assert_allclose(img.array, rgba[..., :3].astype(np.float64) @ LUMA)


def test_tiff_planar_rgb_and_rgb_stack(tmp_path: Path, rng: np.random.Generator):
    planar = rng.random((3, 5, 6)).astype(np.float32)  # axes "SYX"
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, planar, photometric="rgb", planarconfig="separate")
    with pytest.warns(UserWarning, match="grayscale"):
        img = read_image(path)
    np.testing.assert_allclose(img.array, np.moveaxis(planar, 0, -1).astype(np.float64) @ LUMA)

    stack = rng.integers(0, 256, size=(2, 5, 6, 3), dtype=np.uint8)  # axes "QYXS"
    path = tmp_path / "rgb_stack.tif"
    tifffile.imwrite(path, stack, photometric="rgb")
    with pytest.warns(UserWarning, match="grayscale"):
        img = read_image(path)
    assert img.shape == (2, 5, 6)


def test_tiff_rgb_keeps_voxel_size(tmp_path: Path):
    path = tmp_path / "rgb_res.tif"
    tifffile.imwrite(
        path,
        np.zeros((5, 6, 3), dtype=np.uint8),
        photometric="rgb",
        resolution=(1 / 0.25, 1 / 0.25),
        resolutionunit="NONE",
    )
    with pytest.warns(UserWarning):
        img = read_image(path)
    assert img.voxel_size == pytest.approx((0.25, 0.25))


@pytest.mark.parametrize("axes", ["TYX", "CYX"])
@pytest.mark.parametrize("imagej", [True, False])
def test_tiff_time_or_channel_axis_rejected(tmp_path: Path, axes: str, imagej: bool):
    path = tmp_path / f"{axes}.tif"
    data = np.zeros((3, 5, 6), dtype=np.float32)
    extra = {} if imagej else {"photometric": "minisblack"}
    tifffile.imwrite(path, data, imagej=imagej, metadata={"axes": axes}, **extra)
    assert _series_axes(path) == axes
    with pytest.raises(ImageReadError, match="has a time/channel axis") as info:
        read_image(path)
    message = str(info.value)
    assert str(path) in message and "z-stack" in message and "\n" not in message


def test_tiff_hyperstack_with_time_axis_rejected(tmp_path: Path):
    path = tmp_path / "tzyx.tif"
    data = np.zeros((2, 3, 5, 6), dtype=np.float32)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZYX"})
    with pytest.raises(ImageReadError, match="time/channel axis"):
        read_image(path)


def test_tiff_single_time_point_is_an_image(tmp_path: Path):
    path = tmp_path / "t1.tif"
    data = np.arange(30.0, dtype=np.float32).reshape(1, 5, 6)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TYX"})
    np.testing.assert_array_equal(read_image(path).array, data[0])


@pytest.mark.parametrize("depth", [3, 4, 5])
def test_tiff_z_stacks_stay_3d(tmp_path: Path, depth: int, rng: np.random.Generator):
    data = rng.random((depth, 5, 6)).astype(np.float32)
    ij = tmp_path / "ij.tif"
    tifffile.imwrite(ij, data, imagej=True, metadata={"axes": "ZYX"})
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, data, photometric="minisblack")
    assert _series_axes(plain) in ("QYX", "IYX")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in (ij, plain):
            np.testing.assert_array_equal(read_image(path).array, data)
