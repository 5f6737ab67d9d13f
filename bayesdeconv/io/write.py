"""Writing images: ``float32`` TIFF, ``.npy`` and 8-bit PNG, all written atomically.

Every writer goes through :func:`~bayesdeconv.io.atomic.atomic_write`, so a failed write
never leaves a partial file and never damages an existing one.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesdeconv.io.atomic import atomic_write
from bayesdeconv.io.formats import (
    NPY_SUFFIXES,
    PNG_SUFFIXES,
    SUPPORTED_SUFFIXES,
    TIFF_SUFFIXES,
    PathLike,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["write_image", "write_npy", "write_png", "write_tiff"]


def _check_image_array(array: ArrayLike, name: str, dims: Sequence[int]) -> np.ndarray:
    """Return `array` as an ndarray after checking its dimensions and dtype."""
    arr = np.asarray(array)
    if arr.ndim not in dims:
        allowed = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{name} needs a {allowed} array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} needs real numeric data, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} needs a non-empty array, got shape {arr.shape}")
    return arr


def write_tiff(
    path: PathLike,
    array: ArrayLike,
    *,
    voxel_size: Sequence[float] | None = None,
    unit: str = "um",
    overwrite: bool = True,
) -> Path:
    """Write a 2-D or 3-D image as an ImageJ-compatible ``float32`` TIFF.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file, normally ending in ``.tif`` or ``.tiff``.
    array : array_like
        Real 2-D ``(y, x)`` or 3-D ``(z, y, x)`` data. It is stored as ``float32``.
    voxel_size : sequence of float, optional
        Positive voxel size per axis, in the order of the array axes. The y/x sizes are
        stored as the TIFF resolution (``1 / size``) and the z size as ImageJ's ``spacing``.
    unit : str, default "um"
        Unit of `voxel_size`, stored in the ImageJ metadata. Only written with a voxel size.
    overwrite : bool, default True
        If False and `path` exists, raise :class:`FileExistsError`.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ValueError
        If the array is not 2-D or 3-D real numeric data, or `voxel_size` does not have one
        positive finite entry per axis.
    FileExistsError
        If `overwrite` is False and `path` exists.

    Notes
    -----
    The file is written atomically (see :func:`atomic_write`).
    :func:`~bayesdeconv.io.read_image` reads the values (to ``float32`` precision) and the
    voxel size back.
    """
    arr = _check_image_array(array, "write_tiff", (2, 3))
    data = np.ascontiguousarray(arr, dtype=np.float32)
    kwargs: dict[str, Any] = {"imagej": True}
    metadata: dict[str, Any] = {"axes": "ZYX" if data.ndim == 3 else "YX"}
    if voxel_size is not None:
        voxel = _check_voxel_size(voxel_size, data.ndim)
        kwargs["resolution"] = (1.0 / voxel[-1], 1.0 / voxel[-2])
        if data.ndim == 3:
            metadata["spacing"] = voxel[0]
        metadata["unit"] = unit
    kwargs["metadata"] = metadata

    def writer(tmp_name: str) -> None:
        import tifffile

        tifffile.imwrite(tmp_name, data, **kwargs)

    return atomic_write(path, writer, overwrite=overwrite)


def _check_voxel_size(voxel_size: Sequence[float], ndim: int) -> tuple[float, ...]:
    """Validate a voxel size against the number of array axes."""
    voxel = tuple(float(v) for v in voxel_size)
    if len(voxel) != ndim:
        raise ValueError(f"voxel_size has {len(voxel)} entries but the array has {ndim} axes")
    if not all(np.isfinite(v) and v > 0 for v in voxel):
        raise ValueError(f"voxel_size entries must be positive and finite, got {voxel}")
    return voxel


def write_npy(path: PathLike, array: ArrayLike, *, overwrite: bool = True) -> Path:
    """Write an array to a ``.npy`` file, keeping its dtype.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file, normally ending in ``.npy``.
    array : array_like
        Data to store. Object arrays are refused (files are written without pickling).
    overwrite : bool, default True
        If False and `path` exists, raise :class:`FileExistsError`.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ValueError
        If `array` has an object dtype.
    FileExistsError
        If `overwrite` is False and `path` exists.

    Notes
    -----
    The file is written atomically (see :func:`atomic_write`). No voxel size is stored.
    """
    arr = np.asarray(array)
    if arr.dtype.hasobject:
        raise ValueError("write_npy cannot store object arrays")

    def writer(tmp_name: str) -> None:
        with open(tmp_name, "wb") as handle:
            np.save(handle, arr, allow_pickle=False)

    return atomic_write(path, writer, overwrite=overwrite)


def write_png(path: PathLike, array: ArrayLike, *, overwrite: bool = True) -> Path:
    """Write a 2-D image as an 8-bit grayscale PNG for viewing.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file, normally ending in ``.png``.
    array : array_like
        Real 2-D data. The finite values are rescaled linearly from ``[min, max]`` to
        ``[0, 255]`` and rounded. A constant image becomes all zeros.
    overwrite : bool, default True
        If False and `path` exists, raise :class:`FileExistsError`.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ValueError
        If the array is not 2-D real numeric data.
    FileExistsError
        If `overwrite` is False and `path` exists.

    Notes
    -----
    The min–max rescaling loses the original intensity scale, so reading the file back
    does not give the input values. Use :func:`write_tiff` or :func:`write_npy` for data.
    NaN and -Inf become 0, +Inf becomes 255. The file is written atomically.
    """
    arr = _check_image_array(array, "write_png", (2,)).astype(np.float64)
    finite = np.isfinite(arr)
    scaled = np.zeros(arr.shape, dtype=np.float64)
    if finite.any():
        lo = float(arr[finite].min())
        hi = float(arr[finite].max())
        if hi > lo:
            scaled[finite] = (arr[finite] - lo) / (hi - lo) * 255.0
    scaled[np.isposinf(arr)] = 255.0
    image8 = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)

    def writer(tmp_name: str) -> None:
        from PIL import Image

        Image.fromarray(image8).save(tmp_name, format="PNG")

    return atomic_write(path, writer, overwrite=overwrite)


def write_image(
    path: PathLike,
    array: ArrayLike,
    *,
    voxel_size: Sequence[float] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write an image, choosing the format from the suffix of `path`.

    Parameters
    ----------
    path : str or os.PathLike
        Destination. ``.tif``/``.tiff`` gives a ``float32`` TIFF (:func:`write_tiff`),
        ``.npy`` a NumPy file (:func:`write_npy`) and ``.png`` an 8-bit min–max rescaled
        PNG (:func:`write_png`). Case is ignored.
    array : array_like
        Image data.
    voxel_size : sequence of float, optional
        Voxel size per axis, in micrometres. Only TIFF stores it; for other formats it is
        ignored with a :class:`UserWarning`.
    overwrite : bool, default True
        If False and `path` exists, raise :class:`FileExistsError`.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ValueError
        If the suffix is not supported, or the array does not suit the format.
    FileExistsError
        If `overwrite` is False and `path` exists.
    """
    suffix = Path(path).suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return write_tiff(path, array, voxel_size=voxel_size, overwrite=overwrite)
    if suffix not in NPY_SUFFIXES + PNG_SUFFIXES:
        raise ValueError(
            f"unsupported output file type {suffix or '(no suffix)'!r} for {path}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if voxel_size is not None:
        warnings.warn(
            f"voxel_size is not stored in {suffix} files; use .tif to keep it",
            UserWarning,
            stacklevel=2,
        )
    if suffix in NPY_SUFFIXES:
        return write_npy(path, array, overwrite=overwrite)
    return write_png(path, array, overwrite=overwrite)
