"""Reading images: :func:`read_image` and the ``.npy`` and PNG readers.

TIFF files are read by :mod:`bayesdeconv.io.tiff_reader`. See :mod:`bayesdeconv.io` for the
value conventions.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from bayesdeconv.io.formats import (
    LUMA,
    PNG_SUFFIXES,
    SUPPORTED_SUFFIXES,
    TIFF_SUFFIXES,
    ZARR_SUFFIXES,
    PathLike,
)
from bayesdeconv.io.image import ImageData, ImageReadError, ReadResult
from bayesdeconv.io.ome_zarr import is_ome_zarr, read_ome_zarr
from bayesdeconv.io.tiff_reader import read_tiff_file

__all__ = ["read_image"]

_REASON_MAX_CHARS = 200
_NPY_MAGIC = b"\x93NUMPY"


def read_image(path: PathLike, *, ndim: int | None = None) -> ImageData:
    """Read a 2-D or 3-D image from a TIFF, PNG or ``.npy`` file or an OME-Zarr directory.

    Parameters
    ----------
    path : str or os.PathLike
        File to read. The format is chosen by the suffix, ignoring case: ``.tif``/``.tiff``
        (read with tifffile), ``.png`` (read with Pillow) or ``.npy`` (read with
        :func:`numpy.load` with ``allow_pickle=False``). A directory holding OME-NGFF
        metadata, or named ``*.zarr``, is read with :func:`~bayesdeconv.io.read_ome_zarr`.
    ndim : {None, 2, 3}, optional
        Required number of dimensions. If given and the image has a different number,
        :class:`ImageReadError` is raised.

    Returns
    -------
    ImageData
        The image as ``float64`` with singleton axes removed, its voxel size and unit, and
        the saturation value of integer data.

    Raises
    ------
    ImageReadError
        If the file is missing, is a directory, is empty, has an unsupported suffix, cannot
        be parsed, holds complex or non-numeric data, holds no pixels, is a TIFF with a time
        or channel axis, is not 2-D or 3-D after removing singleton axes, or does not have
        `ndim` dimensions, or is an OME-Zarr image that :func:`~bayesdeconv.io.read_ome_zarr`
        refuses or that has a time axis (several images).
    ImportError
        For an OME-Zarr directory when zarr or dask is not installed.
    ValueError
        If `ndim` is not None, 2 or 3.

    Notes
    -----
    Integer TIFF and ``.npy`` data keep their values (they are usually photon counts).
    8-bit and 16-bit PNGs are divided by 255 and 65535, giving values in ``[0, 1]``. Colour
    PNGs and RGB/RGBA TIFFs become grayscale luminance, with a :class:`UserWarning`.

    TIFF axes come from tifffile's first series: ImageJ z-stacks (``ZYX``) and plain stacks
    (an unlabelled leading axis, ``QYX`` or ``IYX``) are read as ``(z, y, x)``; time (``T``)
    and channel (``C``) axes longer than 1 are refused.

    Integer TIFF and ``.npy`` data record their type's largest value as `saturation` (255 for
    ``uint8``, 65535 for ``uint16``); :attr:`ImageData.saturated` marks the voxels at it.

    Voxel sizes are only read from TIFF files. Each axis takes the first usable value of:

    1. OME-XML metadata: ``PhysicalSizeX/Y/Z`` of the first ``Pixels`` element, in
       ``PhysicalSizeXUnit`` etc. (micrometres when absent, as in the OME schema);
    2. ImageJ metadata: the z step ``spacing``, in ImageJ's ``unit``;
    3. the y/x pixel size ``1 / resolution`` from the first page's XResolution and
       YResolution tags, unless both are the default 1. With ResolutionUnit CENTIMETER the
       size is converted to micrometres. With INCH the tags usually give a print resolution
       (such as 72 dpi) rather than a sampling step, so they are ignored unless ImageJ
       metadata gives a unit.

    Sizes in a known length unit (nm, µm and its spellings, mm, cm, m, pm, Å, inch) are
    converted to micrometres, reported as ``"um"``; other units are kept as written. A size
    that is not a positive finite number is ignored with a :class:`UserWarning` (the file
    then has no voxel size along that axis). If only some axes are calibrated, the others get
    1.0, as in ImageJ. If none are, `voxel_size` and `unit` are None.

    An OME-Zarr image's level 0 is loaded whole; its voxel size comes from the NGFF scale
    transform (see :func:`~bayesdeconv.io.read_ome_zarr`).

    NaN and Inf values are returned unchanged.
    """
    if ndim is not None and ndim not in (2, 3):
        raise ValueError(f"ndim must be None, 2 or 3, got {ndim!r}")
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"file not found: {p}")
    if p.is_dir() and (p.suffix.lower() in ZARR_SUFFIXES or is_ome_zarr(p)):
        return _read_zarr_image(p, ndim)
    if p.is_dir():
        raise ImageReadError(f"{p} is a directory, not an image file")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ImageReadError(
            f"unsupported file type {p.suffix or '(no suffix)'!r} for {p}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ImageReadError(f"cannot read {p}: {_short_reason(exc)}") from exc
    if size == 0:
        raise ImageReadError(f"{p} is empty (0 bytes)")

    if suffix in TIFF_SUFFIXES:
        reader = read_tiff_file
    elif suffix in PNG_SUFFIXES:
        reader = _read_png
    else:
        reader = _read_npy
    try:
        raw, axes, voxel, unit = reader(p)
    except ImageReadError:
        raise
    except Exception as exc:  # any parser failure becomes one readable line
        raise ImageReadError(f"cannot read {p}: {_short_reason(exc)}") from exc
    return _to_image(raw, axes, voxel, unit, p, ndim)


def _to_image(
    raw: np.ndarray,
    axes: str | None,
    voxel: dict[str, float] | None,
    unit: str | None,
    p: Path,
    ndim: int | None,
) -> ImageData:
    """Turn a reader's result into an :class:`ImageData`, dropping singleton axes."""
    saturation = float(np.iinfo(raw.dtype).max) if raw.dtype.kind in "ui" else None
    array = _to_float64(raw, p)
    keep = [i for i, n in enumerate(array.shape) if n != 1]
    original_shape = array.shape
    array = array.reshape([array.shape[i] for i in keep])
    if array.ndim not in (2, 3):
        raise ImageReadError(f"expected a 2-D or 3-D image, got shape {original_shape} in {p}")
    if array.size == 0:
        raise ImageReadError(f"{p} contains no pixels (shape {original_shape})")
    if ndim is not None and array.ndim != ndim:
        raise ImageReadError(
            f"expected a {ndim}-D image, got a {array.ndim}-D image of shape {array.shape} in {p}"
        )

    voxel_size: tuple[float, ...] | None = None
    if voxel is not None and axes is not None:
        kept_axes = [axes[i] for i in keep]
        if any(ax in voxel for ax in kept_axes):
            voxel_size = tuple(voxel.get(ax, 1.0) for ax in kept_axes)
    if voxel_size is None:
        unit = None
    return ImageData(array=array, voxel_size=voxel_size, unit=unit, saturation=saturation)


