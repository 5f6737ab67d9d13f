r"""Point-spread function (PSF) generators and validation.

All PSFs produced or accepted by :mod:`bayesdeconv` follow one convention:

* a PSF is a ``numpy.float64`` array, 2-D with axes ``(y, x)`` or 3-D with axes
  ``(z, y, x)``; sizes may be odd or even;
* the PSF centre (the origin of the blur, the pixel an impulse is mapped to)
  sits at index ``c = s // 2`` along every axis of size ``s``;
* entries are non-negative and sum to one.

Lateral angles (``theta`` of :func:`anisotropic_gaussian_psf`, ``angle`` of
:func:`motion_psf`) are measured from the :math:`+x` axis (increasing column
index) towards the :math:`+y` axis (increasing row index).  This is
counter-clockwise when the array is displayed with the origin at the lower
left (``origin="lower"`` in matplotlib) and clockwise with the default
``origin="upper"``.

The package applies a PSF :math:`k` to an image :math:`x` by *true
convolution* (not correlation),

.. math::

    y = k \circledast x, \qquad
    y[n] = \sum_m k[m]\, x[n - m + c], \qquad c = s // 2,

componentwise along every axis.  A kernel that was estimated or published for
*correlation*, :math:`y[n] = \sum_m k[m]\, x[n + m - c]` (for example the
blur kernels of the Levin et al. 2009 data set), must first be rotated by
180 degrees, ``np.flip(k)``.  For even sizes the flip moves the centre from
``s // 2`` to ``s // 2 - 1``, i.e. the result is shifted by one pixel; pad
such kernels to an odd size first if sub-pixel alignment matters.

References
----------
.. [1] M. Born and E. Wolf, *Principles of Optics*, 7th ed., Cambridge
   University Press, 1999, sections 8.5 and 8.8.
.. [2] B. Zhang, J. Zerubia and J.-C. Olivo-Marin, "Gaussian approximations
   of fluorescence microscope point-spread function models", *Applied
   Optics* 46(10), 1819-1829, 2007.
.. [3] A. Levin, Y. Weiss, F. Durand and W. T. Freeman, "Understanding and
   evaluating blind deconvolution algorithms", CVPR 2009.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.special import j0, j1

__all__ = [
    "airy_psf",
    "anisotropic_gaussian_psf",
    "check_psf",
    "gaussian_psf",
    "motion_psf",
    "psf_centroid",
    "widefield_gaussian_sigmas",
    "widefield_psf_3d",
]

SizeLike = int | Sequence[int]

#: Largest allowed relative negative value, ``min >= -_NEG_TOL * max``.
_NEG_TOL = 1e-12
#: Centroid offset (pixels, Euclidean) above which :func:`check_psf` warns.
_CENTRE_TOL = 1.5


# ---------------------------------------------------------------------------
# argument validation helpers
# ---------------------------------------------------------------------------
def _check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float, raising ``ValueError`` unless finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if v <= 0.0:
        raise ValueError(f"{name} must be positive, got {v}")
    return v


def _check_finite(name: str, value: Any) -> float:
    """Return ``value`` as a float, raising ``ValueError`` unless it is finite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def _check_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising ``ValueError`` unless integral and >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v}")
    return v


