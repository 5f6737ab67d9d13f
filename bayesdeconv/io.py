"""Reading and writing images: TIFF, PNG and NumPy ``.npy`` files.

Reading
-------
:func:`read_image` returns an :class:`ImageData` holding a ``float64`` array of 2 or 3
dimensions (axes ``(y, x)`` or ``(z, y, x)``). It also holds the voxel size and its unit
when the file records them. Anything that cannot be turned into such an image raises
:class:`ImageReadError`, a :class:`ValueError` whose message is one line naming the file.

Value conventions
~~~~~~~~~~~~~~~~~
* TIFF and ``.npy`` integer data keep their values and are only cast to ``float64``. Such
  data are usually photon counts, and the noise model needs them unscaled.
* 8-bit PNGs are divided by 255 and 16-bit PNGs by 65535, so they lie in ``[0, 1]``. PNG is
  a display format, so these files are treated as intensities on a fixed scale.
* A colour PNG (RGB, RGBA, palette) or RGB/RGBA TIFF is converted to grayscale luminance
  ``0.299 R + 0.587 G + 0.114 B`` with a :class:`UserWarning`. Alpha channels are dropped.
  (TIFF integer colour values are not rescaled.)
* A TIFF with a time or channel axis (tifffile axes ``T`` or ``C`` longer than 1) is refused:
  only single 2-D images and z-stacks are images here.
* NaN and Inf values are kept as they are. Checking for them is left to the caller.

Writing
-------
:func:`write_tiff`, :func:`write_npy`, :func:`write_png` and the dispatcher :func:`write_image`
all write atomically. The data go to a temporary file in the target directory, which is then
renamed over the target with :func:`os.replace`. A failed write never leaves a partial file
and never damages an existing one. A caller that stages several outputs in temporary files
of its own (the command line does) can turn this off with :func:`direct_writes`, so that
each output is written once, straight to the caller's temporary file.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "ImageData",
    "ImageReadError",
    "atomic_write",
    "direct_writes",
    "file_mode_for",
    "read_image",
    "write_image",
    "write_npy",
    "write_png",
    "write_tiff",
]

PathLike = str | os.PathLike[str]

_TIFF_SUFFIXES = (".tif", ".tiff")
_PNG_SUFFIXES = (".png",)
_NPY_SUFFIXES = (".npy",)
SUPPORTED_SUFFIXES: tuple[str, ...] = _TIFF_SUFFIXES + _PNG_SUFFIXES + _NPY_SUFFIXES

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

_REASON_MAX_CHARS = 200
_NPY_MAGIC = b"\x93NUMPY"

# Luminance weights (ITU-R BT.601), as used by Pillow's "L" conversion.
_LUMA = np.array([0.299, 0.587, 0.114])

# Set by direct_writes(): atomic_write then writes straight to its target.
_DIRECT_WRITES: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "bayesdeconv_io_direct_writes", default=False
)


class ImageReadError(ValueError):
    """An input file could not be read as a 2-D or 3-D image.

    The message is a single line that names the file.
    """


@dataclass(frozen=True, eq=False)
class ImageData:
    """An image read from disk.

    Parameters
    ----------
    array : numpy.ndarray
        Image values, ``float64``, with axes ``(y, x)`` or ``(z, y, x)``.
    voxel_size : tuple of float or None
        Physical size of a pixel (voxel) along each axis, in the same order as the axes of
        `array`, or None when the file does not record it.
    unit : str or None
        Unit of `voxel_size` (for example ``"um"``), or None when unknown.

    Notes
    -----
    Instances compare by identity (``eq=False``), since comparing arrays element-wise does
    not give a single truth value.
    """

    array: np.ndarray
    voxel_size: tuple[float, ...] | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.voxel_size is not None:
            voxel = tuple(float(v) for v in self.voxel_size)
            if len(voxel) != self.array.ndim:
                raise ValueError(
                    f"voxel_size has {len(voxel)} entries but the array has {self.array.ndim} axes"
                )
            object.__setattr__(self, "voxel_size", voxel)

    @property
    def ndim(self) -> int:
        """Number of image axes (2 or 3)."""
        return int(self.array.ndim)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the image array."""
        return tuple(self.array.shape)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_image(path: PathLike, *, ndim: int | None = None) -> ImageData:
    """Read a 2-D or 3-D image from a TIFF, PNG or ``.npy`` file.

    Parameters
    ----------
    path : str or os.PathLike
        File to read. The format is chosen by the suffix, ignoring case: ``.tif``/``.tiff``
        (read with tifffile), ``.png`` (read with Pillow) or ``.npy`` (read with
        :func:`numpy.load` with ``allow_pickle=False``).
    ndim : {None, 2, 3}, optional
        Required number of dimensions. If given and the image has a different number,
        :class:`ImageReadError` is raised.

    Returns
    -------
    ImageData
        The image as ``float64`` with singleton axes removed, and its voxel size and unit.

    Raises
    ------
    ImageReadError
        If the file is missing, is a directory, is empty, has an unsupported suffix, cannot
        be parsed, holds complex or non-numeric data, holds no pixels, is a TIFF with a time
        or channel axis, is not 2-D or 3-D after removing singleton axes, or does not have
        `ndim` dimensions.
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

    Voxel sizes are only read from TIFF files:

    * The y/x pixel size is ``1 / resolution`` from the first page's XResolution and
      YResolution tags, unless both are the default 1. With ResolutionUnit CENTIMETER the
      size is converted to micrometres. With INCH the tags usually give a print resolution
      (such as 72 dpi) rather than a sampling step, so they are ignored unless ImageJ
      metadata gives a unit.
    * The z step is ImageJ's ``spacing`` and the unit is ImageJ's ``unit``. The various
      spellings of micrometre are reported as ``"um"``.
    * If only some axes are calibrated, the others get 1.0, as in ImageJ. If none are,
      `voxel_size` and `unit` are None.

    NaN and Inf values are returned unchanged.
    """
    if ndim is not None and ndim not in (2, 3):
        raise ValueError(f"ndim must be None, 2 or 3, got {ndim!r}")
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"file not found: {p}")
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

    if suffix in _TIFF_SUFFIXES:
        reader = _read_tiff
    elif suffix in _PNG_SUFFIXES:
        reader = _read_png
    else:
        reader = _read_npy
    try:
        raw, axes, voxel, unit = reader(p)
    except ImageReadError:
        raise
    except Exception as exc:  # any parser failure becomes one readable line
        raise ImageReadError(f"cannot read {p}: {_short_reason(exc)}") from exc

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
    return ImageData(array=array, voxel_size=voxel_size, unit=unit)


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


