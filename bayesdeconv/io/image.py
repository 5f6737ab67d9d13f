"""The image read from disk (:class:`ImageData`) and the error for unreadable files."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ImageData", "ImageReadError", "ReadResult"]


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
    saturation : float or None
        The largest value the file's integer data type can hold (255 for ``uint8``, 65535 for
        ``uint16``), or None for floating-point (or rescaled PNG) data. Voxels at this value
        are saturated: the detector clipped them, so their true value is only known to be at
        least this (see :attr:`saturated`).

    Raises
    ------
    ValueError
        If `voxel_size` does not have one entry per axis, or an entry is not a positive
        finite number.

    Notes
    -----
    Instances compare by identity (``eq=False``), since comparing arrays element-wise does
    not give a single truth value.
    """

    array: np.ndarray
    voxel_size: tuple[float, ...] | None = None
    unit: str | None = None
    saturation: float | None = None

    def __post_init__(self) -> None:
        if self.voxel_size is not None:
            voxel = tuple(float(v) for v in self.voxel_size)
            if len(voxel) != self.array.ndim:
                raise ValueError(
                    f"voxel_size has {len(voxel)} entries but the array has {self.array.ndim} axes"
                )
            if not all(math.isfinite(v) and v > 0 for v in voxel):
                raise ValueError(f"voxel_size entries must be positive and finite, got {voxel}")
            object.__setattr__(self, "voxel_size", voxel)

    @property
    def saturated(self) -> np.ndarray | None:
        """Boolean mask of the voxels at :attr:`saturation`, or None without a saturation."""
        if self.saturation is None:
            return None
        return self.array >= self.saturation

    @property
    def unsaturated(self) -> np.ndarray | None:
        """The observation mask without the saturated voxels (True = use), or None when no
        voxel is saturated."""
        saturated = self.saturated
        return None if saturated is None or not saturated.any() else ~saturated

    @property
    def ndim(self) -> int:
        """Number of image axes (2 or 3)."""
        return int(self.array.ndim)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the image array."""
        return tuple(self.array.shape)


#: What a format reader returns: the raw array, its axis letters (tifffile's, or None), the
#: voxel size per axis letter (or None) and the unit (or None).
ReadResult = tuple[np.ndarray, str | None, dict[str, float] | None, str | None]
