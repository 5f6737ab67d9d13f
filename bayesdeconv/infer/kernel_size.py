r"""The PSF support of a blind deconvolution, estimated from the image.

Blind deconvolution needs a support for the unknown kernel. Too small a support clips the
kernel; too large a one adds unknowns that the data do not constrain and makes the start
search slower and less reliable. :func:`estimate_psf_size` finds the support with *pilot*
runs of the L0-gradient kernel search of
:func:`~bayesdeconv.infer.kernel_search.search_kernel` (the search that starts every blind
engine; Xu et al. [1]_), on a generous support grown while the kernel fills it:

1. search a kernel :math:`\hat k` on a square support of :math:`P` pixels, first
   ``pilot_size`` (default 31: Levin's camera-shake kernels [2]_ are at most 27 pixels);
2. measure its extent :math:`e_a` along each axis :math:`a` as the bounding box of
   :math:`\{j : \hat k_j \ge \rho \max \hat k\}`, with :math:`\rho` = ``floor`` (5 %, the
   search's own pruning threshold, so the box is that of what the search keeps);
3. if :math:`\max_a e_a + 4 > P` (the box, centred by the search, comes within 2 pixels of
   the edge) the kernel may be clipped: :math:`P` grows to the odd size nearest
   :math:`\sqrt2 P` (31, 43, 61, ...; at most ``max_size``) and step 1 repeats;
4. return the square support :math:`s = \max_a e_a + m` (``margin``), rounded up to odd
   and clipped to :math:`[3, s_{\max}]`.

Why a generous first support: on too small a support the search may not return a kernel
that fills it, a sign of clipping one could test for, but drop a faint part instead (Levin's
kernel 6 on image 1, 19 x 16 pixels: 11 x 9 on a 15-pixel support, 17 x 14 on 21, 18 x 14 on
31; on images 2 and 4 its faint arm is missed even on 31, 10 x 8 and 13 x 12). On images with
few edges, on the other hand, a generous support lets the search spread the kernel (a 9 x 5
motion blur of a piecewise-constant image measured 11 x 23 pixels on a 25-pixel support,
10 x 5 on 15; ``docs/limitations.md``).

Why a bounding box of the thresholded kernel, and not a share of its mass: the search's
kernel is already pruned (entries below 5 % of its peak and weak connected pieces are set to
zero), so its box is not moved by isolated noise, whereas a box holding, say, 99 % of the
mass cuts off exactly the faint tails of camera-shake kernels that a support must hold. Those
tails are the part the pilot misses: on Levin's eight kernels (image 1, 41-pixel pilots) its
box is about 2 pixels shorter than the true kernel's non-zero extent, and the kernel arrays
there are about 2 pixels longer than that extent. The default margin of 6 therefore aims at
the benchmark's convention, the kernel array's size plus 4 (``benchmarks/bench_levin.py``);
on the 32 Levin cases it gave that size or 2 pixels less on 25 (``benchmarks/README.md``,
where blind IVB with the estimated supports reaches a geometric-mean error ratio of 1.97
against 1.90 with true size + 4; the misses are in ``docs/limitations.md``). The support
is square because the extent along a kernel's short axis is the least reliable measure, and a
square box holds the kernel in any orientation.

A pilot costs one kernel search without its refinement phase (about 12 s on a 255 x 255
image and a 31-pixel support on one core, against about 50 s for the default blind start);
a second one runs only for kernels wider than 27 pixels. It is deterministic.

References
----------
.. [1] L. Xu, S. Zheng, J. Jia, "Unnatural L0 sparse representation for natural image
   deblurring", CVPR 2013.
.. [2] A. Levin, Y. Weiss, F. Durand, W. T. Freeman, "Understanding and evaluating blind
   deconvolution algorithms", CVPR 2009.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from bayesdeconv.infer.kernel_search import search_kernel

__all__ = ["MAX_SIZE", "PILOT_SIZE", "default_max_size", "estimate_psf_size", "kernel_extent"]

PILOT_SIZE = 31
"""Support of the first pilot search, pixels per axis."""
MAX_SIZE = 61
"""Cap of the default largest support (:func:`default_max_size`)."""
_EDGE = 2  # a box reaching within this many pixels of the support's edge may be clipped


def _odd_up(value: float) -> int:
    size = int(math.ceil(value))
    return size + (size % 2 == 0)


def _odd_nearest(value: float) -> int:
    return 2 * int(math.floor(value / 2)) + 1


def _odd_down(value: float) -> int:
    size = int(math.floor(value))
    return size - (size % 2 == 0)


def default_max_size(shape: tuple[int, ...]) -> int:
    r"""The largest support :func:`estimate_psf_size` returns by default for an image of
    ``shape``: the largest odd size :math:`\le \min(H, W)/5`, at most :data:`MAX_SIZE` and
    at least 3.

    A fifth of the image keeps most of the frame inside the valid-boundary region of even
    the largest kernel. Camera-shake kernels are 11-31 pixels; the pilots grow towards the
    cap only while their kernel fills the support, so a generous cap costs nothing on
    smaller blurs.
    """
    return max(3, min(MAX_SIZE, _odd_down(min(shape[:2]) / 5)))


def kernel_extent(kernel, floor: float = 0.05) -> tuple[int, int]:
    r"""Extent, pixels per axis, of the entries of ``kernel`` of at least ``floor`` times its
    peak (the size of their bounding box).

    Parameters
    ----------
    kernel : array_like
        2-D kernel, not all zero.
    floor : float
        Share of the peak below which an entry does not count, in [0, 1).

    Returns
    -------
    tuple of int
        ``(rows, columns)`` of the bounding box.
    """
    k = np.abs(np.asarray(kernel, dtype=np.float64))
    if k.ndim != 2 or not k.max() > 0:
        raise ValueError("kernel_extent needs a 2-D kernel that is not all zero")
    if not 0 <= floor < 1:
        raise ValueError(f"floor must lie in [0, 1), got {floor}")
    rows, cols = np.nonzero(k >= floor * k.max())
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer of at least {low}, got {value!r}")
    return int(value)


def estimate_psf_size(
    image,
    *,
    mask=None,
    max_size: int | None = None,
    pilot_size: int | None = None,
    margin: int = 6,
    floor: float = 0.05,
    progress: bool = False,
) -> tuple[int, int]:
    r"""Estimate the odd, square PSF support of a blurred 2-D image (for blind deconvolution).

    Pilot kernel searches on a support grown while their kernel fills it; the result is the
    extent of the last kernel plus ``margin`` (module documentation).

    Parameters
    ----------
    image : array_like
        2-D blurred image, intensities of order 1 (as for
        :func:`~bayesdeconv.infer.kernel_search.search_kernel`). Missing pixels may hold any
        finite value if ``mask`` marks them.
    mask : array_like of bool, optional
        ``True`` where a pixel is observed.
    max_size : int, optional
        Largest support returned and searched (odd, at least 3, at most the image);
        default :func:`default_max_size`.
    pilot_size : int, optional
        Support of the first pilot search (odd, at least 3); default
        ``min(PILOT_SIZE, max_size)``.
    margin : int
        Pixels added to the measured extent. The pilot's box misses the faintest tails
        (about 2 pixels on Levin's kernels); 6 gives the benchmark's "true size + 4".
    floor : float
        Entries below ``floor`` times the pilot kernel's peak do not count towards its
        extent (:func:`kernel_extent`).
    progress : bool
        Progress bar of the pilot search on stderr.

    Returns
    -------
    tuple of int
        ``(s, s)``, ``s`` odd in ``[3, max_size]``. A ``UserWarning`` says when the kernel
        still fills a support of ``max_size``: the blur may be larger than that.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import fftconvolve
    >>> from bayesdeconv.datasets import piecewise_constant_image
    >>> from bayesdeconv.physics.psf import motion_psf
    >>> sharp = piecewise_constant_image((140, 140), seed=1)
    >>> blurred = fftconvolve(sharp, motion_psf(13, 11, 0.5), mode="valid")
    >>> size = estimate_psf_size(blurred)
    >>> 11 <= size[0] <= 19
    True
    """
    y = np.asarray(image, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"estimate_psf_size needs a 2-D image, got shape {y.shape}")
    observed = None if mask is None else np.asarray(mask, dtype=bool)
    if observed is not None and observed.shape != y.shape:
        raise ValueError(f"mask shape {observed.shape} does not match the image {y.shape}")
    if observed is not None and not observed.any():
        raise ValueError("the mask marks no pixel as observed")
    if not np.isfinite(y if observed is None else y[observed]).all():
        raise ValueError("image contains NaN or Inf values where it is observed")
    if observed is not None:
        y = np.where(observed, y, 0.0)
    if min(y.shape) < 15:
        raise ValueError(f"image of shape {y.shape} is too small to estimate a PSF support")
    if max_size is None:
        max_size = default_max_size(y.shape)
    max_size = _check_int(max_size, "max_size", 3)
    if max_size % 2 == 0 or max_size > min(y.shape):
        raise ValueError(f"max_size must be odd and at most the image's {min(y.shape)} pixels")
    pilot = min(PILOT_SIZE, max_size) if pilot_size is None else pilot_size
    pilot = _check_int(pilot, "pilot_size", 3)
    if pilot % 2 == 0 or pilot > max_size:
        raise ValueError(f"pilot_size must be odd and at most max_size={max_size}, got {pilot}")
    margin = _check_int(margin, "margin", 0)
    while True:
        kernel = search_kernel(
            y,
            (pilot, pilot),
            mask=observed,
            refine_iters=0,
            progress=progress,
            progress_label=f"kernel size pilot {pilot}",
        )
        extent = max(kernel_extent(kernel, floor))
        clipped = extent + 2 * _EDGE > pilot
        if not clipped or pilot == max_size:
            break
        pilot = min(max_size, max(pilot + 2, _odd_nearest(pilot * math.sqrt(2))))
    if clipped and extent + margin > max_size:
        warnings.warn(
            f"the pilot kernel fills the largest support ({max_size} pixels): the blur may be "
            "larger; pass max_size or psf_size",
            UserWarning,
            stacklevel=2,
        )
    size = min(max_size, max(3, _odd_up(extent + margin)))
    return size, size
