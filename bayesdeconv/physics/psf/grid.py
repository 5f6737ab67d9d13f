"""Sampling grids of the PSF generators: centred index offsets and unit-sum normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SizeLike", "centred_coords", "normalise_kernel"]

SizeLike = int | Sequence[int]


def centred_coords(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Open (broadcastable) integer offsets ``i - s // 2`` for every axis of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        Array shape.

    Returns
    -------
    list of numpy.ndarray
        One integer array per axis, of length ``s`` along that axis and 1 along the others
        (as :data:`numpy.ogrid` gives), holding ``-(s // 2), ..., s - s // 2 - 1``.
    """
    return list(np.ogrid[tuple(slice(-(s // 2), s - s // 2) for s in shape)])


def normalise_kernel(psf: np.ndarray) -> np.ndarray:
    """Clip to non-negative values and divide by the sum (in place); return float64.

    Parameters
    ----------
    psf : numpy.ndarray
        Unnormalised kernel values. A ``float64`` array is modified in place.

    Returns
    -------
    numpy.ndarray
        The kernel as ``float64``, non-negative, summing to one.

    Raises
    ------
    ValueError
        If the clipped kernel has no (finite, positive) mass.
    """
    psf = np.asarray(psf, dtype=np.float64)
    np.maximum(psf, 0.0, out=psf)
    total = psf.sum()
    if not np.isfinite(total) or total <= 0.0:
        raise ValueError(
            "the PSF has no mass on the requested grid; increase the size or check the parameters"
        )
    psf /= total
    return psf
