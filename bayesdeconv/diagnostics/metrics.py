"""Image-quality and calibration metrics for deconvolution results (plain NumPy).

All functions accept array-likes of the same shape (2-D, 3-D or any other) and return Python
floats. They are meant for benchmarks against a known ground truth ``reference``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["coverage", "isnr", "psnr", "rmse"]


def _as_arrays(names: tuple[str, ...], *values: ArrayLike) -> list[np.ndarray]:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    shape = arrays[0].shape
    for name, array in zip(names[1:], arrays[1:], strict=True):
        if array.shape != shape:
            raise ValueError(
                f"{name} has shape {array.shape} but {names[0]} has shape {shape}; "
                "the arrays must have the same shape"
            )
    if arrays[0].size == 0:
        raise ValueError("the arrays are empty")
    return arrays


def rmse(estimate: ArrayLike, reference: ArrayLike) -> float:
    """Root-mean-square error.

    .. math:: \\mathrm{RMSE} = \\sqrt{\\frac1N \\sum_i (\\hat x_i - x_i)^2}

    Parameters
    ----------
    estimate, reference : array_like
        Estimated and true image, same shape.

    Returns
    -------
    float
        The RMSE (in the image's units).

    Raises
    ------
    ValueError
        If the shapes differ or the arrays are empty.
    """
    est, ref = _as_arrays(("estimate", "reference"), estimate, reference)
    return float(np.sqrt(np.mean((est - ref) ** 2)))


def psnr(estimate: ArrayLike, reference: ArrayLike, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in decibels.

    .. math:: \\mathrm{PSNR} = 10 \\log_{10} \\frac{R^2}{\\mathrm{MSE}(\\hat x, x)}

    with :math:`R` the data range. It is ``inf`` for a perfect estimate.

    Parameters
    ----------
    estimate, reference : array_like
        Estimated and true image, same shape.
    data_range : float, optional
        :math:`R`; defaults to ``reference.max() - reference.min()``. Note that this default
        differs from libraries that use the dtype's range (e.g. 1 for floats).

    Returns
    -------
    float
        PSNR in dB.

    Raises
    ------
    ValueError
        If the shapes differ, or the data range is zero, negative or not finite.

    References
    ----------
    .. [1] R. C. Gonzalez and R. E. Woods, *Digital Image Processing*, 4th ed., Pearson, 2018.
    """
    est, ref = _as_arrays(("estimate", "reference"), estimate, reference)
    if data_range is None:
        data_range = float(ref.max() - ref.min())
    data_range = float(data_range)
    if not math.isfinite(data_range) or data_range <= 0:
        raise ValueError(
            f"data_range must be positive and finite, got {data_range}"
            " (a constant reference has zero range: pass data_range explicitly)"
        )
    mse = float(np.mean((est - ref) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def isnr(estimate: ArrayLike, observed: ArrayLike, reference: ArrayLike) -> float:
    """Improvement in signal-to-noise ratio (ISNR) in decibels.

    .. math:: \\mathrm{ISNR} = 10 \\log_{10}
              \\frac{\\lVert y - x \\rVert_2^2}{\\lVert \\hat x - x \\rVert_2^2}

    Positive values mean the estimate :math:`\\hat x` is closer to the truth :math:`x` than the
    observed (blurred, noisy) image :math:`y` is. It is ``inf`` for a perfect estimate.

    Parameters
    ----------
    estimate, observed, reference : array_like
        Restored, observed and true image, all the same shape.

    Returns
    -------
    float
        ISNR in dB.

    Raises
    ------
    ValueError
        If the shapes differ, or the observed image equals the reference (ISNR undefined).

    References
    ----------
    .. [1] M. R. Banham and A. K. Katsaggelos, "Digital image restoration," *IEEE Signal
       Processing Magazine* 14(2), 24-41, 1997.
    """
    est, obs, ref = _as_arrays(("estimate", "observed", "reference"), estimate, observed, reference)
    before = float(np.sum((obs - ref) ** 2))
    after = float(np.sum((est - ref) ** 2))
    if before == 0.0:
        raise ValueError("observed equals reference: the ISNR is undefined")
    if after == 0.0:
        return math.inf
    return 10.0 * math.log10(before / after)


def coverage(reference: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Empirical coverage: the fraction of pixels whose true value lies in ``[lower, upper]``.

    .. math:: c = \\frac1N \\sum_i \\mathbb 1[\\ell_i \\le x_i \\le u_i]

    For calibrated :math:`p` credible intervals :math:`c \\approx p`.

    Parameters
    ----------
    reference : array_like
        True image.
    lower, upper : array_like
        Per-pixel interval bounds (e.g. from :meth:`bayesdeconv.Result.credible_interval`),
        same shape as ``reference``. NaN bounds count as not covering.

    Returns
    -------
    float
        Coverage in ``[0, 1]``.

    Raises
    ------
    ValueError
        If the shapes differ or some ``lower > upper``.
    """
    ref, lo, hi = _as_arrays(("reference", "lower", "upper"), reference, lower, upper)
    if np.any(lo > hi):
        raise ValueError(f"lower > upper at {int(np.sum(lo > hi))} pixel(s)")
    return float(np.mean((lo <= ref) & (ref <= hi)))
