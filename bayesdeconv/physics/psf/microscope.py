r"""The fixed widefield PSF of a microscope stack from its voxel size: :func:`widefield_psf`.

A z-stack's voxels are usually anisotropic (the z step is several times the lateral pitch).
:func:`widefield_psf` takes the voxel size as the reader gives it, ``(dz, dy, dx)`` or
``(dy, dx)``, sizes the support from the optics (:func:`widefield_support`) and samples the
Born & Wolf (or Gaussian) model of :func:`~bayesdeconv.physics.psf.widefield_psf_3d` on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from bayesdeconv.physics.psf.checks import check_positive, check_shape
from bayesdeconv.physics.psf.optics import _check_optics, widefield_psf_3d

__all__ = ["AIRY_RADII", "AXIAL_FWHMS", "MAX_SUPPORT", "widefield_psf", "widefield_support"]

#: Default lateral half-width of the support, in first-zero Airy radii :math:`0.61\lambda/NA`.
AIRY_RADII = 3.0
#: Default axial extent of the support, in axial FWHMs :math:`1.77\,n\lambda/NA^2`.
AXIAL_FWHMS = 3.0
#: Largest support along an axis; beyond it the voxel size and wavelength disagree in unit.
MAX_SUPPORT = 1025
#: Relative difference of the y and x pitch still taken as square pixels (rounding of tags).
_SQUARE_RTOL = 1e-3


def _voxel(voxel_size: Sequence[float]) -> tuple[float, ...]:
    """Validate a ``(dz, dy, dx)`` or ``(dy, dx)`` voxel size with square lateral pixels."""
    try:
        sizes = tuple(voxel_size)
    except TypeError:
        raise ValueError(
            f"voxel_size must be (dz, dy, dx) or (dy, dx), got {voxel_size!r}"
        ) from None
    if len(sizes) not in (2, 3):
        raise ValueError(f"voxel_size must be (dz, dy, dx) or (dy, dx), got {voxel_size!r}")
    names = ("z_step", "pixel_size y", "pixel_size x")[-len(sizes) :]
    out = tuple(check_positive(f"voxel_size {n}", v) for n, v in zip(names, sizes, strict=True))
    dy, dx = out[-2:]
    if abs(dy - dx) > _SQUARE_RTOL * max(dy, dx):
        raise ValueError(
            f"anisotropic lateral pixels (y {dy:g}, x {dx:g}) are not supported: the widefield "
            "PSF needs square pixels (resample the image so that y and x have the same pitch)"
        )
    return out


def widefield_support(
    voxel_size: Sequence[float],
    *,
    wavelength: float,
    numerical_aperture: float,
    refractive_index: float,
    airy_radii: float = AIRY_RADII,
    axial_fwhms: float = AXIAL_FWHMS,
) -> tuple[int, ...]:
    r"""The odd support a widefield PSF needs on a grid of this voxel size.

    Parameters
    ----------
    voxel_size : sequence of float
        ``(dz, dy, dx)`` for a stack or ``(dy, dx)`` for one image, in the unit of
        `wavelength`, positive; ``dy`` and ``dx`` must agree (square pixels).
    wavelength, numerical_aperture, refractive_index : float
        Emission wavelength :math:`\lambda`, NA and immersion index :math:`n` (NA <= n).
    airy_radii : float, default 3
        Lateral half-width in Airy radii :math:`r_A = 0.61\,\lambda/\mathrm{NA}`.
    axial_fwhms : float, default 3
        Axial extent in axial FWHMs :math:`w_z = 1.77\,n\lambda/\mathrm{NA}^2` (the paraxial
        model's, :math:`\operatorname{sinc}^2` on the axis); 3-D only.

    Returns
    -------
    tuple of int
        ``(nz, ny, nx)`` or ``(ny, nx)``, odd, with ``ny == nx``.

    Raises
    ------
    ValueError
        For a bad voxel size (not positive, non-square pixels), bad optics, or a support
        above :data:`MAX_SUPPORT` along an axis (the voxel size is then most likely in
        another unit than the wavelength).

    Notes
    -----
    In 3-D the half-extent along z is :math:`h_z = \tfrac12 \cdot \text{axial\_fwhms}\cdot w_z`
    and the lateral half-width is :math:`\max(\text{airy\_radii}\cdot r_A,\,h_z\,\mathrm{NA}/n)`:
    the outermost plane's geometric blur (the cone of half-angle
    :math:`\mathrm{NA}/n`, paraxially) fits the support. A widefield PSF carries the same
    energy in every plane, so any finite support drops some; the PSF is normalised on it.
    """
    sizes = _voxel(voxel_size)
    lam, na, n = _check_optics(wavelength, numerical_aperture, refractive_index)
    airy = check_positive("airy_radii", airy_radii) * 0.61 * lam / na
    lateral = airy
    half: list[float] = []
    if len(sizes) == 3:
        half_z = 0.5 * check_positive("axial_fwhms", axial_fwhms) * 1.77 * n * lam / (na * na)
        lateral = max(airy, half_z * na / n)
        half.append(half_z / sizes[0])
    half += [lateral / sizes[-1]] * 2
    shape = tuple(2 * math.ceil(h - 1e-9) + 1 for h in half)
    if max(shape) > MAX_SUPPORT:
        raise ValueError(
            f"the widefield PSF would need a support of {'x'.join(map(str, shape))} voxels at "
            f"voxel size {sizes} for wavelength {lam:g}: give the voxel size in the unit of the "
            "wavelength (e.g. both in micrometres)"
        )
    return shape


def widefield_psf(
    voxel_size: Sequence[float],
    *,
    wavelength: float,
    numerical_aperture: float,
    refractive_index: float,
    shape: Sequence[int] | None = None,
    max_shape: Sequence[int] | None = None,
    model: Literal["born_wolf", "gaussian"] = "born_wolf",
) -> np.ndarray:
    r"""The fixed widefield fluorescence PSF on a (possibly anisotropic) voxel grid.

    Parameters
    ----------
    voxel_size : sequence of float
        ``(dz, dy, dx)`` for a z-stack or ``(dy, dx)`` for one image, as
        :attr:`bayesdeconv.io.ImageData.voxel_size` gives it, in the unit of `wavelength`
        (micrometres for the reader's ``"um"``). The z step may differ from the lateral
        pitch; ``dy`` and ``dx`` must agree (square pixels).
    wavelength : float
        Emission wavelength :math:`\lambda` (> 0), e.g. 0.52 (µm) for GFP.
    numerical_aperture : float
        NA of the objective, ``0 < NA <= refractive_index``.
    refractive_index : float
        Refractive index of the immersion medium (1.515 for oil).
    shape : sequence of int, optional
        Support, one entry per axis of `voxel_size`. By default :func:`widefield_support`.
    max_shape : sequence of int, optional
        Largest support per axis (the image's shape): a default support is cut to the
        largest odd size not above it. Ignored when `shape` is given.
    model : {"born_wolf", "gaussian"}, default "born_wolf"
        The paraxial Born & Wolf defocus integral or its Gaussian approximation (see
        :func:`~bayesdeconv.physics.psf.widefield_psf_3d`).

    Returns
    -------
    numpy.ndarray
        Float64, non-negative, summing to one, centred at ``s // 2``; 3-D ``(z, y, x)`` for a
        3-entry `voxel_size`, else 2-D ``(y, x)``: the in-focus plane, which is the Airy
        pattern for ``"born_wolf"`` (point-sampled).

    Raises
    ------
    ValueError
        For a bad voxel size, bad optics, a `shape` or `max_shape` that does not have one
        positive entry per axis, or a default support above
        :data:`~bayesdeconv.physics.psf.microscope.MAX_SUPPORT`.

    Examples
    --------
    >>> h = widefield_psf((0.125, 0.0220, 0.0220), wavelength=0.52, numerical_aperture=1.4,
    ...                   refractive_index=1.518, max_shape=(21, 150, 150))
    >>> h.shape
    (19, 91, 91)
    """
    sizes = _voxel(voxel_size)
    optics = {
        "wavelength": wavelength,
        "numerical_aperture": numerical_aperture,
        "refractive_index": refractive_index,
    }
    ndim = len(sizes)
    if shape is not None:
        support = check_shape("shape", shape, ndim)
    else:
        support = widefield_support(sizes, **optics)
        if max_shape is not None:
            limit = check_shape("max_shape", max_shape, ndim)
            support = tuple(min(s, m - 1 + m % 2) for s, m in zip(support, limit, strict=True))
    pitch = 0.5 * (sizes[-1] + sizes[-2])
    if ndim == 2:
        plane = widefield_psf_3d((1, *support), **optics, pixel_size=pitch, z_step=1.0, model=model)
        return plane[0]
    return widefield_psf_3d(support, **optics, pixel_size=pitch, z_step=sizes[0], model=model)
