"""OME-Zarr (OME-NGFF) images: lazy reading, and the metadata shared with the writer.

:func:`read_ome_zarr` opens level 0 of an NGFF 0.4 (zarr format 2) or 0.5 (zarr format 3)
image as a dask array; writing is in :mod:`~bayesdeconv.io.ome_zarr_writer`. zarr (>= 3) and
dask are optional and imported only when these functions run.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayesdeconv.io.formats import PathLike
from bayesdeconv.io.image import ImageReadError

__all__ = ["OmeZarrImage", "bayesdeconv_attributes", "is_ome_zarr", "read_ome_zarr"]

_INSTALL_HINT = 'OME-Zarr support needs zarr>=3 and dask: pip install "bayesdeconv[dask]"'
_AXES = re.compile(r"t?c?z?yx")
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")
_DONE_DIR = ".bayesdeconv-done"
_RECORD = ".bayesdeconv-writer.json"
_LEVEL = "0"
# Length units (UDUNITS names as used by NGFF, and common abbreviations) in micrometres.
_TO_UM = {
    "angstrom": 1e-4, "picometer": 1e-6, "pm": 1e-6, "nanometer": 1e-3, "nm": 1e-3,
    "micrometer": 1.0, "micron": 1.0, "um": 1.0, "\u00b5m": 1.0, "\u03bcm": 1.0,
    "millimeter": 1e3, "mm": 1e3, "centimeter": 1e4, "cm": 1e4, "decimeter": 1e5,
    "meter": 1e6, "m": 1e6, "inch": 25400.0, "foot": 304800.0,
}  # fmt: skip


def _import_zarr() -> Any:
    """Return the zarr module, or raise ImportError with the install hint."""
    try:
        import zarr
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    if int(zarr.__version__.split(".")[0]) < 3:
        raise ImportError(f"{_INSTALL_HINT} (found zarr {zarr.__version__})")
    return zarr


def _import_dask_array() -> Any:
    """Return dask.array, or raise ImportError with the install hint."""
    try:
        import dask.array as da
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return da


def _reason(exc: BaseException) -> str:
    """One line, at most 200 characters, describing `exc`."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True, eq=False)
