"""The images of a batch: a folder, a glob, a time series (TIFF or OME-Zarr), or arrays.

Every source becomes a list of :class:`BatchItem` objects, each loaded only when its turn
comes (on the worker that processes it), so a batch of any size never sits in memory.
"""

from __future__ import annotations

import glob as _glob
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bayesdeconv.io import (
    ImageData,
    ImageReadError,
    bayesdeconv_attributes,
    is_ome_zarr,
    read_image,
    read_ome_zarr,
)
from bayesdeconv.io.formats import SUPPORTED_SUFFIXES

__all__ = ["BatchItem", "array_digest", "batch_items", "is_batch_source"]

_GLOB_CHARACTERS = set("*?[")


def array_digest(array, dtype=None) -> str:
    """A short SHA-256 of an array's values (as ``dtype`` if given): part of the settings a
    rerun compares."""
    data = np.ascontiguousarray(array, dtype=dtype)
    return hashlib.sha256(data.tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class BatchItem:
    """One image of a batch: a file, one time point of a series, or an array.

    Attributes
    ----------
    name : str
        The output's name (``<name>.ome.zarr``) and the name in reports.
    path : Path, optional
        The file or store it is read from.
    index : int, optional
        Its position along the time axis of a series ``path``.
    array : numpy.ndarray, optional
        The image itself (items made from arrays).
    """

    name: str
    path: Path | None = None
    index: int | None = None
    array: np.ndarray | None = None

    def fingerprint(self) -> list:
        """What identifies the input: the file's path, size and modification time (the
        newest of a store's top-level entries) and the time point, or the array's hash."""
        if self.array is not None:
            return ["array", list(np.shape(self.array)), array_digest(self.array)]
        path = Path(self.path)  # a store: its top-level entries (folders change with theirs)
        stats = [path.stat()] if path.is_file() else [p.stat() for p in path.iterdir()]
        newest = max((st.st_mtime_ns for st in stats), default=0)
        return [str(path.resolve()), sum(st.st_size for st in stats), newest, self.index]

    def load(self) -> ImageData:
        """The image (read now), with its voxel size where the file records one."""
        if self.array is not None:
            return ImageData(np.asarray(self.array, dtype=np.float64))
        if self.index is None:
            return read_image(self.path)
        return _read_time_point(self.path, self.index)


def _series_length(path: Path) -> int | None:
    """The time axis length of a TIFF or OME-Zarr series, ``None`` for a single image."""
    if is_ome_zarr(path):
        image = read_ome_zarr(path)
        return int(image.array.shape[0]) if image.axes.startswith("t") else None
    if path.suffix.lower() in (".tif", ".tiff") and path.is_file():
        import tifffile

        log = logging.getLogger("tifffile")
        was, log.disabled = log.disabled, True  # a probe: the reader reports problems
        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                axes, shape = str(series.axes).upper(), tuple(series.shape)
        except Exception as exc:  # noqa: BLE001 (tifffile raises many types)
            raise ImageReadError(f"cannot read {path}: {exc}") from None
        finally:
            log.disabled = was
        if axes[:1] in ("T", "I") and len(shape) >= 3 and axes[1:] in ("ZYX", "YX", "QYX"):
            return int(shape[0]) if axes[0] == "T" or len(shape) == 4 else None
    return None


def _read_time_point(path: Path, index: int) -> ImageData:
    if is_ome_zarr(path):
        image = read_ome_zarr(path)
        array = np.asarray(image.array[index], dtype=np.float64)
        return ImageData(array, voxel_size=image.voxel_size, unit=image.unit)
    import tifffile
    import zarr

    from bayesdeconv.io.tiff_reader import _tiff_voxel_metadata

    with tifffile.TiffFile(path) as tif:
        voxel, unit = _tiff_voxel_metadata(tif, path)
        axes = str(tif.series[0].axes).upper()[1:]
    store = tifffile.imread(path, aszarr=True)
    try:
        array = np.asarray(zarr.open(store, mode="r")[index], dtype=np.float64)
    finally:
        store.close()
    size = None
    if voxel is not None and all(a in voxel for a in axes.replace("Q", "Z")):
        size = tuple(voxel[a] for a in axes.replace("Q", "Z"))
    return ImageData(array, voxel_size=size, unit=unit if size else None)


def is_batch_source(source) -> bool:
    """Whether ``source`` names several images: a folder that is not an OME-Zarr store, a
    glob pattern, or a time series. An unreadable file is not (its reader says why)."""
    path = Path(source)
    if any(c in str(source) for c in _GLOB_CHARACTERS) and not path.exists():
        return True
    if path.is_dir() and not is_ome_zarr(path):
        return True
    try:
        return path.exists() and _series_length(path) is not None
    except (ValueError, ImportError):  # unreadable, or OME-Zarr without zarr: not a series
        return False


def _files(pattern_or_folder) -> list[Path]:
    path = Path(pattern_or_folder)
    if path.is_dir():
        candidates = sorted(path.iterdir())
    else:
        candidates = sorted(Path(p) for p in _glob.glob(str(pattern_or_folder)))
    return [
        p
        for p in candidates
        if not p.name.startswith(".")
        and (_input_store(p) or (p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES))
    ]


def _input_store(path: Path) -> bool:
    """An OME-Zarr store that is not a result of this package (results are never inputs, so
    a rerun into the input folder does not take its own outputs for images)."""
    return is_ome_zarr(path) and "settings" not in (bayesdeconv_attributes(path) or {})


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.zarr", ".ome.tiff", ".ome.tif", ".zarr", ".tiff", ".tif", ".png", ".npy"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def batch_items(source) -> list[BatchItem]:
    """The items of a batch ``source``.

    Parameters
    ----------
    source : path, glob pattern, sequence or mapping
        A folder (its image files and OME-Zarr stores, in name order), a glob pattern
        (``"data/*.tif"``), a time series (a TIFF with a ``T`` axis, an OME-Zarr store with a
        ``t`` axis: one item per time point, named ``<stem>_t0003``), a single image file, a
        sequence of paths or arrays, or a mapping of names to arrays or paths.

    Raises
    ------
    ValueError
        If the source holds no image, or two items would have the same name.
    """
    if isinstance(source, Mapping):
        items = [_item(str(name), value) for name, value in source.items()]
    elif isinstance(source, str | Path):
        items = []
        path = Path(source)
        single = path.exists() and not (path.is_dir() and not is_ome_zarr(path))
        files = [path] if single else _files(source)
        for file in files:
            length = _series_length(file)
            if length is None:
                items.append(BatchItem(_stem(file), path=file))
            else:
                width = max(4, len(str(length - 1)))
                items.extend(
                    BatchItem(f"{_stem(file)}_t{i:0{width}d}", path=file, index=i)
                    for i in range(length)
                )
    elif isinstance(source, Sequence):
        items = [_item(f"item-{i:04d}", value) for i, value in enumerate(source)]
    else:
        raise ValueError(f"cannot make batch items from {type(source).__name__}")
    if not items:
        raise ValueError(f"no image found in {source}")
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"two inputs give the same output name: {', '.join(twice[:3])}")
    return items


def _item(name: str, value) -> BatchItem:
    if isinstance(value, BatchItem):
        return value
    if isinstance(value, str | Path):
        return BatchItem(_stem(Path(value)) if name.startswith("item-") else name, Path(value))
    return BatchItem(name, array=np.asarray(value))