def _read_zarr_image(p: Path, ndim: int | None) -> ImageData:
    """Load an OME-Zarr image without a time axis (see :func:`read_image`)."""
    image = read_ome_zarr(p)
    if "t" in image.axes:
        raise ImageReadError(
            f"{p} holds several images (axes {image.axes!r}, {image.shape[0]} time points); "
            "use the batch mode"
        )
    try:
        raw = np.asarray(image.array.compute())
    except Exception as exc:  # a damaged chunk becomes one readable line
        raise ImageReadError(f"cannot read {p}: {_short_reason(exc)}") from exc
    axes = image.axes.upper()
    voxel = None if image.voxel_size is None else dict(zip(axes, image.voxel_size, strict=True))
    return _to_image(raw, axes, voxel, image.unit, p, ndim)


def _short_reason(exc: BaseException) -> str:
    """Return a one-line, length-limited description of an exception."""
    text = " ".join(str(exc).split())
    if not text:
        text = type(exc).__name__
    if len(text) > _REASON_MAX_CHARS:
        text = text[: _REASON_MAX_CHARS - 3] + "..."
    return text


def _to_float64(raw: np.ndarray, path: Path) -> np.ndarray:
    """Cast real numeric (or boolean) data to ``float64``; reject anything else."""
    kind = raw.dtype.kind
    if kind == "c":
        raise ImageReadError(f"cannot read {path}: complex data ({raw.dtype}) is not supported")
    if kind not in "biuf":
        raise ImageReadError(f"cannot read {path}: non-numeric data type {raw.dtype}")
    return np.asarray(raw, dtype=np.float64)


def _read_npy(path: Path) -> ReadResult:
    """Read a ``.npy`` file without unpickling; no voxel size is stored."""
    with open(path, "rb") as handle:
        head = handle.read(len(_NPY_MAGIC))
    if head.startswith(b"PK"):
        raise ImageReadError(f"cannot read {path}: file is an .npz archive, not a .npy array")
    if head != _NPY_MAGIC:
        raise ImageReadError(f"cannot read {path}: not a .npy file (bad header)")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ImageReadError(
                f"cannot read {path}: holds Python objects, which are not loaded for safety"
            ) from exc
        raise
    return array, None, None, None


def _read_png(path: Path) -> ReadResult:
    """Read a PNG, scaling 8-/16-bit values to [0, 1] and converting colour to gray."""
    from PIL import Image

    with Image.open(path) as img:
        if img.format != "PNG":
            raise ImageReadError(
                f"cannot read {path}: file content is {img.format or 'unknown'}, not PNG"
            )
        img.load()
        mode = img.mode
        if mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            mode = img.mode
        if mode in ("RGB", "RGBA", "RGBX"):
            rgb = np.asarray(img, dtype=np.float64)[..., :3]
            warnings.warn(
                f"converted colour image to grayscale (luminance) when reading {path}",
                UserWarning,
                stacklevel=3,
            )
            gray = rgb @ LUMA
            return gray / 255.0, None, None, None
        if mode == "LA":
            warnings.warn(
                f"dropped the alpha channel when reading {path}", UserWarning, stacklevel=3
            )
            return np.asarray(img, dtype=np.float64)[..., 0] / 255.0, None, None, None
        data = np.asarray(img)
    if mode == "1":
        return data.astype(np.float64), None, None, None
    if mode == "L":
        return data.astype(np.float64) / 255.0, None, None, None
    if mode.startswith("I;16") or mode == "I":
        # Pillow opens 16-bit grayscale PNGs as "I;16" (older versions as "I").
        return data.astype(np.float64) / 65535.0, None, None, None
    raise ImageReadError(f"cannot read {path}: unsupported PNG mode {mode!r}")
