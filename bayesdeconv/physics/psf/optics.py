"""Optical PSFs: the in-focus Airy disk (:func:`airy_psf`) and the 3-D widefield
fluorescence PSF (:func:`widefield_psf_3d`, Gaussian or Born & Wolf model).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from scipy.special import j0, j1

from bayesdeconv.physics.psf.checks import check_int, check_positive, check_shape
from bayesdeconv.physics.psf.grid import SizeLike, centred_coords, normalise_kernel

__all__ = ["airy_psf", "widefield_gaussian_sigmas", "widefield_psf_3d"]


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
    lam = check_positive("wavelength", wavelength)
    na = check_positive("numerical_aperture", numerical_aperture)
    dx = check_positive("pixel_size", pixel_size)
    os_ = check_int("oversample", oversample)
    if size is None:
        r0 = 0.6098 * lam / na / dx
        shape = (2 * math.ceil(4.0 * r0) + 1,) * 2
    else:
        shape = check_shape("size", size, 2)
    y, x = centred_coords(shape)
    scale = 2.0 * math.pi * na * dx / lam  # v per pixel
    sub = (np.arange(os_, dtype=np.float64) + 0.5) / os_ - 0.5
    acc = np.zeros(shape, dtype=np.float64)
    for oy in sub:
        yy = (y + oy) ** 2
        for ox in sub:
            acc += _airy_intensity(scale * np.sqrt(yy + (x + ox) ** 2))
    return normalise_kernel(acc)


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
    lam = check_positive("wavelength", wavelength)
    na = check_positive("numerical_aperture", numerical_aperture)
    n = check_positive("refractive_index", refractive_index)
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
    dxy = check_positive("pixel_size", pixel_size)
    dz = check_positive("z_step", z_step)
    shp = check_shape("shape", shape, 3)
    if model not in ("gaussian", "born_wolf"):
        raise ValueError(f"model must be 'gaussian' or 'born_wolf', got {model!r}")
    if n_quad is not None:
        n_quad = check_int("n_quad", n_quad)
    iz, iy, ix = centred_coords(shp)

    if model == "gaussian":
        s_z, s_xy = widefield_gaussian_sigmas(
            wavelength=lam, numerical_aperture=na, refractive_index=n
        )
        s_z /= dz
        s_xy /= dxy
        q = (iy**2 + ix**2) / (2.0 * s_xy * s_xy) + iz**2 / (2.0 * s_z * s_z)
        return normalise_kernel(np.exp(-q))

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
    return normalise_kernel(np.moveaxis(psf, -1, 0).copy())
