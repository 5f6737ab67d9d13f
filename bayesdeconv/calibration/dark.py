r"""Offset and read noise from dark frames (no light, same exposure settings).

Each pixel's temporal mean over the frames is its offset; its temporal variance is
:math:`\sigma^2` times a :math:`\chi^2_{n-1}/(n-1)` variable for Gaussian read noise, so the
median over pixels divided by the :math:`\chi^2_{n-1}` median over :math:`n-1` is a consistent,
hot-pixel-robust estimate of :math:`\sigma^2` (the photon-transfer method, Janesick 2007).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

__all__ = ["DarkCalibration", "calibrate_from_dark_frames"]


@dataclass(frozen=True)
class DarkCalibration:
    """Offset and read noise measured on dark frames (:func:`calibrate_from_dark_frames`).

    Attributes
    ----------
    offset : float
        Median over pixels of the per-pixel temporal mean.
    read_noise : float
        :math:`\\sigma`: the median per-pixel temporal variance, corrected by the median of its
        :math:`\\chi^2_{n-1}` distribution (consistent for Gaussian read noise, robust to hot
        pixels), square-rooted.
    offset_map, variance_map : numpy.ndarray
        Per-pixel temporal mean and variance (``ddof=1``).
    n_frames : int
        Number of dark frames.
    """

    offset: float
    read_noise: float
    offset_map: np.ndarray = field(repr=False)
    variance_map: np.ndarray = field(repr=False)
    n_frames: int


def calibrate_from_dark_frames(dark) -> DarkCalibration:
    """Offset and read noise from a stack of dark frames ``(frames, y, x)``.

    Parameters
    ----------
    dark : array_like
        At least two frames taken with no light (shutter closed), same exposure settings.

    Returns
    -------
    DarkCalibration
    """
    frames = np.asarray(dark, dtype=float)
    if frames.ndim != 3:
        raise ValueError(
            f"dark frames must be a 3-D stack (frames, y, x), got shape {frames.shape}"
        )
    if frames.shape[0] < 2:
        raise ValueError(
            f"the read noise needs at least 2 dark frames (a temporal std), got {frames.shape[0]}"
        )
    if frames.shape[1] * frames.shape[2] == 0:
        raise ValueError("dark frames are empty")
    if not np.isfinite(frames).all():
        raise ValueError("dark frames contain NaN or Inf values")
    n = frames.shape[0]
    offset_map = frames.mean(axis=0)
    variance_map = frames.var(axis=0, ddof=1)
    variance = float(np.median(variance_map)) * (n - 1) / stats.chi2.ppf(0.5, n - 1)
    return DarkCalibration(
        offset=float(np.median(offset_map)),
        read_noise=math.sqrt(variance),
        offset_map=offset_map,
        variance_map=variance_map,
        n_frames=n,
    )
