r"""Scoring of the Levin et al. (CVPR 2009) blind-deblurring benchmark.

The headline figures of the Levin benchmark rest on these functions. A restored image is
compared with the sharp image after alignment, because the blurred images of the data set
match the stored kernels up to a sub-pixel shift of a few pixels:

* :func:`align` finds the sub-pixel shift (at most ``max_shift`` pixels per axis) with the
  least mean squared error on the central region (a border of ``crop = 15`` pixels is left
  out on every side) and applies it with cubic-spline interpolation;
* :func:`score` gives the PSNR (peak 1.0) and SSIM (``data_range=1.0``) of the aligned image
  on the central region;
* :func:`error_ratio` is the measure of Levin et al. [1]_: the sum of squared errors of the
  estimate over that of the non-blind deconvolution with the true kernel, both aligned; a
  ratio of at most :data:`SUCCESS_RATIO` counts as a success;
* :func:`kernel_ncc` compares an estimated kernel with the truth and :func:`summarise`
  aggregates per-image results.

Loading the data set is left to the benchmark scripts (``benchmarks/levin.py``). SSIM needs
scikit-image (a test extra), imported only when :func:`score` is called.

References
----------
.. [1] A. Levin, Y. Weiss, F. Durand and W. T. Freeman, "Understanding and evaluating blind
   deconvolution algorithms", CVPR 2009.
.. [2] Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality assessment:
   from error visibility to structural similarity", *IEEE Transactions on Image Processing*
   13(4), 600-612, 2004.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.signal import correlate

__all__ = ["SUCCESS_RATIO", "align", "error_ratio", "kernel_ncc", "score", "summarise"]

SUCCESS_RATIO = 3.0
"""A result with error ratio <= 3 counts as a success (Levin et al. 2009)."""


def _check_pair(a: np.ndarray, b: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """Return two same-shape 2-D images as float64, checking that `crop` leaves pixels."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"need two 2-D images of the same shape, got {a.shape} and {b.shape}")
    if crop < 0 or 2 * crop >= min(a.shape):
        raise ValueError(f"crop={crop} leaves nothing of a {a.shape} image")
    return a, b


def _central(img: np.ndarray, crop: int) -> np.ndarray:
    """The image without a border of `crop` pixels on every side."""
    h, w = img.shape
    return img[crop : h - crop, crop : w - crop]


def _cubic_weights(t: float) -> tuple[float, float, float, float]:
    """Cubic B-spline weights of the taps at offsets -1, 0, 1, 2 for a position ``t`` in [0, 1)."""
    g = 1.0 - t
    return g**3 / 6, 2 / 3 - t**2 + t**3 / 2, 2 / 3 - g**2 + g**3 / 2, t**3 / 6


def align(
    estimate: np.ndarray, reference: np.ndarray, max_shift: float = 8.0, crop: int = 15
) -> tuple[np.ndarray, tuple[float, float]]:
    """Shift ``estimate`` onto ``reference`` by the sub-pixel shift with least central MSE.

    The MSE is taken on ``reference[crop:-crop, crop:-crop]``. An integer grid search over
    ``|dy|, |dx| <= max_shift`` is followed by a pattern search (steps 1/2 .. 1/64 px) with cubic
    spline interpolation; values outside the frame repeat the edge (``mode="nearest"``).

    Parameters
    ----------
    estimate, reference : numpy.ndarray
        2-D images of the same shape.
    max_shift : float
        Largest shift per axis, in pixels.
    crop : int
        Border (pixels) left out of the comparison on every side.

    Returns
    -------
    shifted : numpy.ndarray
        ``scipy.ndimage.shift(estimate, (dy, dx), order=3, mode="nearest")``.
    shift : tuple of float
        ``(dy, dx)``; ``shifted[i, j] ~ estimate[i - dy, j - dx]``.
    """
    est, ref = _check_pair(estimate, reference, crop)
    (h, w), target = ref.shape, _central(ref, crop)
    m, pad = int(math.floor(max_shift)), int(math.ceil(max_shift)) + 12
    raw = np.pad(est, pad, mode="edge")
    coef = ndimage.spline_filter(raw, order=3, mode="mirror")
    r0, r1, c0, c1 = crop + pad, h - crop + pad, crop + pad, w - crop + pad

    def mse_int(dy: int, dx: int) -> float:
        diff = raw[r0 - dy : r1 - dy, c0 - dx : c1 - dx] - target
        return float(np.mean(diff * diff))

    def mse(dy: float, dx: float) -> float:  # separable cubic spline on the coefficients
        ny, nx = math.floor(-dy), math.floor(-dx)
        wy, wx = _cubic_weights(-dy - ny), _cubic_weights(-dx - nx)
        rows = sum(wy[k + 1] * coef[r0 + ny + k : r1 + ny + k] for k in range(-1, 3))
        vals = sum(wx[k + 1] * rows[:, c0 + nx + k : c1 + nx + k] for k in range(-1, 3))
        diff = vals - target
        return float(np.mean(diff * diff))

    grid = [(mse_int(dy, dx), dy, dx) for dy in range(-m, m + 1) for dx in range(-m, m + 1)]
    best_err, by, bx = min(grid)
    best, step = (float(by), float(bx)), 0.5
    while step >= 1 / 64:  # pattern search: 8 neighbours at a halving step
        centre = best
        for sy, sx in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
            cand = (float(np.clip(centre[0] + sy * step, -max_shift, max_shift)),
                    float(np.clip(centre[1] + sx * step, -max_shift, max_shift)))  # fmt: skip
            err = mse(*cand)
            if err < best_err:
                best_err, best = err, cand
        step /= 2
    if best == (0.0, 0.0):
        return est.copy(), best
    return ndimage.shift(est, best, order=3, mode="nearest"), best


