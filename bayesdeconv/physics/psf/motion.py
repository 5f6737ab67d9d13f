"""Motion-blur PSFs: an anti-aliased line segment (:func:`motion_psf`) and a random camera
shake path (:func:`camera_shake_psf`)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from bayesdeconv.physics.psf.checks import check_finite, check_shape
from bayesdeconv.physics.psf.grid import SizeLike, normalise_kernel

__all__ = ["camera_shake_psf", "motion_psf"]


def motion_psf(
    size: SizeLike | None,
    length: float,
    angle: float = 0.0,
) -> np.ndarray:
    r"""Linear motion-blur PSF (anti-aliased line segment).

    Parameters
    ----------
    size : int or tuple of int (h, w) or None
        Array shape.  If ``None``, the square odd size
        :math:`2\lceil L/2\rceil + 3`.
    length : float
        Length :math:`L` of the motion in pixels, >= 0.  ``length < 1``
        gives a delta kernel (a single one at the centre pixel).
    angle : float, default 0.0
        Direction of motion in radians, from the :math:`+x` towards the
        :math:`+y` axis (see :mod:`bayesdeconv.physics.psf`).

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(h, w)`` centred at ``(h // 2, w // 2)``,
        non-negative, summing to one.

    Raises
    ------
    ValueError
        If ``length`` is negative or not finite, ``angle`` is not finite, or
        ``size`` is invalid.

    Warns
    -----
    UserWarning
        If part of the segment falls outside the array (it is truncated and
        the rest renormalised).

    Notes
    -----
    The continuous kernel is uniform on the segment
    :math:`\{t\,(\cos\alpha, \sin\alpha) : |t| \le L/2\}` centred on the
    centre pixel.  It is discretised by the midpoint rule with
    :math:`n = \max(2, \lceil 32 L\rceil)` points
    :math:`t_j = L\,((j + \tfrac12)/n - \tfrac12)` and each point is splatted
    onto its four neighbouring pixels with bilinear weights, which equals
    sampling the segment convolved with a separable triangle (tent) of
    half-width one pixel.  The second moment along the direction of motion is
    therefore :math:`L^2/12` plus a sub-pixel tent contribution
    (:math:`\le 1/4`), and the moment across it is at most :math:`1/4`.

    Examples
    --------
    >>> k = motion_psf(21, length=9.0, angle=0.0)
    >>> bool(np.allclose(k.sum(axis=1)[10], 1.0))
    True
    """
    L = check_finite("length", length)
    if L < 0.0:
        raise ValueError(f"length must be >= 0, got {L}")
    a = check_finite("angle", angle)
    if size is None:
        shape = (2 * math.ceil(L / 2.0) + 3,) * 2
    else:
        shape = check_shape("size", size, 2)
    h, w = shape
    psf = np.zeros(shape, dtype=np.float64)
    cy, cx = h // 2, w // 2
    if L < 1.0:
        psf[cy, cx] = 1.0
        return psf

    n = max(2, math.ceil(32.0 * L))
    t = L * ((np.arange(n, dtype=np.float64) + 0.5) / n - 0.5)
    _splat(psf, cy + t * math.sin(a), cx + t * math.cos(a), np.full(n, 1.0 / n))
    lost = 1.0 - psf.sum()
    if lost > 1e-9:
        warnings.warn(
            f"motion blur of length {L:g} at angle {a:g} rad does not fit in a kernel of "
            f"shape {shape}; {lost:.1%} of it was truncated",
            UserWarning,
            stacklevel=2,
        )
    return normalise_kernel(psf)


def _splat(psf: np.ndarray, py: np.ndarray, px: np.ndarray, weight: np.ndarray) -> None:
    """Add point masses ``weight`` at ``(py, px)`` with bilinear weights (outside: dropped)."""
    h, w = psf.shape
    x0 = np.floor(px)
    y0 = np.floor(py)
    fx = px - x0
    fy = py - y0
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            yy = y0 + dy
            xx = x0 + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            np.add.at(psf, (yy[inside], xx[inside]), (weight * wy * wx)[inside])


def camera_shake_psf(
    size: int,
    seed: int | np.random.Generator | None = None,
    *,
    turning: float = 3.0,
    dwell: float = 0.6,
) -> np.ndarray:
    r"""A random camera-shake PSF: a smooth random walk drawn on a ``size x size`` support.

    Parameters
    ----------
    size : int
        Side of the square, odd support, at least 5. The path spans ``size - 3`` pixels along
        its longer axis, so the kernel fills the support (Levin's camera-shake kernels are
        11-27 pixels [1]_).
    seed : int, numpy.random.Generator or None
        Random source; the same seed gives the same kernel.
    turning : float, default 3.0
        Standard deviation (radians) of the change of direction over the whole path; 0 draws
        a straight line, larger values curl the path.
    dwell : float, default 0.6
        Standard deviation of the log speed along the path; slow stretches collect more
        exposure (brighter dots on the trace), as a shaking hand does.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(size, size)``, non-negative, summing to one, with the
        bounding box of the path centred on the centre pixel.

    Raises
    ------
    ValueError
        If ``size`` is not an odd integer >= 5 or ``turning`` / ``dwell`` is negative.

    Notes
    -----
    The camera moves with unit step along a direction :math:`\theta_t` with
    :math:`\theta_{t+1} = \theta_t + \varepsilon_t`, :math:`\varepsilon_t \sim
    \mathcal N(0, \mathrm{turning}^2 / n)` (a correlated walk, smoother than a Brownian one),
    for :math:`n = 64\,\mathrm{size}` steps. The exposure is spent at a speed
    :math:`v_t = \exp(\eta_t)` with :math:`\eta_t` a moving average of
    :math:`\mathcal N(0, \mathrm{dwell}^2)` draws, so each point of the path carries mass
    :math:`\propto 1/v_t`. The path is scaled to span ``size - 3`` pixels, centred, and
    splatted with bilinear weights as in :func:`motion_psf`.

    References
    ----------
    .. [1] A. Levin, Y. Weiss, F. Durand and W. T. Freeman, "Understanding and evaluating blind
       deconvolution algorithms", CVPR 2009.

    Examples
    --------
    >>> k = camera_shake_psf(17, seed=0)
    >>> k.shape, bool(np.isclose(k.sum(), 1.0))
    ((17, 17), True)
    """
    if (
        isinstance(size, bool)
        or not isinstance(size, int | np.integer)
        or size < 5
        or size % 2 == 0
    ):
        raise ValueError(f"size must be an odd integer >= 5, got {size!r}")
    if not (turning >= 0.0 and dwell >= 0.0):
        raise ValueError(f"turning and dwell must be >= 0, got {turning!r} and {dwell!r}")
    rng = np.random.default_rng(seed)
    n = 64 * int(size)
    theta = rng.uniform(0.0, 2.0 * math.pi) + np.cumsum(rng.normal(0.0, turning / math.sqrt(n), n))
    path = np.cumsum(np.stack([np.sin(theta), np.cos(theta)]), axis=1)  # (y, x) per step
    window = max(1, n // 16)
    log_speed = np.convolve(rng.normal(0.0, dwell, n + window - 1), np.ones(window), "valid")
    weight = np.exp(-log_speed / math.sqrt(window))
    lo, hi = path.min(axis=1), path.max(axis=1)
    scale = (size - 3) / max(float(np.max(hi - lo)), 1e-12)
    centre = size // 2
    py, px = ((path - ((lo + hi) / 2)[:, None]) * scale) + centre
    psf = np.zeros((size, size), dtype=np.float64)
    _splat(psf, py, px, weight / weight.sum())
    return normalise_kernel(psf)
