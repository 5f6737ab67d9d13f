"""Linear motion-blur PSF (:func:`motion_psf`): an anti-aliased line segment."""

from __future__ import annotations

import math
import warnings

import numpy as np

from bayesdeconv.physics.psf.checks import check_finite, check_shape
from bayesdeconv.physics.psf.grid import SizeLike, normalise_kernel

__all__ = ["motion_psf"]


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
    px = cx + t * math.cos(a)
    py = cy + t * math.sin(a)
    x0 = np.floor(px)
    y0 = np.floor(py)
    fx = px - x0
    fy = py - y0
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    weight = 1.0 / n
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            yy = y0 + dy
            xx = x0 + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            np.add.at(psf, (yy[inside], xx[inside]), weight * (wy * wx)[inside])
    lost = 1.0 - psf.sum()
    if lost > 1e-9:
        warnings.warn(
            f"motion blur of length {L:g} at angle {a:g} rad does not fit in a kernel of "
            f"shape {shape}; {lost:.1%} of it was truncated",
            UserWarning,
            stacklevel=2,
        )
    return normalise_kernel(psf)
