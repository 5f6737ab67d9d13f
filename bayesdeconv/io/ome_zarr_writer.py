"""Writing OME-Zarr stores: resumable, all or nothing.

:class:`OmeZarrWriter` writes several images of one shape block by block into a hidden
partial directory that an interrupted job can resume, and renames it into place when
complete; :func:`write_ome_zarr` does this in one call.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bayesdeconv.io.atomic import atomic_write
from bayesdeconv.io.formats import PathLike
from bayesdeconv.io.ome_zarr import (
    _AXES,
    _DONE_DIR,
    _KEY,
    _LEVEL,
    _RECORD,
    _import_zarr,
    _reason,
)

__all__ = ["OmeZarrWriter", "write_ome_zarr"]


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

    @staticmethod
    def pending_attributes(path: PathLike) -> dict[str, Any] | None:
        """The attributes of an unfinished store for `path` (its partial directory), or None:
        what a job about to resume can compare with its own settings."""
        target = Path(path)
        record = target.parent / f".{target.name}.partial" / _RECORD
        try:
            return dict(json.loads(record.read_text(encoding="utf-8"))["attributes"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

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
