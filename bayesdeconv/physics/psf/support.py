r"""Crop a PSF to the support that holds its energy.

A measured 3-D PSF is stored on a grid as large as the stack (flowdec's bars: 32×64×64) although
a bead's image occupies a few voxels; every FFT of a `valid`-boundary fit pays for the full
support. :func:`crop_psf` keeps the smallest box centred at ``s // 2`` whose per-axis radii
hold the energy asked for, and says how much it dropped.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["crop_psf"]


def crop_psf(psf, energy: float = 0.999) -> tuple[np.ndarray, float]:
    r"""The PSF cropped to a centred odd box keeping at least ``energy`` of its sum, renormalised.

    Along each of the :math:`d` axes the radius :math:`r` is the smallest whose slab
    :math:`|i - c| \le r` (:math:`c = s // 2`) holds :math:`1 - (1 - \text{energy})/d` of the
    sum; by the union bound the box holds at least ``energy``.

    Parameters
    ----------
    psf : array_like
        Non-negative, centred at ``s // 2``; an even size loses its first row along that axis
        (the box is odd and centred).
    energy : float
        Share of the PSF's sum to keep, in (0, 1].

    Returns
    -------
    cropped : numpy.ndarray
        The box, divided by its sum (odd sizes, centred).
    dropped : float
        The share of the original sum outside the box: at most ``1 - energy``, plus what the
        first row of an even axis held (report it: widefield PSFs can reach their edges).

    Raises
    ------
    ValueError
        If ``energy`` is outside (0, 1], the PSF has a negative, NaN or Inf value, or sums to
        zero.
    """
    energy = float(energy)
    if not (0 < energy <= 1) or not math.isfinite(energy):
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    k = np.asarray(psf, dtype=np.float64)
    if not np.isfinite(k).all() or (k < 0).any():
        raise ValueError("the PSF must be finite and non-negative to be cropped")
    total = float(k.sum())
    if total <= 0:
        raise ValueError("the PSF sums to zero")
    share = 1.0 - (1.0 - energy) / k.ndim - 1e-12  # rounding of the sums
    box = []
    for axis, size in enumerate(k.shape):
        profile = k.sum(axis=tuple(a for a in range(k.ndim) if a != axis)) / total
        centre = size // 2
        largest = min(centre, size - 1 - centre)  # an even size loses its first row
        radius = 0
        while radius < largest and profile[centre - radius : centre + radius + 1].sum() < share:
            radius += 1
        box.append(slice(centre - radius, centre + radius + 1))
    cropped = k[tuple(box)]
    kept = float(cropped.sum())
    return cropped / kept, max(0.0, 1.0 - kept / total)