class OmeZarrImage:
    """Level 0 of an OME-Zarr image, read lazily.

    Parameters
    ----------
    array : dask.array.Array
        The pixel data, not loaded, with axes `axes` (a channel axis of length 1 removed).
    axes : str
        Lowercase axis letters: ``"yx"`` or ``"zyx"``, optionally after ``"t"`` (time).
    voxel_size : tuple of float or None
        Voxel size per spatial axis, in micrometres when `unit` is ``"um"`` (else in the
        store's unitless scale); None when the store gives none.
    unit : {"um", None}
        ``"um"`` when the spatial axes have length units.
    attributes : dict
        The root ``"bayesdeconv"`` attributes written by :class:`OmeZarrWriter`, else ``{}``.
    name : str or None
        The multiscale's ``name``.
    """

    array: Any
    axes: str
    voxel_size: tuple[float, ...] | None = None
    unit: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    @property
    def spatial_ndim(self) -> int:
        """Number of spatial axes (2 or 3)."""
        return sum(ax in "zyx" for ax in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`array`."""
        return tuple(int(n) for n in self.array.shape)


def _group_attributes(path: Path) -> dict[str, Any] | None:
    """The attributes of the zarr group at `path` (format 2 or 3), or None if it is none."""
    if (path / "zarr.json").is_file():
        meta = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("node_type") != "group":
            return None
        return dict(meta.get("attributes") or {})
    if (path / ".zgroup").is_file():
        zattrs = path / ".zattrs"
        return dict(json.loads(zattrs.read_text(encoding="utf-8"))) if zattrs.is_file() else {}
    return None


def _multiscales(attrs: Mapping[str, Any]) -> list[Any] | None:
    """The ``multiscales`` list of NGFF 0.5 (under ``"ome"``) or 0.4 (at the root)."""
    ome = attrs.get("ome")
    source = ome if isinstance(ome, dict) and "multiscales" in ome else attrs
    multiscales = source.get("multiscales")
    return multiscales if isinstance(multiscales, list) and multiscales else None


def is_ome_zarr(path: PathLike) -> bool:
    """Whether `path` is a zarr group directory with OME-NGFF multiscales metadata.

    Only the metadata files are read (zarr is not needed), and no error is raised.
    """
    try:
        p = Path(path)
        return p.is_dir() and _multiscales(_group_attributes(p) or {}) is not None
    except Exception:  # unreadable or malformed metadata: not an OME-Zarr image
        return False


def bayesdeconv_attributes(path: PathLike) -> dict[str, Any] | None:
    """The ``"bayesdeconv"`` root attributes of a store this package wrote (settings,
    precisions), ``{}`` for another OME-Zarr store, None if `path` is none. Reads only the
    metadata (zarr is not needed) and raises no error."""
    try:
        attributes = _group_attributes(Path(path)) if Path(path).is_dir() else None
    except (OSError, ValueError, TypeError):  # unreadable or malformed metadata
        return None
    if attributes is None:
        return None
    if "ome" in attributes and isinstance(attributes["ome"], dict):  # NGFF 0.5
        attributes = {**attributes, **attributes["ome"]}
    own = attributes.get("bayesdeconv")
    return dict(own) if isinstance(own, dict) else {}


def read_ome_zarr(path: PathLike) -> OmeZarrImage:
    """Open level 0 of an OME-Zarr image (NGFF 0.4 or 0.5) as a lazy dask array.

    Parameters
    ----------
    path : str or os.PathLike
        The image's zarr group; in a store of :class:`OmeZarrWriter` the store itself for the
        first image and ``store/<name>`` for the others.

    Returns
    -------
    OmeZarrImage
        The first dataset of ``multiscales[0]``, with voxel sizes converted to micrometres.

    Raises
    ------
    ImageReadError
        If the path is missing or not a zarr group, has no (or malformed) multiscales
        metadata or no level-0 array, its axes are not an optional ``t``, an optional ``c``
        and ``zyx`` or ``yx``, it has several channels, or its array is empty or not numeric.
    ImportError
        If zarr or dask is not installed.

    Notes
    -----
    Scale transforms of the dataset and the multiscale are multiplied; translations are
    ignored. Ones without units (what the writer stores without a voxel size) give
    ``voxel_size=None``, as do unknown units (with a :class:`UserWarning`).
    """
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"OME-Zarr store not found: {p}")
    try:
        attrs = _group_attributes(p) if p.is_dir() else None
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"cannot read zarr metadata of {p}: {_reason(exc)}") from exc
    if attrs is None:
        raise ImageReadError(f"{p} is not a zarr group (no .zgroup or zarr.json)")
    multiscales = _multiscales(attrs)
    if multiscales is None:
        raise ImageReadError(f"{p} is a zarr group without OME-NGFF multiscales metadata")
    zarr, da = _import_zarr(), _import_dask_array()
    bad = (AttributeError, KeyError, IndexError, TypeError, ValueError)
    try:
        ms = multiscales[0]
        level = ms["datasets"][0]
        level_path = str(level["path"])
    except bad as exc:
        raise ImageReadError(f"malformed multiscales metadata in {p}: {_reason(exc)}") from exc
    try:
        node = zarr.open_group(store=str(p), mode="r")[level_path]
    except Exception as exc:  # zarr raises KeyError, FileNotFoundError, ...
        raise ImageReadError(f"level array {level_path!r} missing in {p}") from exc
    if not isinstance(node, zarr.Array):
        raise ImageReadError(f"level {level_path!r} in {p} is a group, not an array")
    try:
        axis_entries = ms.get("axes") or list("tczyx"[-node.ndim :])
        entries = [ax if isinstance(ax, dict) else {"name": ax} for ax in axis_entries]
        axes = "".join(str(ax["name"]).lower() for ax in entries)
        if len(axes) != node.ndim or not _AXES.fullmatch(axes):
            raise ImageReadError(
                f"unsupported axes {axes!r} (array of shape {node.shape}) in {p}; "
                "expected an optional t, an optional c, then zyx or yx"
            )
        voxel, unit = _voxel_size(ms, level, entries, axes, p)
    except ImageReadError:
        raise
    except bad as exc:
        raise ImageReadError(f"malformed multiscales metadata in {p}: {_reason(exc)}") from exc
    if node.dtype.kind not in "biuf":
        raise ImageReadError(f"cannot read {p}: non-numeric data type {node.dtype}")
    if any(n == 0 for n in node.shape):
        raise ImageReadError(f"{p} contains no pixels (shape {node.shape})")
    array = da.from_zarr(node)
    if "c" in axes:
        index = axes.index("c")
        if node.shape[index] > 1:
            raise ImageReadError(
                f"{p} has {node.shape[index]} channels; one channel per run is supported"
            )
        array = array[tuple(0 if i == index else slice(None) for i in range(array.ndim))]
        axes = axes.replace("c", "")
    extra = attrs.get("bayesdeconv")
    extra = dict(extra) if isinstance(extra, dict) else {}
    return OmeZarrImage(array, axes, voxel, unit, extra, ms.get("name"))


def _voxel_size(
    ms: Mapping[str, Any], level: Mapping[str, Any], entries: list[dict], axes: str, p: Path
) -> tuple[tuple[float, ...] | None, str | None]:
    """Spatial voxel size and unit from the scale transforms (see :func:`read_ome_zarr`)."""
    scale, found = np.ones(len(axes)), False
    for transforms in (level.get("coordinateTransformations"), ms.get("coordinateTransformations")):
        for transform in transforms or []:
            if transform.get("type") == "scale" and "scale" in transform:
                values = np.asarray(transform["scale"], dtype=float)
                if values.shape != scale.shape:
                    raise ValueError(f"scale {list(values)} does not match axes {axes!r}")
                scale, found = scale * values, True
    if not found:
        return None, None
    spatial = [i for i, ax in enumerate(axes) if ax in "zyx"]
    sizes = [float(scale[i]) for i in spatial]
    units = [entries[i].get("unit") for i in spatial]
    if all(u is None for u in units):
        return (None, None) if all(s == 1.0 for s in sizes) else (tuple(sizes), None)
    factors = [_TO_UM.get(str(u).lower()) if u is not None else None for u in units]
    if any(f is None for f in factors):
        warnings.warn(f"ignoring the voxel size of {p}: units {units}", UserWarning, stacklevel=3)
        return None, None
    um = tuple(s * f for s, f in zip(sizes, factors, strict=True))
    if not all(math.isfinite(s) and s > 0 for s in um):
        warnings.warn(f"ignoring the voxel size {um} of {p}", UserWarning, stacklevel=3)
        return None, None
    return um, "um"


