"""Gaussian PSFs: isotropic (:func:`gaussian_psf`) and elliptical, rotated
(:func:`anisotropic_gaussian_psf`), point-sampled on the pixel grid.
"""

from __future__ import annotations

import math

import numpy as np

from bayesdeconv.physics.psf.checks import check_finite, check_positive, check_shape
from bayesdeconv.physics.psf.grid import SizeLike, centred_coords, normalise_kernel

__all__ = ["anisotropic_gaussian_psf", "gaussian_psf"]


def gaussian_psf(size: SizeLike | None, sigma: float) -> np.ndarray:
    r"""Isotropic 2-D Gaussian PSF.

    Parameters
    ----------
    size : int or tuple of int (h, w) or None
        Array shape; an int gives a square kernel.  If ``None``, the square odd
        size :math:`2\lceil 3\sigma\rceil + 1` is used.
    sigma : float
        Standard deviation in pixels, > 0.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(h, w)``, centred at ``(h // 2, w // 2)``,
        non-negative, summing to one.

    Raises
    ------
    ValueError
        If ``sigma`` is not a finite positive number or ``size`` is invalid.

    See Also
    --------
    anisotropic_gaussian_psf : Elliptical, rotated Gaussian.

    Notes
    -----
    The kernel is the point-sampled Gaussian

    .. math::

        k[y, x] \propto \exp\!\left(-\frac{x^2 + y^2}{2\sigma^2}\right),

    with :math:`(y, x)` the integer offsets from the centre index, normalised
    to unit sum.  Point sampling (rather than pixel integration) keeps the
    discrete second moments equal to :math:`\sigma^2` up to truncation for
    :math:`\sigma \gtrsim 1`.

    Examples
    --------
    >>> k = gaussian_psf(15, sigma=2.0)
    >>> k.shape, round(float(k.sum()), 12)
    ((15, 15), 1.0)
    """
    sigma = check_positive("sigma", sigma)
    return anisotropic_gaussian_psf(size, sigma, sigma, 0.0)


def anisotropic_gaussian_psf(
    size: SizeLike | None,
    sigma_x: float,
    sigma_y: float,
    theta: float = 0.0,
) -> np.ndarray:
    r"""Anisotropic (elliptical), rotated 2-D Gaussian PSF.

    Parameters
    ----------
    size : int or tuple of int (h, w) or None
        Array shape.  If ``None``, the smallest odd shape covering three
        standard deviations of the rotated Gaussian along each axis.
    sigma_x, sigma_y : float
        Standard deviations (pixels, > 0) along the ellipse's principal axes
        before rotation, i.e. along :math:`x` and :math:`y` when ``theta = 0``.
    theta : float, default 0.0
        Rotation angle in radians, from the :math:`+x` towards the :math:`+y`
        axis (see :mod:`bayesdeconv.physics.psf` for the orientation convention).

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(h, w)`` centred at ``(h // 2, w // 2)``,
        non-negative, summing to one.

    Raises
    ------
    ValueError
        If a standard deviation is not finite and positive, ``theta`` is not
        finite, or ``size`` is invalid.

    Notes
    -----
    With :math:`\mathbf{u} = (x, y)^\top` the pixel offset from the centre,

    .. math::

        \Sigma = R(\theta)\,\operatorname{diag}(\sigma_x^2, \sigma_y^2)\,R(\theta)^\top,
        \qquad
        R(\theta) = \begin{pmatrix}\cos\theta & -\sin\theta\\
                                   \sin\theta & \cos\theta\end{pmatrix},

    .. math::

        k(\mathbf{u}) \propto \exp\!\left(-\tfrac12\,\mathbf{u}^\top\Sigma^{-1}\mathbf{u}\right),

    point-sampled on the integer grid and normalised to unit sum.  Hence
    ``theta = pi / 2`` swaps the roles of ``sigma_x`` and ``sigma_y``.

    Examples
    --------
    >>> k = anisotropic_gaussian_psf(21, 3.0, 1.0, theta=0.5)
    >>> k.shape
    (21, 21)
    """
    sx = check_positive("sigma_x", sigma_x)
    sy = check_positive("sigma_y", sigma_y)
    th = check_finite("theta", theta)
    c, s = math.cos(th), math.sin(th)
    # Covariance in (x, y) coordinates.
    cxx = c * c * sx * sx + s * s * sy * sy
    cyy = s * s * sx * sx + c * c * sy * sy
    cxy = c * s * (sx * sx - sy * sy)
    if size is None:
        h = 2 * math.ceil(3.0 * math.sqrt(cyy)) + 1
        w = 2 * math.ceil(3.0 * math.sqrt(cxx)) + 1
        shape = (h, w)
    else:
        shape = check_shape("size", size, 2)
    det = cxx * cyy - cxy * cxy  # = sx^2 sy^2 > 0
    y, x = centred_coords(shape)
    y = y.astype(np.float64)
    x = x.astype(np.float64)
    # Quadratic form u^T Sigma^{-1} u with Sigma^{-1} = adj(Sigma) / det.
    q = (cyy * x * x - 2.0 * cxy * x * y + cxx * y * y) / det
    return normalise_kernel(np.exp(-0.5 * q))
