"""Microscope metadata: OME-XML voxel sizes, units, unusable values and saturated voxels."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from bayesdeconv.io import ImageData, read_image, write_tiff

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CONFOCAL_GRID = (
    SHARED_DATA
    / "fluorescence"
    / "bia_confocal_grid"
    / "DeconvolutionSampleVerticalGrid1AU-crop.tif"
)


def _ome(path: Path, data: np.ndarray, **metadata) -> Path:
    axes = "ZYX" if data.ndim == 3 else "YX"
    tifffile.imwrite(path, data, ome=True, metadata={"axes": axes, **metadata})
    return path


def test_ome_physical_sizes_default_to_micrometres(tmp_path: Path):
    data = np.zeros((3, 4, 5), dtype=np.uint16)
    path = _ome(
        tmp_path / "a.ome.tif", data, PhysicalSizeX=0.1, PhysicalSizeY=0.1, PhysicalSizeZ=0.3
    )
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and not tif.is_imagej
    img = read_image(path)
    assert img.voxel_size == pytest.approx((0.3, 0.1, 0.1))
    assert img.unit == "um"


@pytest.mark.parametrize(("unit", "scale"), [("nm", 1e-3), ("µm", 1.0), ("um", 1.0), ("mm", 1e3)])
def test_ome_units_converted_to_micrometres(tmp_path: Path, unit: str, scale: float):
    data = np.zeros((3, 4, 5), dtype=np.float32)
    path = _ome(
        tmp_path / "u.ome.tif",
        data,
        PhysicalSizeX=65.0,
        PhysicalSizeXUnit=unit,
        PhysicalSizeY=65.0,
        PhysicalSizeYUnit=unit,
        PhysicalSizeZ=200.0,
        PhysicalSizeZUnit=unit,
    )
    img = read_image(path)
    assert img.voxel_size == pytest.approx((200.0 * scale, 65.0 * scale, 65.0 * scale))
    assert img.unit == "um"


def test_ome_mixed_units_per_axis(tmp_path: Path):
    data = np.zeros((3, 4, 5), dtype=np.float32)
    sizes = {"PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 250.0}
    path = _ome(tmp_path / "m.ome.tif", data, PhysicalSizeZUnit="nm", **sizes)
    assert read_image(path).voxel_size == pytest.approx((0.25, 0.1, 0.1))


def test_ome_takes_precedence_over_resolution_tags_per_axis(tmp_path: Path):
    path = tmp_path / "p.ome.tif"
    tifffile.imwrite(
        path,
        np.zeros((3, 4, 5), dtype=np.float32),
        ome=True,
        resolution=(1e4 / 0.5, 1e4 / 0.5),  # 0.5 um pixels in the tags
        resolutionunit="CENTIMETER",
        metadata={"axes": "ZYX", "PhysicalSizeX": 0.1, "PhysicalSizeZ": 0.3},
    )
    img = read_image(path)
    # z and x from OME; y only in the tags
    assert img.voxel_size == pytest.approx((0.3, 0.5, 0.1))
    assert img.unit == "um"


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_unusable_ome_sizes_are_ignored_with_a_warning(tmp_path: Path, bad: float):
    data = np.zeros((3, 4, 5), dtype=np.float32)
    path = _ome(
        tmp_path / "b.ome.tif", data, PhysicalSizeX=bad, PhysicalSizeY=bad, PhysicalSizeZ=bad
    )
    with pytest.warns(UserWarning, match="ignored OME PhysicalSize"):
        img = read_image(path)
    assert img.voxel_size is None and img.unit is None


def test_unusable_ome_z_keeps_the_lateral_sizes(tmp_path: Path):
    data = np.zeros((3, 4, 5), dtype=np.float32)
    path = _ome(tmp_path / "z.ome.tif", data, PhysicalSizeX=0.1, PhysicalSizeY=0.1, PhysicalSizeZ=0)
    with pytest.warns(UserWarning, match="PhysicalSizeZ"):
        img = read_image(path)
    assert img.voxel_size == pytest.approx((1.0, 0.1, 0.1))  # uncalibrated axes get 1, as in ImageJ


def test_ome_pixel_unit_means_uncalibrated(tmp_path: Path):
    data = np.zeros((4, 5), dtype=np.float32)
    path = _ome(tmp_path / "px.ome.tif", data, PhysicalSizeX=1.0, PhysicalSizeXUnit="pixel")
    assert read_image(path).voxel_size is None


def test_ome_without_sizes_has_no_voxel_size(tmp_path: Path):
    path = _ome(tmp_path / "none.ome.tif", np.zeros((3, 4, 5), dtype=np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = read_image(path)
    assert img.voxel_size is None


def test_imagej_nonpositive_spacing_is_ignored_with_a_warning(tmp_path: Path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        np.zeros((3, 4, 5), dtype=np.float32),
        imagej=True,
        resolution=(10.0, 10.0),
        metadata={"axes": "ZYX", "spacing": -0.5, "unit": "um"},
    )
    with pytest.warns(UserWarning, match="ImageJ spacing"):
        img = read_image(path)
    assert img.voxel_size == pytest.approx((1.0, 0.1, 0.1))


def test_imagej_nm_unit_converted(tmp_path: Path):
    path = write_tiff(
        tmp_path / "nm.tif", np.zeros((3, 4, 5)), voxel_size=(300, 100, 100), unit="nm"
    )
    img = read_image(path)
    assert img.voxel_size == pytest.approx((0.3, 0.1, 0.1)) and img.unit == "um"


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_image_data_refuses_a_bad_voxel_size(value: float):
    with pytest.raises(ValueError, match="positive and finite"):
        ImageData(np.zeros((4, 5)), voxel_size=(value, 0.1))


@pytest.mark.parametrize(("dtype", "top"), [(np.uint16, 65535), (np.uint8, 255), (np.int16, 32767)])
def test_integer_stack_read_with_its_saturation(tmp_path: Path, dtype, top: int):
    data = np.full((3, 4, 5), 7, dtype=dtype)
    data[1, 2, 3] = top
    data[0, 0, 0] = top
    path = tmp_path / "sat.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZYX"})
    img = read_image(path)
    assert img.array.dtype == np.float64 and img.array.max() == top  # values kept
    assert img.saturation == top
    assert img.saturated.sum() == 2 and img.saturated[1, 2, 3]


def test_npy_integers_have_a_saturation(tmp_path: Path):
    path = tmp_path / "sat.npy"
    np.save(path, np.array([[0, 255], [3, 4]], dtype=np.uint8))
    img = read_image(path)
    assert img.saturation == 255 and int(img.saturated.sum()) == 1


def test_float_data_have_no_saturation(tmp_path: Path):
    img = read_image(write_tiff(tmp_path / "f.tif", np.full((4, 5), 65535.0)))
    assert img.saturation is None and img.saturated is None


def test_real_confocal_stack_voxel_size():
    path = CONFOCAL_GRID
    if not path.exists():
        pytest.skip("shared fluorescence data not available")
    img = read_image(path)
    assert img.shape == (21, 150, 150) and img.unit == "um"
    assert img.voxel_size == pytest.approx((0.125, 0.02196, 0.02196), rel=1e-3)
    assert img.saturation == 255 and not img.saturated.any()