def score(
    estimate: np.ndarray, sharp: np.ndarray, crop: int = 15, max_shift: float = 8.0
) -> dict[str, Any]:
    """Shift-tolerant PSNR / SSIM / MSE of ``estimate`` (not clipped) against ``sharp``.

    Parameters
    ----------
    estimate, sharp : numpy.ndarray
        2-D images of the same shape, intensities in ``[0, 1]`` (``estimate`` is not clipped).
    crop : int, default 15
        Border (pixels) left out on every side.
    max_shift : float, default 8.0
        Largest alignment shift per axis, in pixels (see :func:`align`).

    Returns
    -------
    dict
        ``{"psnr", "ssim", "mse", "shift"}``: PSNR in dB with peak 1.0 (``inf`` if exact),
        SSIM (Wang et al. [2]_, scikit-image's ``structural_similarity`` with
        ``data_range=1.0``) and the MSE, all on the central region after :func:`align`;
        ``shift`` is its ``(dy, dx)``.

    Raises
    ------
    ValueError
        If the images are not 2-D of the same shape or `crop` leaves nothing.
    """
    from skimage.metrics import structural_similarity

    shifted, shift = align(estimate, sharp, max_shift=max_shift, crop=crop)
    a, b = _central(shifted, crop), _central(np.asarray(sharp, dtype=np.float64), crop)
    err = float(np.mean((a - b) ** 2))
    psnr = math.inf if err == 0 else 10 * math.log10(1.0 / err)
    ssim = float(structural_similarity(a, b, data_range=1.0))
    return {"psnr": psnr, "ssim": ssim, "mse": err, "shift": shift}


def error_ratio(
    estimate: np.ndarray,
    reference_estimate: np.ndarray,
    sharp: np.ndarray,
    crop: int = 15,
    max_shift: float = 8.0,
) -> float:
    """Levin et al. error ratio: SSD(estimate) / SSD(reference_estimate), both vs ``sharp``.

    Parameters
    ----------
    estimate : numpy.ndarray
        The restored image (2-D, same shape as ``sharp``).
    reference_estimate : numpy.ndarray
        The non-blind deconvolution with the true kernel.
    sharp : numpy.ndarray
        The sharp image.
    crop : int, default 15
        Border (pixels) left out on every side.
    max_shift : float, default 8.0
        Largest alignment shift per axis, in pixels.

    Returns
    -------
    float
        The ratio; 1.0 if both SSDs are zero, ``inf`` if only the reference's is.

    Raises
    ------
    ValueError
        If the images are not 2-D of one shape or `crop` leaves nothing.

    Notes
    -----
    Each image is aligned to ``sharp`` first (:func:`align`) and the sum of squared
    differences (SSD) is taken on the central region. A ratio of at most
    :data:`SUCCESS_RATIO` counts as a success (Levin et al. [1]_).
    """
    _check_pair(estimate, sharp, crop)
    _, truth = _check_pair(reference_estimate, sharp, crop)
    truth, ssd = _central(truth, crop), []
    for img in (estimate, reference_estimate):
        shifted, _ = align(img, sharp, max_shift=max_shift, crop=crop)
        ssd.append(float(np.sum((_central(shifted, crop) - truth) ** 2)))
    if ssd[1] == 0:
        return 1.0 if ssd[0] == 0 else math.inf
    return ssd[0] / ssd[1]


def kernel_ncc(estimate: np.ndarray, truth: np.ndarray) -> float:
    r"""Normalised cross-correlation of two kernels (means removed), maximised over shifts.

    Parameters
    ----------
    estimate, truth : numpy.ndarray
        Kernels of any (possibly different) shapes.

    Returns
    -------
    float
        :math:`\max_s \sum a\,b_s / \sqrt{\sum a^2 \sum b^2}` over all shifts :math:`s` of
        the full cross-correlation, with :math:`a, b` the kernels minus their means; 1.0 for
        kernels equal up to a shift.
    """
    a, b = estimate - estimate.mean(), truth - truth.mean()
    return float(correlate(a, b, mode="full").max() / np.sqrt((a * a).sum() * (b * b).sum()))


def summarise(rows: list[dict[str, Any]]) -> dict[str, float | int]:
    r"""Aggregate per-image dicts (keys ``psnr``, ``ssim``, ``error_ratio``, ``seconds``).

    Parameters
    ----------
    rows : list of dict
        One dict per image, with at least those four keys.

    Returns
    -------
    dict
        ``n``, ``psnr_mean``, ``ssim_mean``, ``success_rate`` (share with error ratio
        <= :data:`SUCCESS_RATIO`), ``error_ratio_mean/median/max``, ``error_ratio_gmean``
        (the geometric mean :math:`\exp(\overline{\log r})`, which weighs a halved and a
        doubled error alike) and ``seconds_mean``.

    Raises
    ------
    ValueError
        If `rows` is empty.
    """
    if not rows:
        raise ValueError("summarise needs at least one row")
    ratios = np.array([r["error_ratio"] for r in rows], dtype=np.float64)
    return {
        "n": len(rows),
        "psnr_mean": float(np.mean([r["psnr"] for r in rows])),
        "ssim_mean": float(np.mean([r["ssim"] for r in rows])),
        "success_rate": float(np.mean(ratios <= SUCCESS_RATIO)),
        "error_ratio_mean": float(np.mean(ratios)),
        "error_ratio_median": float(np.median(ratios)),
        "error_ratio_max": float(np.max(ratios)),
        "error_ratio_gmean": float(np.exp(np.mean(np.log(ratios)))),
        "seconds_mean": float(np.mean([r["seconds"] for r in rows])),
    }
