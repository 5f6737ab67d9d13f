r"""Differentiable widefield fluorescence PSFs in torch: a 2-D plane or a 3-D stack.

:func:`widefield_born_wolf_kernel` evaluates the paraxial scalar defocus integral of Born &
Wolf [1]_, :func:`widefield_gaussian_kernel` its Gaussian approximation by Zhang, Zerubia &
Olivo-Marin [2]_; both are differentiable in every optical parameter and follow the
conventions of :mod:`~bayesdeconv.physics.psf.differentiable` (odd shape, centred at
``s // 2``, non-negative, unit sum, parameters as python floats or 0-d tensors). Their 3-D
kernels equal :func:`~bayesdeconv.physics.psf.widefield_psf_3d` of the same model.

The number of axes comes from `size`: two ``(ny, nx)`` or three ``(nz, ny, nx)``; an int means
a cube when `z_step` is given, else a square. A 2-D kernel is one widefield image of a point
source: the lateral pattern in the plane at distance `defocus` from focus.

References
----------
.. [1] M. Born and E. Wolf, *Principles of Optics*, 7th ed., Cambridge University Press,
   1999, section 8.8.
.. [2] B. Zhang, J. Zerubia and J.-C. Olivo-Marin, "Gaussian approximations of fluorescence
   microscope point-spread function models", *Applied Optics* 46(10), 1819-1829, 2007.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

from bayesdeconv.physics.psf.bessel import bessel_j0
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

__all__ = ["widefield_born_wolf_kernel", "widefield_gaussian_kernel", "widefield_ndim"]

#: Relative slack of the check NA <= n (a float32 draw at the upper end of a prior may round
#: one ulp above n).
_APERTURE_SLACK = 1e-6


def widefield_ndim(size, z_step) -> int:
    """The number of axes of a widefield kernel: ``len(size)`` (2 or 3), or for an int size 3
    when `z_step` is given and 2 otherwise. Raises ``ValueError`` for another length, for a
    3-D size without `z_step` or a 2-D one with it."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        return 2 if z_step is None else 3
    try:
        ndim = len(size)
    except TypeError:
        raise ValueError(
            f"size must be an int or 2 or 3 ints (ny, nx) or (nz, ny, nx), got {size!r}"
        ) from None
    if isinstance(size, str | bytes) or ndim not in (2, 3):
        raise ValueError(
            f"size must be an int or 2 or 3 ints (ny, nx) or (nz, ny, nx), got {size!r}"
        )
    if ndim == 3 and z_step is None:
        raise ValueError("a 3-D widefield PSF needs z_step, the spacing of its planes")
    if ndim == 2 and z_step is not None:
        raise ValueError("z_step applies to a 3-D size (nz, ny, nx) only; a 2-D PSF is one plane")
    return ndim


