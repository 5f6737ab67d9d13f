r"""Differentiable PSF generators in torch: gradients flow to the PSF parameters.

For parametric PSFs whose parameters get a posterior. Every generator takes python floats or
0-d tensors as parameters and returns a tensor of odd shape, non-negative, summing to one and
centred at ``s // 2``, on the grid and with the angle convention of the numpy generators of
:mod:`bayesdeconv.physics.psf` (angles from :math:`+x` towards :math:`+y`). Parameter tensors
are cast to `dtype` and moved to `device` (by default the device of the first tensor
parameter, else the CPU), both differentiably. The gradient is exact almost everywhere; the
defocus and motion kernels are piecewise smooth (continuous, with kinks where a pixel enters
or leaves the disk or the line's footprint).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from bayesdeconv.physics.psf.bessel import jinc
from bayesdeconv.physics.psf.checks import check_int
from bayesdeconv.physics.psf.tensor_args import (
    Device,
    Scalar,
    odd_shape,
    offsets,
    resolve_device,
    tensor_param,
    unit_sum,
)

__all__ = [
    "airy_kernel",
    "defocus_kernel",
    "gaussian_kernel",
    "motion_kernel",
    "widefield_gaussian_kernel_3d",
]


def gaussian_kernel(
    size: int | Sequence[int],
    sigma_x: Scalar,
    sigma_y: Scalar | None = None,
    theta: Scalar = 0.0,
    *,
    dtype: torch.dtype = torch.float64,
    device: Device = None,
) -> torch.Tensor:
    r"""Isotropic or anisotropic, rotated 2-D Gaussian PSF, differentiable in its parameters.

    Parameters
    ----------
    size : int or tuple of int (h, w)
        Odd array shape; an int gives a square kernel.
    sigma_x, sigma_y : float or 0-d tensor
        Standard deviations (pixels, > 0) along the principal axes before rotation. With
        ``sigma_y=None`` the Gaussian is isotropic (``sigma_y = sigma_x``).
    theta : float or 0-d tensor, default 0.0
        Rotation in radians, from :math:`+x` towards :math:`+y`.
    dtype, device : torch.dtype, torch.device or str, optional
        Floating dtype (default ``torch.float64``) and device of the result.

    Returns
    -------
    torch.Tensor
        Shape ``(h, w)``, centred at ``(h // 2, w // 2)``, non-negative, summing to one.

    Raises
    ------
    ValueError
        If `size` is not odd and positive, a standard deviation is not finite and positive,
        `theta` is not finite, or `dtype` is not a floating dtype.

    Notes
    -----
    As :func:`~bayesdeconv.physics.psf.anisotropic_gaussian_psf`: with :math:`\mathbf{u}` the
    pixel offset from the centre and
    :math:`\Sigma = R(\theta)\operatorname{diag}(\sigma_x^2, \sigma_y^2)R(\theta)^\top`,
    :math:`k(\mathbf{u}) \propto \exp(-\tfrac12\mathbf{u}^\top\Sigma^{-1}\mathbf{u})`,
    point-sampled and normalised to unit sum.
    """
    dev = resolve_device(dtype, device, (sigma_x, sigma_y, theta))
    shape = odd_shape(size, 2)
    sx = tensor_param("sigma_x", sigma_x, dtype, dev, "positive")
    sy = sx if sigma_y is None else tensor_param("sigma_y", sigma_y, dtype, dev, "positive")
    th = tensor_param("theta", theta, dtype, dev, "finite")
    c, s = torch.cos(th), torch.sin(th)
    cxx = c * c * sx * sx + s * s * sy * sy
    cyy = s * s * sx * sx + c * c * sy * sy
    cxy = c * s * (sx * sx - sy * sy)
    det = cxx * cyy - cxy * cxy
    y, x = offsets(shape, dtype, dev)
    q = (cyy * x * x - 2.0 * cxy * x * y + cxx * y * y) / det
    return unit_sum(torch.exp(-0.5 * q))


def defocus_kernel(
    size: int | Sequence[int],
    radius: Scalar,
    *,
    dtype: torch.dtype = torch.float64,
    device: Device = None,
) -> torch.Tensor:
    r"""Uniform-disk (geometric defocus) PSF with a soft one-pixel edge, differentiable in `radius`.

    Parameters
    ----------
    size : int or tuple of int (h, w)
        Odd array shape.
    radius : float or 0-d tensor
        Disk radius :math:`R` in pixels, > 0.
    dtype, device : torch.dtype, torch.device or str, optional
        Floating dtype (default ``torch.float64``) and device of the result.

    Returns
    -------
    torch.Tensor
        Shape ``(h, w)``, centred at ``(h // 2, w // 2)``, non-negative, summing to one.

    Raises
    ------
    ValueError
        If `size` is not odd and positive or `radius` is not finite and positive.

    Notes
    -----
    Geometric defocus blurs by the uniform disk :math:`\mathbb{1}[\rho \le R]` (Hansen, Nagy &
    O'Leary [1]_, section 3.2). The share of the pixel at distance :math:`\rho = \sqrt{x^2 +
    y^2}` covered by the disk is approximated by a clamped ramp one pixel wide,
    :math:`k[y, x] \propto \min(1, \max(0, R + \tfrac12 - \rho))`, continuous and piecewise
    linear in :math:`R`; for large :math:`R`, :math:`\sum \rho^2 k \approx R^2/2`. Mass off
    the array is lost (the rest is renormalised).

    References
    ----------
    .. [1] P. C. Hansen, J. G. Nagy and D. P. O'Leary, *Deblurring Images: Matrices,
       Spectra, and Filtering*, SIAM, 2006.
    """
    dev = resolve_device(dtype, device, (radius,))
    shape = odd_shape(size, 2)
    r = tensor_param("radius", radius, dtype, dev, "positive")
    y, x = offsets(shape, dtype, dev)
    rho = torch.sqrt(x * x + y * y)
    return unit_sum(torch.clamp(r + 0.5 - rho, min=0.0, max=1.0))


def motion_kernel(
    size: int | Sequence[int],
    length: Scalar,
    angle: Scalar = 0.0,
    *,
    samples: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: Device = None,
) -> torch.Tensor:
    r"""Linear motion-blur PSF (an anti-aliased segment), differentiable in length and angle.

    Parameters
    ----------
    size : int or tuple of int (h, w)
        Odd array shape.
    length : float or 0-d tensor
        Length :math:`L` of the motion in pixels, >= 0 (0 gives a delta).
    angle : float or 0-d tensor, default 0.0
        Direction in radians, from :math:`+x` towards :math:`+y`.
    samples : int, optional
        Number :math:`n` of points on the segment; by default
        :math:`32\lceil\sqrt{h^2 + w^2}\rceil`, fixed by the shape so that the kernel is
        continuous in :math:`L`.
    dtype, device : torch.dtype, torch.device or str, optional
        Floating dtype (default ``torch.float64``) and device of the result.

    Returns
    -------
    torch.Tensor
        Shape ``(h, w)``, centred at ``(h // 2, w // 2)``, non-negative, summing to one.

    Raises
    ------
    ValueError
        If `size` is not odd and positive, `length` is negative or not finite, `angle` is
        not finite, `samples` is not an integer >= 1, or no part of the segment is on the grid.

    Notes
    -----
    As :func:`~bayesdeconv.physics.psf.motion_psf`: the midpoints
    :math:`t_j = L((j + \tfrac12)/n - \tfrac12)` of the segment :math:`t\,(\cos\alpha,
    \sin\alpha)`, :math:`|t| \le L/2`, are splatted with bilinear (tent) weights,

    .. math::

        k[y, x] \propto \sum_{j} \Lambda(x - t_j\cos\alpha)\,\Lambda(y - t_j\sin\alpha),
        \qquad \Lambda(u) = \max(0, 1 - |u|),

    one matrix product, normalised to unit sum (points off the grid are dropped). With
    ``samples = max(2, ceil(32 L))`` and :math:`L \ge 1` it equals ``motion_psf``.
    """
    dev = resolve_device(dtype, device, (length, angle))
    h, w = odd_shape(size, 2)
    n = 32 * math.ceil(math.hypot(h, w)) if samples is None else check_int("samples", samples)
    big_l = tensor_param("length", length, dtype, dev, "nonneg")
    a = tensor_param("angle", angle, dtype, dev, "finite")
    t = big_l * ((torch.arange(n, dtype=dtype, device=dev) + 0.5) / n - 0.5)
    y, x = offsets((h, w), dtype, dev)
    wx = torch.relu(1.0 - torch.abs(x.view(1, w) - (t * torch.cos(a)).view(n, 1)))  # (n, w)
    wy = torch.relu(1.0 - torch.abs(y.view(1, h) - (t * torch.sin(a)).view(n, 1)))  # (n, h)
    return unit_sum(wy.transpose(0, 1) @ wx / n)


def airy_kernel(
    size: int | Sequence[int],
    *,
    wavelength: Scalar,
    numerical_aperture: Scalar,
    pixel_size: Scalar,
    oversample: int = 3,
    dtype: torch.dtype = torch.float64,
    device: Device = None,
) -> torch.Tensor:
    r"""2-D Airy-disk PSF (in focus), differentiable in wavelength, NA and pixel size.

    Parameters
    ----------
    size : int or tuple of int (h, w)
        Odd array shape.
    wavelength, numerical_aperture, pixel_size : float or 0-d tensor
        :math:`\lambda`, NA and the pixel pitch :math:`\Delta` (all > 0; :math:`\lambda` and
        :math:`\Delta` in the same unit), as for :func:`~bayesdeconv.physics.psf.airy_psf`.
    oversample : int, default 3
        Each pixel is the mean of ``oversample**2`` point samples on a sub-pixel grid.
    dtype, device : torch.dtype, torch.device or str, optional
        Floating dtype (default ``torch.float64``) and device of the result.

    Returns
    -------
    torch.Tensor
        Shape ``(h, w)``, centred at ``(h // 2, w // 2)``, non-negative, summing to one.

    Raises
    ------
    ValueError
        If `size` is not odd and positive, a physical parameter is not finite and positive,
        or `oversample` is not an integer >= 1.

    Notes
    -----
    :math:`I(r) = [2J_1(v)/v]^2` with :math:`v = 2\pi\,\mathrm{NA}\,r/\lambda` (Born & Wolf
    [1]_, section 8.5.2), sampled as ``airy_psf`` does. The amplitude comes from
    :func:`~bayesdeconv.physics.psf.bessel.jinc` (Bessel's integral by the midpoint rule,
    error ~1e-15), once per distinct sub-sample radius.

    References
    ----------
    .. [1] M. Born and E. Wolf, *Principles of Optics*, 7th ed., Cambridge University
       Press, 1999.
    """
    dev = resolve_device(dtype, device, (wavelength, numerical_aperture, pixel_size))
    shape = odd_shape(size, 2)
    lam = tensor_param("wavelength", wavelength, dtype, dev, "positive")
    na = tensor_param("numerical_aperture", numerical_aperture, dtype, dev, "positive")
    dx = tensor_param("pixel_size", pixel_size, dtype, dev, "positive")
    os_ = check_int("oversample", oversample)
    # Parameter-free sub-sample radii (pixels), computed in numpy as airy_psf does.
    y, x = np.ogrid[tuple(slice(-(s // 2), s - s // 2) for s in shape)]
    sub = (np.arange(os_, dtype=np.float64) + 0.5) / os_ - 0.5
    rho = np.sqrt((y[..., None, None] + sub[:, None]) ** 2 + (x[..., None, None] + sub) ** 2)
    radii, inverse = np.unique(rho, return_inverse=True)
    scale = 2.0 * math.pi * na * dx / lam  # v per pixel
    amp = jinc(scale * torch.as_tensor(radii, dtype=dtype, device=dev))
    index = torch.as_tensor(inverse.reshape(rho.shape), device=dev)
    return unit_sum((amp * amp)[index].sum(dim=(-2, -1)))


def widefield_gaussian_kernel_3d(
    size: int | Sequence[int],
    *,
    wavelength: Scalar,
    numerical_aperture: Scalar,
    refractive_index: Scalar,
    pixel_size: Scalar,
    z_step: Scalar,
    dtype: torch.dtype = torch.float64,
    device: Device = None,
) -> torch.Tensor:
    r"""3-D Gaussian widefield PSF, differentiable in the optical parameters.

    Parameters
    ----------
    size : int or tuple of int (nz, ny, nx)
        Odd array shape; an int gives a cube.
    wavelength, numerical_aperture, refractive_index : float or 0-d tensor
        :math:`\lambda`, NA and the immersion index :math:`n` (all > 0, NA <= n), as for
        :func:`~bayesdeconv.physics.psf.widefield_gaussian_sigmas`.
    pixel_size, z_step : float or 0-d tensor
        Lateral pitch and axial spacing (> 0), in the unit of `wavelength`.
    dtype, device : torch.dtype, torch.device or str, optional
        Floating dtype (default ``torch.float64``) and device of the result.

    Returns
    -------
    torch.Tensor
        Shape ``(nz, ny, nx)``, centred at ``(nz // 2, ny // 2, nx // 2)``, non-negative,
        summing to one.

    Raises
    ------
    ValueError
        If `size` is not odd and positive, a parameter is not finite and positive, or
        NA exceeds n.

    Notes
    -----
    The paraxial approximation of Zhang, Zerubia & Olivo-Marin [1]_, as
    ``widefield_psf_3d(model="gaussian")``: with :math:`k = 2\pi/\lambda`,
    :math:`\sigma_{xy} = \sqrt2/(k\,\mathrm{NA})`, :math:`\sigma_z = 2\sqrt6\,n/(k\,\mathrm{NA}^2)`
    and :math:`h \propto \exp(-r^2/2\sigma_{xy}^2 - z^2/2\sigma_z^2)`, point-sampled.

    References
    ----------
    .. [1] B. Zhang, J. Zerubia and J.-C. Olivo-Marin, "Gaussian approximations of
       fluorescence microscope point-spread function models", *Applied Optics* 46(10),
       1819-1829, 2007.
    """
    values = (wavelength, numerical_aperture, refractive_index, pixel_size, z_step)
    dev = resolve_device(dtype, device, values)
    shape = odd_shape(size, 3)
    lam = tensor_param("wavelength", wavelength, dtype, dev, "positive")
    na = tensor_param("numerical_aperture", numerical_aperture, dtype, dev, "positive")
    n = tensor_param("refractive_index", refractive_index, dtype, dev, "positive")
    dxy = tensor_param("pixel_size", pixel_size, dtype, dev, "positive")
    dz = tensor_param("z_step", z_step, dtype, dev, "positive")
    if float(na.detach()) > float(n.detach()):
        raise ValueError(
            f"numerical_aperture ({float(na)}) cannot exceed refractive_index ({float(n)})"
        )
    k = 2.0 * math.pi / lam
    s_z = 2.0 * math.sqrt(6.0) * n / (k * na * na) / dz
    s_xy = math.sqrt(2.0) / (k * na) / dxy
    iz, iy, ix = offsets(shape, dtype, dev)
    q = (iy * iy + ix * ix) / (2.0 * s_xy * s_xy) + iz * iz / (2.0 * s_z * s_z)
    return unit_sum(torch.exp(-q))
