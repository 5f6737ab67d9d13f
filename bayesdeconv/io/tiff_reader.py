"""Reading TIFF files: axes of the first series, colour samples and voxel-size metadata.

Voxel sizes come from OME-XML, ImageJ metadata and the resolution tags, in that order of
precedence per axis, converted to micrometres where the unit is a known length.
"""

from __future__ import annotations

import math
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

# Micrometres per unit, for the lengths found in ImageJ and OME metadata (lower case).
_UM_PER_UNIT = {
    "um": 1.0,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "nanometre": 1e-3,
    "nanometers": 1e-3,
    "nanometres": 1e-3,
    "pm": 1e-6,
    "å": 1e-4,
    "angstrom": 1e-4,
    "mm": 1e3,
    "millimeter": 1e3,
    "millimetre": 1e3,
    "cm": 1e4,
    "m": 1e6,
    "inch": 25400.0,
    "in": 25400.0,
}

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
        voxel, unit = _tiff_voxel_metadata(tif, path)

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


def _tiff_voxel_metadata(tif: Any, path: Path) -> tuple[dict[str, float] | None, str | None]:
    """Extract ``{"Z": dz, "Y": dy, "X": dx}`` (partial) and the unit from a TiffFile.

    Each axis takes its size from the first source that has a usable one: OME-XML
    ``PhysicalSize*``, then ImageJ's ``spacing`` (z), then the X/YResolution tags (y/x). Sizes
    in a known length unit are converted to micrometres (unit ``"um"``).
    """
    ij = (tif.imagej_metadata if tif.is_imagej else None) or {}
    ij_unit = _normalise_unit(ij.get("unit"))
    sources = (
        _ome_voxel(tif, path),
        _imagej_voxel(ij, ij_unit, path),
        _resolution_voxel(tif.pages[0].tags, ij_unit),
    )
    merged: dict[str, tuple[float, str | None]] = {}
    for source in sources:  # highest precedence first
        for axis, entry in source.items():
            merged.setdefault(axis, entry)
    if not merged:
        return None, None
    units = {unit for _, unit in merged.values() if unit is not None}  # None: unitless
    if len(units) > 1:  # say nm in OME and an unknown unit in ImageJ's metadata
        unit = next(u for s in sources for _, u in s.values() if u is not None)
        dropped = sorted(ax for ax, (_, u) in merged.items() if u not in (unit, None))
        warnings.warn(
            f"ignored the voxel size of axes {''.join(dropped)} in {path}: their unit is not "
            f"{unit!r}",
            UserWarning,
            stacklevel=4,
        )
        merged = {ax: entry for ax, entry in merged.items() if entry[1] in (unit, None)}
        units = {unit}
    unit = units.pop() if units else None
    return {ax: value for ax, (value, _) in merged.items()}, unit


def _ome_voxel(tif: Any, path: Path) -> dict[str, tuple[float, str | None]]:
    """``PhysicalSizeX/Y/Z`` of the first OME ``Pixels`` element, in micrometres if known.

    The OME schema's default unit is the micrometre.
    """
    text = tif.ome_metadata if tif.is_ome else None
    if not text:
        return {}
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        warnings.warn(f"ignored unreadable OME-XML metadata in {path}", UserWarning, stacklevel=5)
        return {}
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return {}
    out: dict[str, tuple[float, str | None]] = {}
    for axis in "XYZ":
        name = f"PhysicalSize{axis}"
        raw = pixels.get(name)
        if raw is None:
            continue
        value = _usable_size(raw, f"OME {name}", path)
        unit = _normalise_unit(pixels.get(f"{name}Unit", "um"))
        if value is not None and unit is not None:  # unit "pixel": not calibrated
            out[axis] = _in_micrometres(value, unit)
    return out


def _imagej_voxel(
    ij: dict[str, Any], unit: str | None, path: Path
) -> dict[str, tuple[float, str | None]]:
    """ImageJ's z step (``spacing``), in micrometres if its ``unit`` is a known length."""
    if "spacing" not in ij:
        return {}
    value = _usable_size(ij["spacing"], "ImageJ spacing", path)
    return {} if value is None else {"Z": _in_micrometres(value, unit)}


def _resolution_voxel(tags: Any, unit: str | None) -> dict[str, tuple[float, str | None]]:
    """The y/x pixel size ``1 / resolution`` of the X/YResolution tags (see :func:`read_image`).

    `unit` is ImageJ's; without it, CENTIMETER resolutions are converted to micrometres,
    NONE ones have no unit and INCH ones (print resolutions) are ignored.
    """
    xres = _rational(tags.get("XResolution"))
    yres = _rational(tags.get("YResolution"))
    res_unit_tag = tags.get("ResolutionUnit")
    res_unit = int(res_unit_tag.value) if res_unit_tag is not None else 2  # TIFF default INCH
    if xres is None or (xres == 1.0 and (yres is None or yres == 1.0)):
        return {}
    yres = xres if yres is None else yres
    if unit is None and res_unit == _RESUNIT_CENTIMETER:
        return {"X": (1e4 / xres, "um"), "Y": (1e4 / yres, "um")}
    if unit is None and res_unit != _RESUNIT_NONE:
        return {}
    return {"X": _in_micrometres(1.0 / xres, unit), "Y": _in_micrometres(1.0 / yres, unit)}


def _usable_size(value: Any, name: str, path: Path) -> float | None:
    """A voxel size from metadata as a positive finite float, or None with a warning."""
    try:
        size = float(value)
    except (TypeError, ValueError):
        size = math.nan
    if math.isfinite(size) and size > 0:
        return size
    warnings.warn(
        f"ignored {name}={value!r} in {path}: a voxel size must be a positive finite number",
        UserWarning,
        stacklevel=5,
    )
    return None


def _in_micrometres(value: float, unit: str | None) -> tuple[float, str | None]:
    """``(value, unit)`` in micrometres when `unit` is a known length, else unchanged."""
    scale = None if unit is None else _UM_PER_UNIT.get(unit.lower())
    return (value * scale, "um") if scale is not None else (value, unit)


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
