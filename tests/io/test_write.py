"""Tests for :mod:`bayesdeconv.io.write`: TIFF, PNG and NPY writers and the dispatcher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bayesdeconv.io import read_image, write_image, write_png, write_tiff

# --------------------------------------------------------------------------------------------
# TIFF
# --------------------------------------------------------------------------------------------


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
# write_image dispatch
# --------------------------------------------------------------------------------------------


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