_ReadResult = tuple[np.ndarray, str | None, dict[str, float] | None, str | None]


def _read_npy(path: Path) -> _ReadResult:
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


def _read_png(path: Path) -> _ReadResult:
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
            gray = rgb @ _LUMA
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


def _read_tiff(path: Path) -> _ReadResult:
    """Read the first series of a TIFF file and its voxel size metadata.

    Time (``T``) and channel (``C``) axes longer than 1 are refused. RGB/RGBA samples
    (axis ``S`` of length 3 or 4) become grayscale luminance, with a :class:`UserWarning`;
    a gray + alpha pair (``S`` of length 2) keeps the gray sample.
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
        return np.asarray(data[..., :3], dtype=np.float64) @ _LUMA, rest
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


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def direct_writes() -> Iterator[None]:
    """Make :func:`atomic_write` (and every writer built on it) write straight to its target.

    For callers that already write into temporary files of their own and rename them into
    place themselves, such as the command line: without this each output would go through a
    second temporary file. The setting applies to the current thread (or task) only and is
    restored on exit.

    Examples
    --------
    >>> with direct_writes():  # doctest: +SKIP
    ...     write_tiff(my_temp_file, image)
    """
    token = _DIRECT_WRITES.set(True)
    try:
        yield
    finally:
        _DIRECT_WRITES.reset(token)


def atomic_write(path: PathLike, writer: Callable[[str], None], *, overwrite: bool = True) -> Path:
    """Run ``writer(tmp_name)`` on a temporary file, then rename it to `path`.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination. Its directory must exist.
    writer : callable
        Called with the name of an empty temporary file in the same directory as `path`;
        it must write the complete output to that name.
    overwrite : bool, default True
        If False and `path` exists, raise :class:`FileExistsError` before writing.

    Returns
    -------
    pathlib.Path
        The destination path.

    Raises
    ------
    FileExistsError
        If `overwrite` is False and `path` already exists.

    Notes
    -----
    The temporary file is removed if `writer` or the rename fails, so the destination is
    either the complete new file or left untouched. The new file gets the permissions of the
    file it replaces, or the default permissions (from the umask) for a new file.

    Inside :func:`direct_writes`, `writer` is called on `path` itself, with no temporary
    file and no change of permissions.
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(f"file exists and overwrite=False: {target}")
    if _DIRECT_WRITES.get():
        writer(str(target))
        return target
    directory = target.parent if str(target.parent) else Path(".")
    suffix = target.suffix or ".tmp"
    with tempfile.NamedTemporaryFile(
        delete=False, dir=directory, prefix=f".{target.name}.", suffix=suffix
    ) as handle:
        tmp_name = handle.name
    try:
        writer(tmp_name)
        os.chmod(tmp_name, file_mode_for(target))
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return target


def file_mode_for(target: Path) -> int:
    """Permission bits for the new file: those of the old file, else ``0o666 & ~umask``."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


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
    The file is written atomically (see :func:`atomic_write`). :func:`read_image` reads
    the values (to ``float32`` precision) and the voxel size back.
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
    if suffix in _TIFF_SUFFIXES:
        return write_tiff(path, array, voxel_size=voxel_size, overwrite=overwrite)
    if suffix not in _NPY_SUFFIXES + _PNG_SUFFIXES:
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
    if suffix in _NPY_SUFFIXES:
        return write_npy(path, array, overwrite=overwrite)
    return write_png(path, array, overwrite=overwrite)