def _optics(
    wavelength, numerical_aperture, refractive_index, pixel_size, dtype, dev
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    lam = tensor_param("wavelength", wavelength, dtype, dev, "positive")
    na = tensor_param("numerical_aperture", numerical_aperture, dtype, dev, "positive")
    n = tensor_param("refractive_index", refractive_index, dtype, dev, "positive")
    dxy = tensor_param("pixel_size", pixel_size, dtype, dev, "positive")
    if float(na.detach()) > float(n.detach()) * (1.0 + _APERTURE_SLACK):
        raise ValueError(
            f"numerical_aperture ({float(na)}) cannot exceed refractive_index ({float(n)})"
        )
    return lam, na, n, dxy


@functools.lru_cache(maxsize=16)
def _legendre_on_unit_interval(n_quad: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Gauss-Legendre nodes :math:`\rho_q` on [0, 1] and the weights of
    :math:`\int_0^1 f(\rho)\,\rho\,d\rho` (numpy's ``leggauss``, cached)."""
    nodes, weights = np.polynomial.legendre.leggauss(n_quad)
    rho = 0.5 * (nodes + 1.0)
    return rho, 0.5 * weights * rho


def widefield_born_wolf_kernel(
    size: int | Sequence[int],
    *,
    wavelength: Scalar,
    numerical_aperture: Scalar,
    refractive_index: Scalar,
    pixel_size: Scalar,
    z_step: Scalar | None = None,
    defocus: Scalar = 0.0,
    n_quad: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: Device = None,
) -> torch.Tensor:
    r"""Widefield PSF of the paraxial Born & Wolf model, 2-D or 3-D, differentiable.

    Parameters
    ----------
    size : int or tuple of int (ny, nx) or (nz, ny, nx)
        Odd array shape (see :func:`widefield_ndim` for an int).
    wavelength, numerical_aperture, refractive_index : float or 0-d tensor
        Emission wavelength :math:`\lambda`, NA and immersion index :math:`n` (all > 0,
        NA <= n).
    pixel_size : float or 0-d tensor
        Lateral pitch :math:`\Delta_{xy}` (> 0), in the unit of `wavelength`.
    z_step : float or 0-d tensor, optional
        Axial spacing :math:`\Delta_z` (> 0) of a 3-D kernel; must be ``None`` for a 2-D one.
    defocus : float or 0-d tensor, default 0.0
        :math:`d`, same unit: the focal plane sits at :math:`z = d` from the centre plane (a
        2-D kernel is the plane at distance :math:`|d|` from focus; it is even in :math:`d`).
    n_quad : int, optional
        Gauss-Legendre nodes; by default as ``widefield_psf_3d``,
        :math:`\max(128, \lceil a_{\max} + 2|b|_{\max}\rceil + 32)`.
    dtype, device : torch.dtype, torch.device or str, optional
        Floating dtype (default ``torch.float64``) and device of the result.

    Returns
    -------
    torch.Tensor
        Shape `size`, centred at ``s // 2`` along every axis, non-negative, summing to one.

    Raises
    ------
    ValueError
        If `size` is not odd and positive or has neither 2 nor 3 axes, `z_step` is missing
        (3-D) or given (2-D), a parameter is not finite and positive (`defocus`: finite), NA
        exceeds n, or `n_quad` is not an integer >= 1.

    Notes
    -----
    With :math:`k = 2\pi/\lambda`, :math:`r = \Delta_{xy}\sqrt{i_x^2 + i_y^2}` and
    :math:`z = \Delta_z i_z - d` (:math:`z = -d` in 2-D), Born & Wolf [1]_ (section 8.8):

    .. math::
        h(r, z) \propto \left|\int_0^1 J_0(a\rho)\, e^{-i b \rho^2}\, \rho\, d\rho\right|^2,
        \qquad a = k\,\mathrm{NA}\,r, \quad b = \tfrac12 k z\,\frac{\mathrm{NA}^2}{n},

    point-sampled and normalised to unit sum. In focus it is the Airy pattern
    :math:`[J_1(a)/a]^2`, on the axis :math:`\operatorname{sinc}^2(b/2)`; away from focus the
    rings spread to the geometric blur radius :math:`r \approx |z|\,\mathrm{NA}/n`. The
    integral is a Gauss-Legendre sum (numpy's ``leggauss`` nodes, constants), the real and
    imaginary parts being two matrix products over the nodes; :math:`J_0` is
    :func:`~bayesdeconv.physics.psf.bessel.bessel_j0` (Bessel's integral, error ~1e-15,
    differentiable), evaluated once per distinct radius. The model is scalar and
    aberration-free: no vectorial high-NA effects and no refractive-index mismatch (Gibson &
    Lanni).
    """
    values = (wavelength, numerical_aperture, refractive_index, pixel_size, z_step, defocus)
    dev = resolve_device(dtype, device, values)
    ndim = widefield_ndim(size, z_step)
    shape = odd_shape(size, ndim)
    lam, na, n, dxy = _optics(
        wavelength, numerical_aperture, refractive_index, pixel_size, dtype, dev
    )
    d = tensor_param("defocus", defocus, dtype, dev, "finite")
    if ndim == 3:
        dz = tensor_param("z_step", z_step, dtype, dev, "positive")
        z = dz * offsets(shape[:1], dtype, dev)[0] - d
    else:
        z = -d.reshape(1)
    if n_quad is not None:
        n_quad = check_int("n_quad", n_quad)
    # Parameter-free distinct squared radii (pixels), as widefield_psf_3d.
    iy, ix = np.ogrid[tuple(slice(-(s // 2), s - s // 2) for s in shape[-2:])]
    d2 = iy**2 + ix**2
    d2_unique, inverse = np.unique(d2, return_inverse=True)
    radii = torch.as_tensor(np.sqrt(d2_unique.astype(np.float64)), dtype=dtype, device=dev)
    k = 2.0 * math.pi / lam
    a = (k * na * dxy) * radii  # Bessel arguments, (nr,)
    b = (0.5 * k * na * na / n) * z  # defocus phases, (nz,)
    if n_quad is None:
        a_max, b_max = float(a.detach().max()), float(b.detach().abs().max())
        n_quad = max(128, math.ceil(a_max + 2.0 * b_max) + 32)
    rho_np, w_np = _legendre_on_unit_interval(n_quad)
    rho = torch.as_tensor(rho_np, dtype=dtype, device=dev)
    w = torch.as_tensor(w_np, dtype=dtype, device=dev)
    bessel = bessel_j0(a[:, None] * rho[None, :])  # (nr, nq)
    phase = (rho * rho)[:, None] * b[None, :]  # (nq, nz)
    real = bessel @ (torch.cos(phase) * w[:, None])  # (nr, nz)
    imag = bessel @ (torch.sin(phase) * w[:, None])
    intensity = real * real + imag * imag
    index = torch.as_tensor(inverse.reshape(d2.shape), device=dev)
    psf = intensity[index].permute(2, 0, 1)  # (nz, ny, nx)
    return unit_sum(psf if ndim == 3 else psf[0])


def widefield_gaussian_kernel(
    size: int | Sequence[int],
    *,
    wavelength: Scalar,
    numerical_aperture: Scalar,
    refractive_index: Scalar,
    pixel_size: Scalar,
    z_step: Scalar | None = None,
    dtype: torch.dtype = torch.float64,
    device: Device = None,
) -> torch.Tensor:
    r"""Gaussian approximation of the widefield PSF, 2-D or 3-D, differentiable.

    Parameters are those of :func:`widefield_born_wolf_kernel` less `defocus` and `n_quad`;
    the 3-D kernel equals
    :func:`~bayesdeconv.physics.psf.differentiable.widefield_gaussian_kernel_3d` and
    ``widefield_psf_3d(model="gaussian")``.

    Notes
    -----
    The paraxial approximation of Zhang et al. [2]_: with :math:`k = 2\pi/\lambda`,

    .. math::
        h(r, z) \propto \exp\!\Big(-\frac{r^2}{2\sigma_{xy}^2} - \frac{z^2}{2\sigma_z^2}\Big),
        \qquad \sigma_{xy} = \frac{\sqrt2}{k\,\mathrm{NA}}, \quad
        \sigma_z = \frac{2\sqrt6\,n}{k\,\mathrm{NA}^2},

    point-sampled; a 2-D kernel is the lateral Gaussian alone (`refractive_index` is then
    only checked, NA <= n). The model is separable, so every plane, normalised, is the same
    lateral Gaussian: it has no lateral defocus broadening, and a single image cannot tell its
    distance from focus. Use :func:`widefield_born_wolf_kernel` for a defocused plane.
    """
    values = (wavelength, numerical_aperture, refractive_index, pixel_size, z_step)
    dev = resolve_device(dtype, device, values)
    ndim = widefield_ndim(size, z_step)
    shape = odd_shape(size, ndim)
    lam, na, n, dxy = _optics(
        wavelength, numerical_aperture, refractive_index, pixel_size, dtype, dev
    )
    k = 2.0 * math.pi / lam
    s_xy = math.sqrt(2.0) / (k * na) / dxy
    grid = offsets(shape, dtype, dev)
    iy, ix = grid[-2:]
    q = (iy * iy + ix * ix) / (2.0 * s_xy * s_xy)
    if ndim == 3:
        dz = tensor_param("z_step", z_step, dtype, dev, "positive")
        s_z = 2.0 * math.sqrt(6.0) * n / (k * na * na) / dz
        q = q + grid[0] * grid[0] / (2.0 * s_z * s_z)
    return unit_sum(torch.exp(-q))
