"""Tests for :mod:`bayesdeconv.io`: round trips, value scaling, error handling, atomicity."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from bayesdeconv import io as bio
from bayesdeconv.io import (
    ImageData,
    ImageReadError,
    read_image,
    write_image,
    write_npy,
    write_png,
    write_tiff,
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LEVIN_BLURRED = SHARED_DATA / "levin2009" / "blurred" / "im1_kernel1_img.png"
BARS_DATA = SHARED_DATA / "fluorescence" / "flowdec_bars_25pct" / "data.tif"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


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


def test_tiff_non_isotropic_xy_and_other_unit(tmp_path: Path):
    path = write_tiff(tmp_path / "nm.tif", np.ones((4, 6)), voxel_size=(65.0, 40.0), unit="nm")
    img = read_image(path)
    assert img.voxel_size == pytest.approx((65.0, 40.0), rel=1e-9)
    assert img.unit == "nm"


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


def test_write_tiff_overwrite_false(tmp_path: Path):
    path = write_tiff(tmp_path / "a.tif", np.ones((3, 3)))
    with pytest.raises(FileExistsError):
        write_tiff(path, np.zeros((3, 3)), overwrite=False)
    np.testing.assert_array_equal(read_image(path).array, np.ones((3, 3)))
    write_tiff(path, np.zeros((3, 3)))  # overwrite=True is the default
    np.testing.assert_array_equal(read_image(path).array, np.zeros((3, 3)))


@pytest.mark.parametrize(
    ("array", "voxel_size", "match"),
    [
        (np.zeros(5), None, "2-D or 3-D"),
        (np.zeros((2, 2, 2, 2)), None, "2-D or 3-D"),
        (np.zeros((3, 3), dtype=complex), None, "real numeric"),
        (np.zeros((3, 3)), (0.1,), "voxel_size has 1 entries"),
        (np.zeros((3, 3)), (0.1, -1.0), "positive"),
    ],
)
def test_write_tiff_rejects_bad_input(tmp_path: Path, array, voxel_size, match):
    with pytest.raises(ValueError, match=match):
        write_tiff(tmp_path / "bad.tif", array, voxel_size=voxel_size)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# PNG
# --------------------------------------------------------------------------------------------


def test_png_8bit_scaled_to_unit_interval(tmp_path: Path):
    data = np.array([[0, 51, 255], [128, 1, 254]], dtype=np.uint8)
    path = tmp_path / "g8.png"
    Image.fromarray(data).save(path)
    img = read_image(path)
    assert img.array.dtype == np.float64
    np.testing.assert_allclose(img.array, data / 255.0)
    assert img.voxel_size is None and img.unit is None


def test_png_16bit_scaled_to_unit_interval(tmp_path: Path):
    data = np.array([[0, 1000, 65535], [32768, 1, 12345]], dtype=np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(data).save(path)
    img = read_image(path)
    np.testing.assert_allclose(img.array, data / 65535.0)
    assert img.array.max() == 1.0


def test_png_rgb_converted_to_grayscale_with_warning(tmp_path: Path):
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (0, 0, 255)
    rgb[1, :] = (255, 255, 255)
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    with pytest.warns(UserWarning, match="converted colour image to grayscale"):
        img = read_image(path)
    assert img.array.shape == (2, 3)
    np.testing.assert_allclose(img.array[0], [0.299, 0.587, 0.114])
    np.testing.assert_allclose(img.array[1], 1.0)


def test_png_rgba_converted_to_grayscale_with_warning(tmp_path: Path):
    rgba = np.full((2, 2, 4), 255, dtype=np.uint8)
    rgba[..., 3] = 10  # alpha is ignored
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    with pytest.warns(UserWarning, match="converted colour image to grayscale"):
        img = read_image(path, ndim=2)
    np.testing.assert_allclose(img.array, 1.0)


def test_png_grayscale_does_not_warn(tmp_path: Path):
    path = tmp_path / "g.png"
    Image.fromarray(np.zeros((3, 3), dtype=np.uint8)).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image(path)


def test_write_png_minmax_rescale_round_trip(tmp_path: Path):
    data = np.array([[-2.0, 0.0], [1.0, 2.0]])
    path = write_png(tmp_path / "view.png", data)
    stored = np.asarray(Image.open(path))
    assert stored.dtype == np.uint8
    np.testing.assert_array_equal(stored, [[0, 128], [191, 255]])
    np.testing.assert_allclose(read_image(path).array, stored / 255.0)


def test_write_png_constant_and_nonfinite(tmp_path: Path):
    path = write_png(tmp_path / "const.png", np.full((2, 2), 7.0))
    np.testing.assert_array_equal(np.asarray(Image.open(path)), 0)
    path = write_png(tmp_path / "nan.png", np.array([[np.nan, 0.0], [1.0, np.inf]]))
    np.testing.assert_array_equal(np.asarray(Image.open(path)), [[0, 0], [255, 255]])


def test_write_png_rejects_3d(tmp_path: Path):
    with pytest.raises(ValueError, match="2-D"):
        write_png(tmp_path / "x.png", np.zeros((2, 3, 3)))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# NPY and write_image dispatch
# --------------------------------------------------------------------------------------------


def test_npy_round_trip(tmp_path: Path, rng: np.random.Generator):
    data = rng.normal(size=(4, 5, 6))
    path = write_npy(tmp_path / "a.npy", data)
    img = read_image(path)
    np.testing.assert_array_equal(img.array, data)
    assert img.voxel_size is None and img.unit is None


def test_npy_integers_not_rescaled_and_squeezed(tmp_path: Path):
    data = np.arange(6, dtype=np.int32).reshape(1, 2, 3, 1) * 1000
    path = write_npy(tmp_path / "i.npy", data)
    img = read_image(path)
    assert img.array.dtype == np.float64
    assert img.array.shape == (2, 3)
    np.testing.assert_array_equal(img.array, data.reshape(2, 3))


def test_write_image_dispatch(tmp_path: Path):
    data = np.arange(12.0).reshape(3, 4)
    write_image(tmp_path / "a.tif", data, voxel_size=(0.2, 0.2))
    img = read_image(tmp_path / "a.tif")
    np.testing.assert_array_equal(img.array, data)
    assert img.voxel_size == pytest.approx((0.2, 0.2))

    write_image(tmp_path / "a.npy", data)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), data)

    write_image(tmp_path / "a.PNG", data)
    assert np.asarray(Image.open(tmp_path / "a.PNG")).max() == 255

    with pytest.warns(UserWarning, match="voxel_size is not stored"):
        write_image(tmp_path / "b.npy", data, voxel_size=(1.0, 1.0))

    with pytest.raises(ValueError, match=r"unsupported output file type '\.jpg'"):
        write_image(tmp_path / "a.jpg", data)


# --------------------------------------------------------------------------------------------
# Read errors
# --------------------------------------------------------------------------------------------


def _one_line(exc: pytest.ExceptionInfo[ImageReadError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nope.tif"
    with pytest.raises(ImageReadError, match="file not found") as exc:
        read_image(path)
    assert str(path) in _one_line(exc)


def test_directory(tmp_path: Path):
    folder = tmp_path / "folder.tif"
    folder.mkdir()
    with pytest.raises(ImageReadError, match="is a directory") as exc:
        read_image(folder)
    assert str(folder) in _one_line(exc)


@pytest.mark.parametrize("name", ["empty.tif", "empty.png", "empty.npy"])
def test_empty_file(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match="is empty") as exc:
        read_image(path)
    assert str(path) in _one_line(exc)


@pytest.mark.parametrize("name", ["image.jpg", "image", "data.npz"])
def test_unsupported_suffix(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(b"some bytes")
    with pytest.raises(ImageReadError, match="unsupported file type") as exc:
        read_image(path)
    message = _one_line(exc)
    assert str(path) in message
    for suffix in (".tif", ".tiff", ".png", ".npy"):
        assert suffix in message


@pytest.mark.parametrize("name", ["bad.tif", "bad.tiff", "bad.png", "bad.npy"])
def test_corrupt_bytes(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(b"\x00\x01garbage, certainly not an image\xff" * 3)
    with pytest.raises(ImageReadError, match=f"cannot read {re.escape(str(path))}: ") as exc:
        read_image(path)
    _one_line(exc)
    if name.endswith(".npy"):
        assert "not a .npy file" in str(exc.value)


@pytest.mark.parametrize("name", ["trunc.tif", "trunc.png", "trunc.npy"])
def test_truncated_file(tmp_path: Path, name: str):
    path = tmp_path / name
    write_image(path, np.random.default_rng(0).uniform(size=(64, 64)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match="cannot read") as exc:
        read_image(path)
    _one_line(exc)


def test_1d_array_rejected(tmp_path: Path):
    path = tmp_path / "line.npy"
    np.save(path, np.arange(10.0).reshape(1, 10))
    with pytest.raises(ImageReadError, match=r"expected a 2-D or 3-D image, got shape \(1, 10\)"):
        read_image(path)


def test_4d_array_rejected(tmp_path: Path):
    path = tmp_path / "hyper.npy"
    np.save(path, np.zeros((2, 3, 4, 5)))
    with pytest.raises(ImageReadError, match=r"expected a 2-D or 3-D image, got shape"):
        read_image(path)


def test_4d_tiff_rejected(tmp_path: Path):
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, np.zeros((2, 3, 4, 5), dtype=np.float32), photometric="minisblack")
    with pytest.raises(ImageReadError, match="expected a 2-D or 3-D image"):
        read_image(path)


def test_complex_npy_rejected(tmp_path: Path):
    path = tmp_path / "c.npy"
    np.save(path, np.ones((3, 3), dtype=np.complex128))
    with pytest.raises(ImageReadError, match="complex"):
        read_image(path)


def test_non_numeric_npy_rejected(tmp_path: Path):
    path = tmp_path / "s.npy"
    np.save(path, np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ImageReadError, match="non-numeric"):
        read_image(path)


def test_object_npy_rejected_without_unpickling(tmp_path: Path):
    path = tmp_path / "o.npy"
    np.save(path, np.array([[1, None], [2, 3]], dtype=object), allow_pickle=True)
    with pytest.raises(ImageReadError, match="holds Python objects"):
        read_image(path)


def test_npz_disguised_as_npy_rejected(tmp_path: Path):
    path = tmp_path / "z.npy"
    with open(path, "wb") as handle:
        np.savez(handle, a=np.zeros((3, 3)))
    with pytest.raises(ImageReadError, match="npz"):
        read_image(path)


def test_ndim_mismatch(tmp_path: Path):
    path = write_npy(tmp_path / "flat.npy", np.zeros((4, 4)))
    with pytest.raises(ImageReadError, match="expected a 3-D image, got a 2-D image"):
        read_image(path, ndim=3)
    assert read_image(path, ndim=2).ndim == 2
    with pytest.raises(ValueError, match="ndim must be"):
        read_image(path, ndim=4)


def test_empty_array_rejected(tmp_path: Path):
    path = write_npy(tmp_path / "none.npy", np.zeros((0, 5)))
    with pytest.raises(ImageReadError, match="no pixels"):
        read_image(path)


def test_image_read_error_is_value_error():
    assert issubclass(ImageReadError, ValueError)


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


def _fail_tiff_write(*args, **kwargs):
    Path(args[0]).write_bytes(b"partial")  # simulate a half-written file
    raise RuntimeError("disk full")


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tifffile, "imwrite", _fail_tiff_write)
    with pytest.raises(RuntimeError, match="disk full"):
        write_tiff(tmp_path / "out.tif", np.ones((3, 3)))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write_tiff(tmp_path / "out.tif", np.full((3, 3), 5.0))
    before = path.read_bytes()
    monkeypatch.setattr(tifffile, "imwrite", _fail_tiff_write)
    with pytest.raises(RuntimeError):
        write_tiff(path, np.zeros((3, 3)))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


@pytest.mark.parametrize("name", ["out.npy", "out.png"])
def test_failed_npy_png_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
):
    def boom(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(np, "save", boom)
    monkeypatch.setattr(Image.Image, "save", boom)
    existing = tmp_path / "keep.npy"
    existing.write_bytes(b"old")
    with pytest.raises(OSError, match="no space"):
        write_image(tmp_path / name, np.ones((3, 3)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npy"]


def test_atomic_write_helper(tmp_path: Path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    seen: list[str] = []

    def writer(name: str) -> None:
        seen.append(name)
        assert Path(name).parent == tmp_path
        assert Path(name).suffix == ".txt"
        Path(name).write_text("new")

    bio.atomic_write(target, writer)
    assert target.read_text() == "new"
    assert not Path(seen[0]).exists()
    with pytest.raises(FileExistsError):
        bio.atomic_write(target, writer, overwrite=False)


def test_direct_writes_skip_the_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "direct.tif"
    seen: list[str] = []
    real_imwrite = tifffile.imwrite

    def imwrite(name, *args, **kwargs):
        seen.append(str(name))
        return real_imwrite(name, *args, **kwargs)

    monkeypatch.setattr(tifffile, "imwrite", imwrite)
    with bio.direct_writes():
        write_tiff(target, np.ones((3, 3)))
        with pytest.raises(FileExistsError):
            write_tiff(target, np.ones((3, 3)), overwrite=False)
    assert seen == [str(target)]
    np.testing.assert_array_equal(read_image(target).array, np.ones((3, 3)))
    # outside the context, writes are atomic again (through a temporary sibling)
    write_tiff(target, np.zeros((3, 3)))
    assert seen[1] != str(target) and Path(seen[1]).parent == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct.tif"]


def test_written_file_has_normal_permissions(tmp_path: Path):
    path = write_npy(tmp_path / "perm.npy", np.zeros((2, 2)))
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# --------------------------------------------------------------------------------------------
# Real benchmark files (shared data folder)
# --------------------------------------------------------------------------------------------


def test_levin_blurred_png():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found: {SHARED_DATA}")
    img = read_image(LEVIN_BLURRED, ndim=2)
    assert img.array.shape == (255, 255)
    assert img.array.dtype == np.float64
    assert 0.0 <= img.array.min() < img.array.max() <= 1.0
    # 8-bit values divided by 255: multiplying back gives integers
    np.testing.assert_allclose(img.array * 255, np.round(img.array * 255), atol=1e-9)


def test_fluorescence_bars_tiff():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found: {SHARED_DATA}")
    img = read_image(BARS_DATA, ndim=3)
    assert img.array.shape == (32, 64, 64)
    assert img.array.dtype == np.float64
    np.testing.assert_array_equal(img.array, tifffile.imread(BARS_DATA).astype(np.float64))
