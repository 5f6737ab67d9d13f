"""Reading TIFF files: axes of the first series, colour samples and voxel-size metadata."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bayesdeconv.io.formats import LUMA
from bayesdeconv.io.image import ImageReadError, ReadResult

__all__ = ["read_tiff_file"]

# Spellings of "micrometre" found in ImageJ metadata; all are reported as "um".
_MICRON_ALIASES = frozenset(
    {
        "um",
        "µm",
        "μm",
        "\\u00b5m",
        "micron",
        "microns",
        "micrometer",
        "micrometre",
        "micrometers",
        "micrometres",
    }
)

# TIFF ResolutionUnit tag values (TIFF 6.0 specification).
_RESUNIT_NONE = 1
_RESUNIT_CENTIMETER = 3


def read_tiff_file(path: Path) -> ReadResult:
    """Read the first series of a TIFF file and its voxel size metadata.

    Time (``T``) and channel (``C``) axes longer than 1 are refused. RGB/RGBA samples
    (axis ``S`` of length 3 or 4) become grayscale luminance, with a :class:`UserWarning`;
    a gray + alpha pair (``S`` of length 2) keeps the gray sample.

    Parameters
    ----------
    path : pathlib.Path
        An existing, non-empty TIFF file.

    Returns
    -------
    ReadResult
        The raw array (not yet cast to ``float64`` nor squeezed), its axis letters (a plain
        stack's leading axis relabelled ``Z`` when a voxel size was found), the voxel size
        per axis letter (or None) and its unit (or None).

    Raises
    ------
    ImageReadError
        For a file without image data, a time or channel axis longer than 1, or an
        unsupported number of samples per pixel. tifffile's own errors pass through;
        :func:`~bayesdeconv.io.read_image` turns them into :class:`ImageReadError`.
    """
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ImageReadError(f"cannot read {path}: no image data in TIFF file")
        series = tif.series[0]
        axes = str(series.axes).upper()
        shape = tuple(int(n) for n in series.shape)
        if len(axes) == len(shape):  # check before decoding the pixels
            _check_tiff_axes(path, axes, shape)
        array = np.asarray(series.asarray())
        if len(axes) != array.ndim:  # defensive; tifffile keeps these in step
            axes = "Q" * (array.ndim - 2) + "YX"
        voxel, unit = _tiff_voxel_metadata(tif)

    if "S" in axes:
        array, axes = _tiff_samples_to_gray(path, array, axes)

    if voxel is None:
        return array, axes, None, None
    # Plain (non-ImageJ) stacks label their leading axis "Q" or "I" (unknown): treat it as z.
    kept = [i for i, n in enumerate(array.shape) if n != 1]
    if len(kept) == 3 and "Z" not in axes and axes[kept[1]] + axes[kept[2]] == "YX":
        lead = kept[0]
        axes = axes[:lead] + "Z" + axes[lead + 1 :]
    return array, axes, voxel, unit


def _check_tiff_axes(path: Path, axes: str, shape: tuple[int, ...]) -> None:
    """Refuse a TIFF series with a time (``T``) or channel (``C``) axis longer than 1."""
    if any(ax in "TC" and n > 1 for ax, n in zip(axes, shape, strict=True)):
        raise ImageReadError(
            f"{path} has a time/channel axis (axes {axes}, shape {shape}); "
            "save a single 2-D image or z-stack"
        )


def _tiff_samples_to_gray(path: Path, array: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """Collapse the samples axis ``S``: RGB(A) to luminance, gray + alpha to gray."""
    index = axes.index("S")
    samples = array.shape[index]
    rest = axes[:index] + axes[index + 1 :]
    if samples == 1:
        return array.reshape(array.shape[:index] + array.shape[index + 1 :]), rest
    if array.dtype.kind not in "biuf":
        return array, axes  # rejected later with a clear message
    data = np.moveaxis(array, index, -1)
    if samples in (3, 4):
        warnings.warn(
            f"converted colour image to grayscale (luminance) when reading {path}",
            UserWarning,
            stacklevel=4,
        )
        return np.asarray(data[..., :3], dtype=np.float64) @ LUMA, rest
    if samples == 2:
        warnings.warn(f"dropped the alpha channel when reading {path}", UserWarning, stacklevel=4)
        return data[..., 0], rest
    raise ImageReadError(
        f"cannot read {path}: {samples} samples per pixel are not supported "
        "(expected grayscale, RGB or RGBA)"
    )


def _tiff_voxel_metadata(tif: Any) -> tuple[dict[str, float] | None, str | None]:
    """Extract ``{"Z": dz, "Y": dy, "X": dx}`` (partial) and the unit from a TiffFile."""
    ij = tif.imagej_metadata if tif.is_imagej else None
    ij = ij or {}
    unit = _normalise_unit(ij.get("unit"))
    voxel: dict[str, float] = {}

    spacing = ij.get("spacing")
    if isinstance(spacing, int | float) and np.isfinite(spacing) and spacing > 0:
        voxel["Z"] = float(spacing)

    tags = tif.pages[0].tags
    xres = _rational(tags.get("XResolution"))
    yres = _rational(tags.get("YResolution"))
    res_unit_tag = tags.get("ResolutionUnit")
    res_unit = int(res_unit_tag.value) if res_unit_tag is not None else 2  # TIFF default INCH
    if xres is not None and (xres != 1.0 or (yres is not None and yres != 1.0)):
        yres = xres if yres is None else yres
        scale: float | None = None
        if unit is not None or res_unit == _RESUNIT_NONE:
            scale = 1.0
        elif res_unit == _RESUNIT_CENTIMETER:
            scale, unit = 1e4, "um"
        if scale is not None:
            voxel["X"] = scale / xres
            voxel["Y"] = scale / yres

    if not voxel:
        return None, None
    return voxel, unit


def _rational(tag: Any) -> float | None:
    """Value of a RATIONAL resolution tag as a positive float, or None."""
    if tag is None:
        return None
    value = tag.value
    try:
        if isinstance(value, tuple | list):
            num, den = value[0], value[1]
            result = float(num) / float(den)
        else:
            result = float(value)
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    if not np.isfinite(result) or result <= 0:
        return None
    return result


def _normalise_unit(unit: Any) -> str | None:
    """Return a cleaned unit string; micrometre spellings become ``"um"``."""
    if not isinstance(unit, str):
        return None
    text = unit.strip()
    if not text or text.lower() in ("pixel", "pixels", "px"):
        return None
    if text.lower() in _MICRON_ALIASES:
        return "um"
    return text
