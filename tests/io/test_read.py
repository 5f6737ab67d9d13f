"""Tests for :mod:`bayesdeconv.io.read`: PNG and NPY values, read errors, real files."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from bayesdeconv.io import ImageReadError, read_image, write_image, write_npy

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LEVIN_BLURRED = SHARED_DATA / "levin2009" / "blurred" / "im1_kernel1_img.png"
BARS_DATA = SHARED_DATA / "fluorescence" / "flowdec_bars_25pct" / "data.tif"


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


# --------------------------------------------------------------------------------------------
# NPY
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
