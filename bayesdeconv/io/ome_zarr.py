"""OME-Zarr (OME-NGFF) images: lazy reading, and resumable all-or-nothing writing.

:func:`read_ome_zarr` opens level 0 of an NGFF 0.4 (zarr format 2) or 0.5 (zarr format 3)
image as a dask array. :class:`OmeZarrWriter` writes several images of one shape block by
block into a hidden partial directory that an interrupted job can resume, and renames it into
place when complete; :func:`write_ome_zarr` does this in one call. zarr (>= 3) and dask are
optional and imported only when these functions run.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayesdeconv.io.atomic import atomic_write
from bayesdeconv.io.formats import PathLike
from bayesdeconv.io.image import ImageReadError

__all__ = ["OmeZarrImage", "OmeZarrWriter", "is_ome_zarr", "read_ome_zarr", "write_ome_zarr"]

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


def _multiscale(name: str, axes: str, voxel_size: Sequence[float] | None) -> dict[str, Any]:
    """NGFF 0.4 ``multiscales`` entry for one level ``"0"``."""
    entries, scale, spatial = [], [], iter(voxel_size or ())
    for ax in axes:
        if ax in "tc":
            entries.append({"name": ax, "type": "time" if ax == "t" else "channel"})
            scale.append(1.0)
        else:
            entries.append({"name": ax, "type": "space"})
            if voxel_size is not None:
                entries[-1]["unit"] = "micrometer"
            scale.append(float(next(spatial, 1.0)))
    transform = [{"type": "scale", "scale": scale}]
    datasets = [{"path": _LEVEL, "coordinateTransformations": transform}]
    return {"version": "0.4", "name": name, "axes": entries, "datasets": datasets}


def _remove(path: Path) -> None:
    """Remove a file, link or directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _spec(shape, images, axes, voxel_size, chunks, dtype, attributes) -> dict[str, Any]:
    """Validate the writer's settings and return them as a JSON-ready record."""
    shape = tuple(int(n) for n in shape)
    if not isinstance(axes, str) or not _AXES.fullmatch(axes) or len(axes) != len(shape):
        raise ValueError(f"axes must be 'yx' or 'zyx' (after an optional 't' and 'c') with one "
                         f"letter per axis of shape {shape}, got {axes!r}")  # fmt: skip
    if any(n < 1 for n in shape):
        raise ValueError(f"shape entries must be positive, got {shape}")
    if "c" in axes and shape[axes.index("c")] != 1:
        raise ValueError(f"the channel axis must have length 1 (one channel per run): {shape}")
    images = tuple(images)
    if not images or len(set(images)) != len(images):
        raise ValueError(f"images must be distinct names, got {images!r}")
    if not all(isinstance(n, str) and n.isidentifier() for n in images):
        raise ValueError(f"image names must be simple identifiers, got {images!r}")
    n_spatial = sum(ax in "zyx" for ax in axes)
    if voxel_size is not None:
        voxel_size = [float(v) for v in voxel_size]
        if len(voxel_size) != n_spatial or not all(math.isfinite(v) and v > 0 for v in voxel_size):
            raise ValueError(f"voxel_size must be {n_spatial} positive finite numbers (one per "
                             f"spatial axis of {axes!r}), got {voxel_size}")  # fmt: skip
    if chunks is None:
        limit = {"t": 1, "c": 1, "z": 64, "y": 256, "x": 256}
        chunks = tuple(min(n, limit[ax]) for n, ax in zip(shape, axes, strict=True))
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != len(shape) or any(c < 1 for c in chunks):
        raise ValueError(f"chunks must be {len(shape)} positive integers, got {chunks}")
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise ValueError(f"dtype must be a real numeric type, got {dtype}")
    attributes = dict(attributes or {})
    if "images" in attributes:
        raise ValueError("attributes must not have an 'images' key (the writer sets it)")
    try:
        attributes = json.loads(json.dumps(attributes, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"attributes must be JSON-serialisable: {_reason(exc)}") from exc
    return {"record": 1, "shape": list(shape), "axes": axes, "chunks": list(chunks),
            "dtype": dtype.str, "images": list(images), "voxel_size": voxel_size,
            "attributes": attributes}  # fmt: skip


class OmeZarrWriter:
    """Resumable, all-or-nothing writer of an OME-Zarr store holding several images.

    Make one with :meth:`create`. The store at `path` is the NGFF 0.4 image of the first
    name (level ``"0"``), so viewers open `path` directly; each further image is a subgroup
    ``path/<name>`` that is a complete NGFF image too. The root attributes also hold
    ``"bayesdeconv": {"images": [...], **attributes}``.

    Until :meth:`finish`, everything lives in the hidden sibling ``.<name>.partial`` with the
    writer's settings (``.bayesdeconv-writer.json``) and the markers of :meth:`mark_done`
    (``.bayesdeconv-done/<key>``). Unwritten float voxels read as NaN, others as 0.

    Blocks written concurrently (threads, processes) must not share a chunk. The writer can
    be pickled and sent to other processes.
    """

    def __init__(self, path: Path, spec: dict[str, Any], overwrite: bool, resumed: bool):
        self.path = path
        self.partial_path = path.parent / f".{path.name}.partial"
        self.resumed, self._spec, self._overwrite, self._closed = resumed, spec, overwrite, False
        self.images: tuple[str, ...] = tuple(spec["images"])
        self.shape: tuple[int, ...] = tuple(spec["shape"])
        self.chunks: tuple[int, ...] = tuple(spec["chunks"])
        self.axes: str = spec["axes"]
        self.dtype = np.dtype(spec["dtype"])
        self.attributes: dict[str, Any] = spec["attributes"]
        voxel = spec["voxel_size"]
        self.voxel_size: tuple[float, ...] | None = None if voxel is None else tuple(voxel)
        self._arrays: dict[str, Any] = {}

    @classmethod
    def create(
        cls,
        path: PathLike,
        shape: Sequence[int],
        *,
        images: Sequence[str] = ("mean", "std"),
        axes: str,
        voxel_size: Sequence[float] | None = None,
        chunks: Sequence[int] | None = None,
        dtype: Any = "float32",
        attributes: Mapping[str, Any] | None = None,
        resume: bool = True,
        overwrite: bool = False,
    ) -> OmeZarrWriter:
        """Start (or, with `resume`, reopen) the partial store for `path`.

        Parameters
        ----------
        path : str or os.PathLike
            The final store, for example ``out.ome.zarr``, in an existing directory.
        shape : sequence of int
            Shape of every image, one entry per letter of `axes`.
        images : sequence of str, default ("mean", "std")
            Distinct identifiers; the first is the root image.
        axes : str
            ``"yx"`` or ``"zyx"``, optionally after ``"t"`` and/or ``"c"`` (of length 1).
        voxel_size : sequence of float, optional
            Voxel size in micrometres, one positive finite number per spatial axis.
        chunks : sequence of int, optional
            Chunk shape; by default 1 along t and c, up to 64 along z, 256 along y and x.
        dtype : numpy dtype, default "float32"
            Real numeric data type of every image.
        attributes : mapping, optional
            JSON-serialisable attributes (settings, learned hyper-parameters) for the root.
        resume : bool, default True
            Reopen a partial store whose settings (`attributes` included) equal these;
            otherwise any partial store is deleted and a fresh one started.
        overwrite : bool, default False
            Allow an existing `path`; it is replaced only by :meth:`finish`.

        Raises
        ------
        FileExistsError
            If `path` exists and `overwrite` is False.
        FileNotFoundError, ValueError
            If the directory of `path` is missing, or a setting is invalid.
        """
        target = Path(path)
        spec = _spec(shape, images, axes, voxel_size, chunks, dtype, attributes)
        if not overwrite and (target.exists() or target.is_symlink()):
            raise FileExistsError(f"output exists and overwrite=False: {target}")
        if not target.parent.resolve().is_dir():
            raise FileNotFoundError(f"directory does not exist: {target.parent}")
        zarr = _import_zarr()
        w = cls(target, spec, overwrite, resumed=False)
        partial = w.partial_path
        if resume and w._stored_spec() == spec:
            w.resumed = True
            return w
        _remove(partial)
        root = zarr.open_group(store=str(partial), mode="w", zarr_format=2)
        fill = np.nan if w.dtype.kind == "f" else 0
        for i, name in enumerate(w.images):
            group = root if i == 0 else root.create_group(name)
            group.create_array(
                _LEVEL,
                shape=w.shape,
                chunks=w.chunks,
                dtype=w.dtype,
                fill_value=fill,
                chunk_key_encoding={"name": "v2", "separator": "/"},
            )
            attrs: dict[str, Any] = {"multiscales": [_multiscale(name, w.axes, w.voxel_size)]}
            if i == 0:
                attrs["bayesdeconv"] = {"images": list(w.images), **w.attributes}
            group.attrs.update(attrs)
        (partial / _DONE_DIR).mkdir()
        text = json.dumps(spec, indent=1)
        atomic_write(partial / _RECORD, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return w

    def _stored_spec(self) -> dict[str, Any] | None:
        """The settings recorded in the partial store, or None."""
        try:
            return json.loads((self.partial_path / _RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": {}}

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the writer of {self.path} is already finished or aborted")

    def _array(self, name: str) -> Any:
        """The zarr array of image `name` in the partial store, opened for writing."""
        self._check_open()
        if name not in self.images:
            raise ValueError(f"unknown image {name!r}; this store has {list(self.images)}")
        if name not in self._arrays:
            store = self.partial_path / ("" if name == self.images[0] else name) / _LEVEL
            self._arrays[name] = _import_zarr().open_array(store=str(store), mode="r+")
        return self._arrays[name]

    def write(self, name: str, region: tuple[slice, ...], values: Any) -> None:
        """Write the block `values` into ``image[region]`` of image `name`."""
        self._array(name)[tuple(region)] = np.asarray(values)

    def _marker(self, key: str) -> Path:
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(f"done keys must be short names of letters, digits, '.-_': {key!r}")
        return self.partial_path / _DONE_DIR / key

    def mark_done(self, key: str) -> None:
        """Record that the unit of work `key` (for example ``"3-1-0"``) is written.

        Call it after the unit's :meth:`write` calls: the marker is created after the data.
        """
        self._check_open()
        self._marker(key).touch()

    def is_done(self, key: str) -> bool:
        """Whether :meth:`mark_done` recorded `key`."""
        return self._marker(key).exists()

    def done_keys(self) -> set[str]:
        """All keys recorded by :meth:`mark_done`."""
        folder = self.partial_path / _DONE_DIR
        return set(os.listdir(folder)) if folder.is_dir() else set()

    def finish(self) -> Path:
        """Remove the markers and rename the partial store to :attr:`path`; return it.

        An existing `path` (allowed by `overwrite`, else :class:`FileExistsError`) is moved
        aside first, deleted after the rename, and moved back if the rename fails.
        """
        self._check_open()
        target = self.path
        exists = target.exists() or target.is_symlink()
        if exists and not self._overwrite:
            raise FileExistsError(f"output exists and overwrite=False: {target}")
        _remove(self.partial_path / _DONE_DIR)
        _remove(self.partial_path / _RECORD)
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:12]}"
        if exists:
            os.replace(target, old)
        try:
            os.replace(self.partial_path, target)
        except BaseException:
            if exists:
                os.replace(old, target)
            raise
        _remove(old)
        self._closed, self._arrays = True, {}
        return target

    def abort(self) -> None:
        """Delete the partial store; :attr:`path` is left as it is."""
        self._closed, self._arrays = True, {}
        _remove(self.partial_path)


def write_ome_zarr(
    path: PathLike,
    images: Mapping[str, Any],
    *,
    axes: str | None = None,
    voxel_size: Sequence[float] | None = None,
    attributes: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write images of one shape to an OME-Zarr store in one call, all or nothing.

    Parameters
    ----------
    path : str or os.PathLike
        The store; see :class:`OmeZarrWriter` for its layout. Returned when written.
    images : mapping of str to array
        NumPy or dask arrays of equal shape, the first being the root image. Dask arrays
        are computed together and stored chunk by chunk, so memory stays bounded.
    axes : str, optional
        Axis letters; by default ``"yx"`` for 2-D and ``"zyx"`` for 3-D arrays.
    voxel_size, attributes, overwrite
        As for :meth:`OmeZarrWriter.create` (which raises the errors for them).

    Raises
    ------
    ValueError
        If there are no images or their shapes differ.
    """
    if not images:
        raise ValueError("images must hold at least one array")
    shapes = {name: tuple(int(n) for n in a.shape) for name, a in images.items()}
    shape = next(iter(shapes.values()))
    if any(s != shape for s in shapes.values()):
        raise ValueError(f"all images must have the same shape, got {shapes}")
    if axes is None:
        axes = {2: "yx", 3: "zyx"}.get(len(shape))
        if axes is None:
            raise ValueError(f"give axes for a {len(shape)}-D array (shape {shape})")
    dtype = np.result_type(*(np.dtype(a.dtype) for a in images.values()))
    writer = OmeZarrWriter.create(
        path, shape, images=tuple(images), axes=axes, voxel_size=voxel_size, dtype=dtype,
        attributes=attributes, resume=False, overwrite=overwrite,
    )  # fmt: skip
    try:
        lazy = {n: a for n, a in images.items() if type(a).__module__.startswith("dask.")}
        everything = tuple(slice(None) for _ in shape)
        for name, array in images.items():
            if name not in lazy:
                writer.write(name, everything, array)
        if lazy:
            import dask.array as da

            sources = [a.astype(dtype).rechunk(writer.chunks) for a in lazy.values()]
            da.store(sources, [writer._array(n) for n in lazy], lock=False)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise
