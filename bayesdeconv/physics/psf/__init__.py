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

Modules
-------
:mod:`~bayesdeconv.physics.psf.gaussian` (:func:`gaussian_psf`,
:func:`anisotropic_gaussian_psf`), :mod:`~bayesdeconv.physics.psf.motion`
(:func:`motion_psf`, :func:`camera_shake_psf`), :mod:`~bayesdeconv.physics.psf.optics`
(:func:`airy_psf`,
:func:`widefield_gaussian_sigmas`, :func:`widefield_psf_3d`),
:mod:`~bayesdeconv.physics.psf.microscope` (:func:`widefield_psf`, the fixed widefield PSF
on a stack's anisotropic voxel grid with a support sized from the optics, and
:func:`widefield_support`) and
:mod:`~bayesdeconv.physics.psf.checks` (:func:`check_psf`, :func:`psf_centroid` and the
argument checks); :mod:`~bayesdeconv.physics.psf.grid` holds the sampling-grid helpers.
:mod:`~bayesdeconv.physics.psf.differentiable` has torch generators differentiable in their
parameters (:func:`gaussian_kernel`, :func:`defocus_kernel`, :func:`motion_kernel`,
:func:`airy_kernel`, :func:`widefield_gaussian_kernel_3d`) and
:mod:`~bayesdeconv.physics.psf.differentiable_optics` the 2-D or 3-D widefield ones
(:func:`widefield_born_wolf_kernel`, :func:`widefield_gaussian_kernel`), built on
:mod:`~bayesdeconv.physics.psf.tensor_args` and :mod:`~bayesdeconv.physics.psf.bessel`.

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

from bayesdeconv.physics.psf.checks import check_psf, psf_centroid
from bayesdeconv.physics.psf.differentiable import (
    airy_kernel,
    defocus_kernel,
    gaussian_kernel,
    motion_kernel,
    widefield_gaussian_kernel_3d,
)
from bayesdeconv.physics.psf.differentiable_optics import (
    widefield_born_wolf_kernel,
    widefield_gaussian_kernel,
)
from bayesdeconv.physics.psf.gaussian import anisotropic_gaussian_psf, gaussian_psf
from bayesdeconv.physics.psf.grid import SizeLike
from bayesdeconv.physics.psf.microscope import widefield_psf, widefield_support
from bayesdeconv.physics.psf.motion import camera_shake_psf, motion_psf
from bayesdeconv.physics.psf.optics import airy_psf, widefield_gaussian_sigmas, widefield_psf_3d
from bayesdeconv.physics.psf.support import crop_psf

__all__ = [
    "SizeLike",
    "airy_kernel",
    "airy_psf",
    "anisotropic_gaussian_psf",
    "check_psf",
    "crop_psf",
    "defocus_kernel",
    "gaussian_kernel",
    "gaussian_psf",
    "motion_kernel",
    "camera_shake_psf",
    "motion_psf",
    "psf_centroid",
    "widefield_born_wolf_kernel",
    "widefield_gaussian_kernel",
    "widefield_gaussian_kernel_3d",
    "widefield_gaussian_sigmas",
    "widefield_psf",
    "widefield_psf_3d",
    "widefield_support",
]