def _check_shape(name: str, size: Any, ndim: int) -> tuple[int, ...]:
    """Normalise an ``int`` or length-``ndim`` sequence to a shape tuple of ints >= 1."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        return (_check_int(name, size),) * ndim
    if isinstance(size, (str, bytes)) or not isinstance(size, Sequence | np.ndarray):
        raise ValueError(
            f"{name} must be an integer or a sequence of {ndim} integers, got {size!r}"
        )
    items = list(size)
    if len(items) != ndim:
        raise ValueError(f"{name} must have {ndim} entries, got {len(items)} ({size!r})")
    return tuple(_check_int(f"{name}[{i}]", s) for i, s in enumerate(items))


def _centred_coords(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Open (broadcastable) integer offsets ``i - s // 2`` for every axis of ``shape``."""
    return list(np.ogrid[tuple(slice(-(s // 2), s - s // 2) for s in shape)])


def _normalise(psf: np.ndarray) -> np.ndarray:
    """Clip to non-negative values and divide by the sum (in place); return float64."""
    psf = np.asarray(psf, dtype=np.float64)
    np.maximum(psf, 0.0, out=psf)
    total = psf.sum()
    if not np.isfinite(total) or total <= 0.0:
        raise ValueError(
            "the PSF has no mass on the requested grid; increase the size or check the parameters"
        )
    psf /= total
    return psf


# ---------------------------------------------------------------------------
# 2-D generators
# ---------------------------------------------------------------------------
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
    sigma = _check_positive("sigma", sigma)
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
        axis (see the module docstring for the orientation convention).

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
    sx = _check_positive("sigma_x", sigma_x)
    sy = _check_positive("sigma_y", sigma_y)
    th = _check_finite("theta", theta)
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
        shape = _check_shape("size", size, 2)
    det = cxx * cyy - cxy * cxy  # = sx^2 sy^2 > 0
    y, x = _centred_coords(shape)
    y = y.astype(np.float64)
    x = x.astype(np.float64)
    # Quadratic form u^T Sigma^{-1} u with Sigma^{-1} = adj(Sigma) / det.
    q = (cyy * x * x - 2.0 * cxy * x * y + cxx * y * y) / det
    return _normalise(np.exp(-0.5 * q))


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
        :math:`+y` axis (see the module docstring).

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
    L = _check_finite("length", length)
    if L < 0.0:
        raise ValueError(f"length must be >= 0, got {L}")
    a = _check_finite("angle", angle)
    if size is None:
        shape = (2 * math.ceil(L / 2.0) + 3,) * 2
    else:
        shape = _check_shape("size", size, 2)
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
    return _normalise(psf)


def _airy_intensity(v: np.ndarray) -> np.ndarray:
    r"""Normalised Airy intensity :math:`[2 J_1(v)/v]^2`, equal to 1 at ``v = 0``."""
    v = np.asarray(v, dtype=np.float64)
    small = np.abs(v) < 1e-8
    safe = np.where(small, 1.0, v)
    amp = np.where(small, 1.0, 2.0 * j1(safe) / safe)
    return amp * amp


def airy_psf(
    size: SizeLike | None,
    *,
    wavelength: float,
    numerical_aperture: float,
    pixel_size: float,
    oversample: int = 3,
) -> np.ndarray:
    r"""2-D Airy-disk PSF of an aberration-free circular pupil (in focus).

    Parameters
    ----------
    size : int or tuple of int (h, w) or None
        Array shape.  If ``None``, the square odd size covering four times
        the first-zero radius :math:`0.61\,\lambda/\mathrm{NA}` on each side.
    wavelength : float
        Wavelength :math:`\lambda` (> 0), in the same length unit as
        ``pixel_size`` (e.g. micrometres).
    numerical_aperture : float
        Numerical aperture NA of the objective, > 0.
    pixel_size : float
        Pixel pitch in object space (> 0), same unit as ``wavelength``.
    oversample : int, default 3
        Each pixel value is the mean of ``oversample**2`` point samples on a
        regular sub-pixel grid (a box-integration approximation); ``1`` gives
        plain point sampling at pixel centres.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(h, w)`` centred at ``(h // 2, w // 2)``,
        non-negative, summing to one.

    Raises
    ------
    ValueError
        If a physical parameter is not finite and positive, ``oversample`` is
        not an integer >= 1, or ``size`` is invalid.

    Notes
    -----
    The intensity (Born & Wolf [1]_, section 8.5.2) is

    .. math::

        I(r) = \left[\frac{2 J_1(v)}{v}\right]^2, \qquad
        v = \frac{2\pi\,\mathrm{NA}\,r}{\lambda},

    with :math:`J_1` the Bessel function of the first kind of order one and
    the limit :math:`I(0) = 1`.  The first zero, :math:`v = 3.8317`, is at
    :math:`r = 0.6098\,\lambda/\mathrm{NA}`.

    References
    ----------
    .. [1] M. Born and E. Wolf, *Principles of Optics*, 7th ed., Cambridge
       University Press, 1999.

    Examples
    --------
    >>> k = airy_psf(33, wavelength=0.5, numerical_aperture=1.0, pixel_size=0.05)
    >>> k.shape
    (33, 33)
    """
    lam = _check_positive("wavelength", wavelength)
    na = _check_positive("numerical_aperture", numerical_aperture)
    dx = _check_positive("pixel_size", pixel_size)
    os_ = _check_int("oversample", oversample)
    if size is None:
        r0 = 0.6098 * lam / na / dx
        shape = (2 * math.ceil(4.0 * r0) + 1,) * 2
    else:
        shape = _check_shape("size", size, 2)
    y, x = _centred_coords(shape)
    scale = 2.0 * math.pi * na * dx / lam  # v per pixel
    sub = (np.arange(os_, dtype=np.float64) + 0.5) / os_ - 0.5
    acc = np.zeros(shape, dtype=np.float64)
    for oy in sub:
        yy = (y + oy) ** 2
        for ox in sub:
            acc += _airy_intensity(scale * np.sqrt(yy + (x + ox) ** 2))
    return _normalise(acc)


# ---------------------------------------------------------------------------
# 3-D widefield PSF
# ---------------------------------------------------------------------------
def widefield_gaussian_sigmas(
    *,
    wavelength: float,
    numerical_aperture: float,
    refractive_index: float,
) -> tuple[float, float]:
    r"""Axial and lateral standard deviations of the Gaussian widefield PSF.

    Parameters
    ----------
    wavelength : float
        Emission wavelength :math:`\lambda` (> 0).
    numerical_aperture : float
        Numerical aperture, ``0 < NA <= refractive_index``.
    refractive_index : float
        Refractive index :math:`n` of the immersion medium (> 0).

    Returns
    -------
    sigma_z, sigma_xy : float
        Standard deviations in the unit of ``wavelength``.

    Raises
    ------
    ValueError
        If a parameter is not finite and positive or NA exceeds n.

    Notes
    -----
    Paraxial 3-D widefield approximation of Zhang, Zerubia & Olivo-Marin
    [1]_, with :math:`k = 2\pi/\lambda`:

    .. math::

        \sigma_{xy} = \frac{\sqrt{2}}{k\,\mathrm{NA}}
                    \approx 0.225\,\frac{\lambda}{\mathrm{NA}}, \qquad
        \sigma_z = \frac{2\sqrt{6}\,n}{k\,\mathrm{NA}^2}
                 \approx 0.780\,\frac{\lambda\,n}{\mathrm{NA}^2}.

    References
    ----------
    .. [1] B. Zhang, J. Zerubia and J.-C. Olivo-Marin, "Gaussian
       approximations of fluorescence microscope point-spread function
       models", *Applied Optics* 46(10), 1819-1829, 2007.
    """
    lam, na, n = _check_optics(wavelength, numerical_aperture, refractive_index)
    k = 2.0 * math.pi / lam
    return 2.0 * math.sqrt(6.0) * n / (k * na * na), math.sqrt(2.0) / (k * na)


def _check_optics(
    wavelength: Any, numerical_aperture: Any, refractive_index: Any
) -> tuple[float, float, float]:
    """Validate wavelength, NA and refractive index (all > 0, NA <= n)."""
    lam = _check_positive("wavelength", wavelength)
    na = _check_positive("numerical_aperture", numerical_aperture)
    n = _check_positive("refractive_index", refractive_index)
    if na > n:
        raise ValueError(f"numerical_aperture ({na}) cannot exceed refractive_index ({n})")
    return lam, na, n


def widefield_psf_3d(
    shape: SizeLike,
    *,
    wavelength: float,
    numerical_aperture: float,
    refractive_index: float,
    pixel_size: float,
    z_step: float,
    model: Literal["gaussian", "born_wolf"] = "gaussian",
    n_quad: int | None = None,
) -> np.ndarray:
    r"""3-D widefield fluorescence PSF (Gaussian or Born & Wolf scalar model).

    Parameters
    ----------
    shape : int or tuple of int (nz, ny, nx)
        Array shape; an int gives a cube.
    wavelength : float
        Emission wavelength :math:`\lambda` (> 0), same unit as
        ``pixel_size`` and ``z_step``.
    numerical_aperture : float
        Numerical aperture, ``0 < NA <= refractive_index``.
    refractive_index : float
        Refractive index :math:`n` of the immersion medium.
    pixel_size : float
        Lateral pixel pitch in object space (> 0).
    z_step : float
        Axial spacing between planes (> 0).
    model : {"gaussian", "born_wolf"}, default "gaussian"
        ``"gaussian"``: separable Gaussian approximation; ``"born_wolf"``:
        paraxial scalar defocus integral.
    n_quad : int, optional
        Number of Gauss-Legendre nodes for ``"born_wolf"``.  By default
        :math:`\max(128, \lceil a_{\max} + 2 b_{\max}\rceil + 32)`, with
        :math:`a_{\max}, b_{\max}` the largest Bessel argument and defocus
        phase on the grid (see Notes), which resolves the oscillations of
        the integrand.

    Returns
    -------
    numpy.ndarray
        Float64 array of shape ``(nz, ny, nx)`` centred at
        ``(nz // 2, ny // 2, nx // 2)``, non-negative, summing to one over
        the whole volume.

    Raises
    ------
    ValueError
        For non-positive or non-finite parameters, NA > n, an invalid shape,
        an unknown model, or ``n_quad < 1``.

    Notes
    -----
    Coordinates are :math:`r = \Delta_{xy}\sqrt{i_x^2 + i_y^2}` and
    :math:`z = \Delta_z i_z`, with :math:`i` the integer offsets from the
    centre index; all models are point-sampled and normalised to unit sum.

    ``"gaussian"`` uses the paraxial widefield approximation of Zhang et al.
    [2]_ (see :func:`widefield_gaussian_sigmas`):

    .. math::

        h(r, z) \propto \exp\!\left(-\frac{r^2}{2\sigma_{xy}^2}
                                    -\frac{z^2}{2\sigma_z^2}\right),\quad
        \sigma_{xy} = \frac{\sqrt2}{k\,\mathrm{NA}},\quad
        \sigma_z = \frac{2\sqrt6\,n}{k\,\mathrm{NA}^2},\quad k = \frac{2\pi}{\lambda}.

    ``"born_wolf"`` evaluates the scalar paraxial defocus integral of Born &
    Wolf [1]_ (section 8.8),

    .. math::

        h(r, z) \propto \left|\int_0^1 J_0(k\,\mathrm{NA}\,r\,\rho)\,
            \exp\!\left(-\tfrac{i}{2}\,k\,\rho^2 z\,\frac{\mathrm{NA}^2}{n}\right)
            \rho\,\mathrm{d}\rho\right|^2,

    by Gauss-Legendre quadrature on :math:`[0, 1]`.  The Bessel factor is
    evaluated once per distinct radius, and the result is a matrix product
    over the nodes.  Writing :math:`a = k\,\mathrm{NA}\,r` and
    :math:`b = \tfrac12 k z\,\mathrm{NA}^2/n`, the in-focus plane reduces to
    the Airy pattern :math:`[J_1(a)/a]^2` and the axis to
    :math:`\operatorname{sinc}^2(b/2) = [\sin(b/2)/(b/2)]^2`; the model is
    symmetric in :math:`z`.

    References
    ----------
    .. [1] M. Born and E. Wolf, *Principles of Optics*, 7th ed., Cambridge
       University Press, 1999.
    .. [2] B. Zhang, J. Zerubia and J.-C. Olivo-Marin, "Gaussian
       approximations of fluorescence microscope point-spread function
       models", *Applied Optics* 46(10), 1819-1829, 2007.

    Examples
    --------
    >>> h = widefield_psf_3d((9, 17, 17), wavelength=0.52, numerical_aperture=1.2,
    ...                      refractive_index=1.33, pixel_size=0.08, z_step=0.2,
    ...                      model="born_wolf")
    >>> h.shape
    (9, 17, 17)
    """
    lam, na, n = _check_optics(wavelength, numerical_aperture, refractive_index)
    dxy = _check_positive("pixel_size", pixel_size)
    dz = _check_positive("z_step", z_step)
    shp = _check_shape("shape", shape, 3)
    if model not in ("gaussian", "born_wolf"):
        raise ValueError(f"model must be 'gaussian' or 'born_wolf', got {model!r}")
    if n_quad is not None:
        n_quad = _check_int("n_quad", n_quad)
    iz, iy, ix = _centred_coords(shp)

    if model == "gaussian":
        s_z, s_xy = widefield_gaussian_sigmas(
            wavelength=lam, numerical_aperture=na, refractive_index=n
        )
        s_z /= dz
        s_xy /= dxy
        q = (iy**2 + ix**2) / (2.0 * s_xy * s_xy) + iz**2 / (2.0 * s_z * s_z)
        return _normalise(np.exp(-q))

    k = 2.0 * math.pi / lam
    # Distinct squared integer radii; the lateral pattern only depends on them.
    d2 = (iy**2 + ix**2)[0]  # (ny, nx)
    d2_unique, inverse = np.unique(d2, return_inverse=True)
    r = np.sqrt(d2_unique.astype(np.float64)) * dxy
    z = iz.ravel().astype(np.float64) * dz
    a = k * na * r  # Bessel arguments, shape (nr,)
    b = 0.5 * k * z * na * na / n  # defocus phases, shape (nz,)
    if n_quad is None:
        n_quad = max(128, math.ceil(float(a.max()) + 2.0 * float(np.abs(b).max())) + 32)
    nodes, weights = np.polynomial.legendre.leggauss(n_quad)
    rho = 0.5 * (nodes + 1.0)
    wrho = 0.5 * weights * rho
    bessel = j0(a[:, None] * rho[None, :])  # (nr, nq)
    phase = np.exp(-1j * rho[:, None] ** 2 * b[None, :]) * wrho[:, None]  # (nq, nz)
    amp = bessel @ phase  # (nr, nz)
    intensity = amp.real**2 + amp.imag**2
    psf = intensity[inverse.reshape(d2.shape)]  # (ny, nx, nz)
    return _normalise(np.moveaxis(psf, -1, 0).copy())


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _to_numpy(psf: Any) -> np.ndarray:
    """Convert a torch tensor (if torch is loaded) or array-like to a numpy array."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(psf, torch.Tensor):
        psf = psf.detach().cpu()
        if psf.dtype in (torch.float16, torch.bfloat16):
            psf = psf.to(torch.float64)
        return psf.numpy()
    return np.asarray(psf)


def psf_centroid(psf: Any) -> tuple[float, ...]:
    r"""Intensity-weighted centroid of a PSF in index coordinates.

    Parameters
    ----------
    psf : array_like or torch.Tensor
        Non-negative array of any dimension with a positive sum.

    Returns
    -------
    tuple of float
        Centroid :math:`\bar\imath_d` along every axis :math:`d`, in array
        index units (compare with ``s // 2`` for a centred PSF).

    Raises
    ------
    ValueError
        If the array is empty or its sum is not finite and positive.

    Notes
    -----
    .. math::

        \bar\imath_d = \frac{\sum_{\mathbf{i}} i_d\, k[\mathbf{i}]}
                            {\sum_{\mathbf{i}} k[\mathbf{i}]}.

    Examples
    --------
    >>> [round(c, 9) for c in psf_centroid(gaussian_psf(9, sigma=1.0))]
    [4.0, 4.0]
    """
    arr = np.asarray(_to_numpy(psf), dtype=np.float64)
    if arr.size == 0:
        raise ValueError("psf is empty")
    total = arr.sum()
    if not np.isfinite(total) or total <= 0.0:
        raise ValueError(f"psf must have a finite positive sum to compute a centroid, got {total}")
    out = []
    for axis, s in enumerate(arr.shape):
        other = tuple(i for i in range(arr.ndim) if i != axis)
        marginal = arr.sum(axis=other) if other else arr
        out.append(float(np.dot(np.arange(s, dtype=np.float64), marginal) / total))
    return tuple(out)


def check_psf(
    psf: Any,
    *,
    image_shape: Sequence[int] | None = None,
    name: str = "psf",
    normalise: bool = False,
    rtol: float = 1e-3,
    normalise_option: str = "normalise=True",
) -> np.ndarray:
    r"""Validate a user-supplied PSF and return it as a float64 array.

    Parameters
    ----------
    psf : array_like or torch.Tensor
        Candidate PSF, 2-D ``(y, x)`` or 3-D ``(z, y, x)``, centred at
        ``s // 2`` (see the module docstring).  Torch tensors are converted
        with ``.detach().cpu().numpy()``.
    image_shape : sequence of int, optional
        Shape of the image the PSF will be applied to; it must have the same
        number of dimensions and be at least as large along every axis.
    name : str, default "psf"
        Name used in error and warning messages.
    normalise : bool, default False
        If ``True``, return the PSF divided by its sum; if ``False``, a sum
        differing from one by more than ``rtol`` is an error.
    rtol : float, default 1e-3
        Tolerance on :math:`|\sum k - 1|`.
    normalise_option : str, default "normalise=True"
        How the caller spells the normalising switch, named in the error for an unnormalised
        PSF (``deconvolve`` passes ``"normalise_psf=True"``).

    Returns
    -------
    numpy.ndarray
        A float64 copy of ``psf`` (tiny negative round-off values set to
        zero; divided by its sum when ``normalise=True``).

    Raises
    ------
    ValueError
        If the PSF is not a 2-D or 3-D array of real numbers, is empty,
        contains NaN or Inf, has negative values below
        :math:`-10^{-12}\max k`, does not have a positive sum, is not
        normalised (and ``normalise=False``), or does not fit ``image_shape``.

    Warns
    -----
    UserWarning
        If the centroid (:func:`psf_centroid`) lies more than 1.5 pixels
        (Euclidean distance) from the centre index ``s // 2``.

    Notes
    -----
    The accepted PSF satisfies :math:`k \ge 0` and
    :math:`|\sum_{\mathbf{i}} k[\mathbf{i}] - 1| \le \mathrm{rtol}`, and the
    warning fires when

    .. math::

        \Big\|\bar{\mathbf{\imath}} - (s_d // 2)_d\Big\|_2 > 1.5.

    Examples
    --------
    >>> k = check_psf(2.0 * gaussian_psf(7, sigma=1.0), normalise=True)
    >>> round(float(k.sum()), 12)
    1.0
    """
    rtol = _check_positive("rtol", rtol)
    arr = _to_numpy(psf)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name} must be a 2-D or 3-D array, got {arr.ndim}-D shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    out = np.array(arr, dtype=np.float64, copy=True)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} contains NaN or Inf values")
    vmax = float(out.max())
    vmin = float(out.min())
    if vmin < 0.0:
        if vmin < -_NEG_TOL * max(vmax, 0.0):
            raise ValueError(
                f"{name} has negative values (min={vmin:.3g}, max={vmax:.3g}); a PSF must be "
                "non-negative"
            )
        np.maximum(out, 0.0, out=out)
    total = float(out.sum())
    if total <= 0.0:
        raise ValueError(f"{name} must have a positive sum, got {total:.3g}")
    if normalise:
        out /= total
    elif abs(total - 1.0) > rtol:
        raise ValueError(
            f"{name} is not normalised (sum={total:.6g}); pass {normalise_option} or divide "
            "it by its sum"
        )
    if image_shape is not None:
        img = tuple(int(s) for s in image_shape)
        if len(img) != out.ndim:
            raise ValueError(
                f"{name} is {out.ndim}-D (shape {out.shape}) but the image is {len(img)}-D "
                f"(shape {img}); their dimensionality must match"
            )
        if any(p > s for p, s in zip(out.shape, img, strict=True)):
            raise ValueError(f"{name} of shape {out.shape} is larger than the image of shape {img}")
    centroid = np.asarray(psf_centroid(out))
    centre = np.array([s // 2 for s in out.shape], dtype=np.float64)
    offset = float(np.linalg.norm(centroid - centre))
    if offset > _CENTRE_TOL:
        warnings.warn(
            f"{name} is not centred: its centroid {tuple(round(float(c), 2) for c in centroid)} is "
            f"{offset:.2f} pixels from the centre index {tuple(int(c) for c in centre)} "
            "(s // 2); the deconvolved image will be shifted accordingly",
            UserWarning,
            stacklevel=2,
        )
    return out
