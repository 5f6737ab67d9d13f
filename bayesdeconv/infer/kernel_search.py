"""Coarse-to-fine search for a blur kernel by alternating L0-gradient restoration (MAP).

The variational objectives of blind deconvolution are very multimodal: started from a small
kernel, coordinate ascent on the ELBO keeps the kernel too compact and thick (see the Levin
2009 results in the README). This module finds a good *starting* kernel for the variational
engines with the alternating scheme of Xu, Zheng & Jia [1]_ and Pan et al. [2]_, which is known
to locate camera-shake kernels reliably. At each scale of a pyramid (factor :math:`\\sqrt2`,
the finest PSF support ``psf_size``) it alternates

1. an image with sparse gradients,

   .. math:: \\hat x = \\arg\\min_x \\|k \\circledast x - y\\|^2 + \\lambda \\|\\nabla x\\|_0,

   by half-quadratic splitting: auxiliary gradients :math:`g` are hard-thresholded at
   :math:`|g|^2 < \\lambda / \\beta` and :math:`x` is solved in Fourier space, for
   :math:`\\beta = 2\\lambda, 4\\lambda, \\dots` up to ``beta_max``;

   optionally (``dark_channel`` :math:`= c_d > 0`, ``bright_channel`` :math:`= c_b > 0`)
   with the extreme-channel terms of Pan et al. [3]_ and Yan et al. [4]_,
   :math:`c_d\\lambda \\|D(x)\\|_0 + c_b\\lambda \\|1 - B(x)\\|_0`, for the dark channel
   :math:`D(x)(p) = \\min_{q \\in N(p)} x_q` and the bright channel
   :math:`B(x)(p) = \\max_{q \\in N(p)} x_q` over ``channel_window``-sided windows (scaled
   with the pyramid level). The auxiliary channels :math:`u \\approx D(x)`,
   :math:`v \\approx 1 - B(x)` get the splitting weights :math:`c_d\\beta`, :math:`c_b\\beta`,
   so they are hard-thresholded at :math:`u^2 < \\lambda / \\beta` (likewise :math:`v`). The
   exact image step would add :math:`c_d\\beta \\|M x - u\\|^2`, with :math:`M` the selection
   of each window's arg-min pixel at the current image (:math:`M^\\top` scatters back, and
   :math:`M^\\top M` is diagonal but not circulant); as in Pan et al.'s implementation it is
   approximated by :math:`c_d\\beta \\|x - z\\|^2` with :math:`z = x + M^\\top(u - M x)`, the
   current image with the arg-min pixels of the thresholded windows set to 0 (for the bright
   channel: arg-max pixels set to 1), i.e. :math:`M^\\top M` replaced by the identity, which
   keeps the step one Fourier division and holds the other pixels near their current value;
2. a kernel fitted in the gradient domain on the interior of the frame,

   .. math:: \\hat k = \\arg\\min_k \\sum_{d \\in \\{h, v\\}}
       \\|M_\\circ (\\partial_d \\hat x \\circledast k - \\partial_d y)\\|^2 + \\gamma \\|k\\|^2,

   by conjugate gradients on the support, then clipped at zero, pruned (entries below
   ``prune`` (5 %) of the peak and connected pieces holding less than 10 % of the mass are
   removed) and normalised to unit sum.

:math:`\\lambda` shrinks by ``lambda_decay`` after every scale. At full resolution a last
phase of ``refine_iters`` alternations uses a much smaller :math:`\\lambda`
(``refine_lambda`` = 5 % of it): the image keeps its weaker edges too, and the kernel fit
recovers more of the thin, faint tails of camera-shake kernels that the sparser images of
the coarser phases miss. On Levin 2009 the refined kernel alone succeeds on 66 % of the 32
cases instead of 50 % (geometric mean error ratio 2.56 instead of 3.10; benchmarks/README.md,
(f‴)); blind IVB started from it ends no better (blind gradient scale 0.01) or worse (0.02;
benchmark (l)), so the blind engines start from unrefined searches
(:func:`~bayesdeconv.infer.blind.search_start`). Between scales the kernel is
magnified to the next support and shifted by whole pixels to centre its bounding box (a
centroid centring clips lopsided kernels at the support edge). The observed image is made
periodic by blending its opposite edges over a band as wide as the kernel, so the Fourier
solves apply; the kernel fit ignores that band (:math:`M_\\circ`) and, with a mask, every pixel
within a kernel's reach of a missing one. Downsampling is anti-aliased by a Gaussian of std
:math:`\\tfrac12\\sqrt{1/f^2 - 1}` for a factor :math:`f`.

The extreme-channel terms are off by default. On the two Levin failures (im4_k4, im4_k6) they
do not help (dark channel :math:`c_d = 0.3`: error ratios 18.5 and 5.1 against 4.0 and 4.8;
benchmarks/README.md, "Dark-channel terms in the kernel search"): those images have no black
or white regions. On a synthetic image with both they raise the kernel's NCC (0.79 to 0.93).

This is a point estimate, not a posterior: the engines of :mod:`bayesdeconv.infer.blind`
start from it and refine q(k) at full resolution.

References
----------
.. [1] L. Xu, S. Zheng, J. Jia, "Unnatural L0 sparse representation for natural image
   deblurring", CVPR 2013.
.. [2] J. Pan, Z. Hu, Z. Su, M.-H. Yang, "Deblurring text images via L0-regularized intensity
   and gradient prior", CVPR 2014.
.. [3] J. Pan, D. Sun, H. Pfister, M.-H. Yang, "Blind image deblurring using dark channel
   prior", CVPR 2016.
.. [4] Y. Yan, W. Ren, Y. Guo, R. Wang, X. Cao, "Image deblurring via extreme channels
   prior", CVPR 2017.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from numpy.fft import irfft2, rfft2
from scipy import ndimage
from tqdm import tqdm

__all__ = ["search_kernel"]


def _otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Fourier transform of ``kernel`` (centred at ``s // 2``) on a periodic grid of ``shape``."""
    padded = np.zeros(shape)
    padded[: kernel.shape[0], : kernel.shape[1]] = kernel
    padded = np.roll(padded, (-(kernel.shape[0] // 2), -(kernel.shape[1] // 2)), (0, 1))
    return rfft2(padded)


def _support(periodic: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The window of a periodic array (origin at index 0) on a support centred at ``s // 2``."""
    rolled = np.roll(periodic, (size[0] // 2, size[1] // 2), (0, 1))
    return rolled[: size[0], : size[1]]


def _make_periodic(image: np.ndarray, band: int) -> np.ndarray:
    """Pad ``band`` pixels on each side, blending linearly into the opposite edge."""
    out = image
    for axis in (0, 1):
        t = np.arange(1, 2 * band + 1) / (2 * band + 1)
        first = np.take(out, [0], axis=axis)
        last = np.take(out, [-1], axis=axis)
        t = t[:, None] if axis == 0 else t[None, :]
        blend = (1 - t) * last + t * first
        out = np.roll(np.concatenate([out, blend], axis=axis), band, axis=axis)
    return out


def _pull_extremes(
    x: np.ndarray, window: int, threshold: float, dark: bool = True, bright: bool = True
) -> np.ndarray:
    r"""The target :math:`z` of the extreme-channel splitting term: ``x`` with the arg-min
    pixel of every window whose dark channel has :math:`D^2 <` ``threshold`` set to 0, and
    the arg-max pixel of every window with :math:`(1 - B)^2 <` ``threshold`` set to 1 (each
    only if ``dark``, ``bright``).

    Windows are ``window``-sided squares centred on every pixel of the periodic grid. A
    pixel :math:`q` is the arg-min of some selected window :math:`p \in N(q)` exactly when
    the largest selected dark value over the windows holding it equals :math:`x_q` (every
    window holding :math:`q` has :math:`D(p) \le x_q`), so two min/max filters find the
    pixels without index bookkeeping (ties select every tied pixel)."""
    z = x.copy()
    if dark:
        low = ndimage.minimum_filter(x, window, mode="wrap")
        selected = np.where(low * low < threshold, low, -np.inf)
        z[ndimage.maximum_filter(selected, window, mode="wrap") == x] = 0.0
    if bright:
        high = ndimage.maximum_filter(x, window, mode="wrap")
        selected = np.where((1.0 - high) ** 2 < threshold, high, np.inf)
        z[ndimage.minimum_filter(selected, window, mode="wrap") == x] = 1.0
    return z


def _l0_restore(
    spectrum, otf, grad_otfs, lam: float, beta_max: float, shape, channels=(0.0, 0.0, 3)
) -> np.ndarray:
    """Half spectrum of the L0-gradient image estimate (half-quadratic splitting, beta
    doubling) on a periodic grid of ``shape``; ``channels = (c_d, c_b, w)`` adds the L0
    dark- and bright-channel terms of weights ``c_d * lam``, ``c_b * lam`` on ``w``-sided
    windows (module documentation)."""
    dark, bright, window = channels
    data_num = np.conj(otf) * spectrum
    data_den = np.abs(otf) ** 2
    grad_den = sum(np.abs(g) ** 2 for g in grad_otfs)
    estimate = spectrum
    beta = 2.0 * lam
    while beta < beta_max:
        grads = [irfft2(g * estimate, s=shape) for g in grad_otfs]
        small = sum(g * g for g in grads) < lam / beta
        for g in grads:
            g[small] = 0.0
        aux = sum(np.conj(d) * rfft2(g) for d, g in zip(grad_otfs, grads, strict=True))
        num, den = data_num + beta * aux, data_den + beta * grad_den
        current = None
        for weight, is_dark in ((dark, True), (bright, False)):
            if weight > 0:  # splitting weight mu = c beta, so the threshold is lam / beta too
                if current is None:
                    current = irfft2(estimate, s=shape)
                target = _pull_extremes(current, window, lam / beta, is_dark, not is_dark)
                num, den = num + weight * beta * rfft2(target), den + weight * beta
        estimate = num / den
        beta *= 2.0
    return estimate


def _fit_kernel(image_spec, data_spec, grad_otfs, weight, size, gamma, start, iters):
    """Least-squares kernel on ``size`` from gradient pairs, residual weighted by ``weight``
    (the spectra are half spectra of real arrays of ``weight.shape``)."""
    shape = weight.shape
    latent = [d * image_spec for d in grad_otfs]
    rhs = sum(
        np.conj(g) * rfft2(weight * irfft2(d * data_spec, s=shape))
        for g, d in zip(latent, grad_otfs, strict=True)
    )
    b = _support(irfft2(rhs, s=shape), size)

    def normal(k: np.ndarray) -> np.ndarray:
        otf = _otf(k, shape)
        out = sum(np.conj(g) * rfft2(weight * irfft2(g * otf, s=shape)) for g in latent)
        return _support(irfft2(out, s=shape), size) + gamma * k

    k = start.copy()
    r = b - normal(k)
    p = r.copy()
    rs = float(np.sum(r * r))
    for _ in range(iters):
        if rs <= 1e-30:
            break
        ap = normal(p)
        step = rs / float(np.sum(p * ap))
        k += step * p
        r -= step * ap
        rs_new = float(np.sum(r * r))
        p = r + (rs_new / rs) * p
        rs = rs_new
    return k


def _prune(kernel: np.ndarray, floor: float) -> np.ndarray | None:
    """Clip, drop entries below ``floor`` x the peak and weak connected pieces, normalise;
    ``None`` if nothing is left."""
    k = np.maximum(kernel, 0.0)
    if not k.sum() > 0:
        return None
    k = k / k.sum()
    k[k < floor * k.max()] = 0.0
    labels, count = ndimage.label(k > 0, structure=np.ones((3, 3)))
    for piece in range(1, count + 1):
        if k[labels == piece].sum() < 0.1:
            k[labels == piece] = 0.0
    return k / k.sum()


def _magnify(kernel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    zoomed = ndimage.zoom(kernel, (size[0] / kernel.shape[0], size[1] / kernel.shape[1]), order=1)
    out = np.zeros(size)
    h, w = min(size[0], zoomed.shape[0]), min(size[1], zoomed.shape[1])
    out[:h, :w] = np.maximum(zoomed[:h, :w], 0.0)
    return out / out.sum()


def _recentre(kernel: np.ndarray) -> np.ndarray:
    """Shift by whole pixels so that the kernel's bounding box is centred on the support."""
    offset = []
    for axis in range(kernel.ndim):
        profile = kernel.sum(axis=1 - axis)
        nonzero = np.flatnonzero(profile > 0)
        mid = (nonzero[0] + nonzero[-1]) / 2 if nonzero.size else kernel.shape[axis] // 2
        offset.append(int(round(kernel.shape[axis] // 2 - mid)))
    return ndimage.shift(kernel, offset, order=0)


def _fill_missing(image: np.ndarray, mask: np.ndarray, width: float) -> np.ndarray:
    """Missing pixels replaced by a Gaussian-weighted average of the observed ones."""
    weights = ndimage.gaussian_filter(mask.astype(float), width)
    values = ndimage.gaussian_filter(np.where(mask, image, 0.0), width)
    fill = values / np.maximum(weights, 1e-12)
    fill[weights < 1e-12] = image[mask].mean()
    return np.where(mask, image, fill)


def _sizes(psf_size: tuple[int, int], min_size: int) -> list[tuple[int, int]]:
    sizes = [psf_size]
    while max(sizes[-1]) > min_size:
        nxt = []
        for s in sizes[-1]:
            t = int(round(s / math.sqrt(2)))
            nxt.append(max(3, t + (t % 2 == 0)))
        if tuple(nxt) == sizes[-1]:
            break
        sizes.append(tuple(nxt))
    return sizes[::-1]


def search_kernel(
    observed,
    psf_size: tuple[int, int],
    *,
    mask=None,
    lam: float = 2e-3,
    lambda_decay: float = 1.1,
    lambda_min: float = 1e-4,
    iters: int = 5,
    gamma: float = 2.0,
    beta_max: float = 1e5,
    cg_iters: int = 30,
    min_size: int = 5,
    prune: float = 0.05,
    refine_iters: int = 10,
    refine_lambda: float = 0.05,
    start: np.ndarray | None = None,
    dark_channel: float = 0.0,
    bright_channel: float = 0.0,
    channel_window: int = 35,
    progress: bool = False,
    progress_label: str = "kernel search",
) -> np.ndarray:
    """Point estimate of a blur kernel by coarse-to-fine L0-gradient alternation.

    See the module documentation for the updates.

    Parameters
    ----------
    observed : array_like
        2-D blurred image, intensities of order 1 (e.g. in [0, 1]).
    psf_size : (int, int)
        Odd support of the kernel at full resolution.
    mask : array_like of bool, optional
        ``True`` where a pixel is observed.
    lam : float
        Weight :math:`\\lambda` of the L0 gradient penalty at the coarsest scale.
    lambda_decay, lambda_min
        :math:`\\lambda` is divided by ``lambda_decay`` after every scale, down to
        ``lambda_min``.
    iters : int
        Image/kernel alternations per scale.
    gamma : float
        Ridge weight :math:`\\gamma` of the kernel fit.
    beta_max : float
        Last splitting weight of the L0 image step.
    cg_iters : int
        Conjugate-gradient iterations of each kernel fit.
    min_size : int
        The coarsest scale has a support of at most ``min_size`` pixels per axis.
    prune : float
        After each kernel fit, entries below ``prune`` times the peak are set to zero.
    refine_iters, refine_lambda
        At full resolution, ``refine_iters`` more alternations follow with :math:`\\lambda`
        multiplied by ``refine_lambda``: a less sparse image, whose weaker edges let the
        kernel fit recover thin, faint parts of the kernel (module documentation).
    start : array_like, optional
        A kernel of shape ``psf_size`` (e.g. an earlier search's result): the coarser scales
        are skipped and the full-resolution phases start from it, with the :math:`\\lambda`
        that the schedule reaches there. ``iters=0`` with a ``start`` runs the refinement
        only.
    dark_channel, bright_channel : float
        :math:`c_d, c_b \\ge 0`: the image step also penalises the number of non-zero
        dark-channel values (weight :math:`c_d\\lambda`) and of bright-channel values below one
        (weight :math:`c_b\\lambda`), as Pan et al. (2016) and Yan et al. (2017) do (module
        documentation). 0 (default): off, the search is unchanged; 1 weighs a channel like the
        gradients. The bright channel suits images with white regions (intensity 1).
    channel_window : int
        Side of the channels' windows at full resolution (odd, at least 3); a coarser level
        of factor :math:`f` uses the odd size nearest to :math:`f` times it, at least 3.
    progress : bool
        Progress bar over the scales on stderr.
    progress_label : str
        The bar's label (e.g. which of several searches this is).

    Returns
    -------
    numpy.ndarray
        The kernel, shape ``psf_size``, non-negative with unit sum, in true-convolution
        orientation, its bounding box centred on the support. The search runs on the CPU
        (NumPy), whatever device the engines use afterwards.
    """
    y = np.asarray(observed, dtype=np.float64)
    size = tuple(int(s) for s in psf_size)
    if y.ndim != 2 or len(size) != 2:
        raise ValueError("search_kernel works on 2-D images with a 2-D PSF size")
    if any(s < 3 or s % 2 == 0 for s in size):
        raise ValueError(f"psf_size must be odd and at least 3, got {size}")
    if not 0 <= prune < 1:
        raise ValueError(f"prune must lie in [0, 1), got {prune}")
    if refine_iters < 0 or not 0 < refine_lambda <= 1:
        raise ValueError(
            "refine_iters must be non-negative and refine_lambda lie in (0, 1], got "
            f"{refine_iters} and {refine_lambda}"
        )
    for label, value in (("dark_channel", dark_channel), ("bright_channel", bright_channel)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{label} must be a non-negative number, got {value}")
    if int(channel_window) != channel_window or channel_window < 3 or channel_window % 2 == 0:
        raise ValueError(f"channel_window must be an odd integer >= 3, got {channel_window}")
    observed_mask = None if mask is None else np.asarray(mask, dtype=bool)
    if observed_mask is not None:
        if observed_mask.shape != y.shape:
            raise ValueError(f"mask shape {observed_mask.shape} does not match {y.shape}")
        if not observed_mask.any():
            raise ValueError("the mask marks no pixel as observed")
        y = _fill_missing(y, observed_mask, max(size) / 4)
    kernel = None
    levels = _sizes(size, min_size)
    if start is not None:
        kernel = np.asarray(start, dtype=np.float64)
        if kernel.shape != size:
            raise ValueError(f"start has shape {kernel.shape}; psf_size is {size}")
        if not (np.isfinite(kernel).all() and (kernel >= 0).all() and kernel.sum() > 0):
            raise ValueError("start must be a finite, non-negative kernel with positive sum")
        kernel = kernel / kernel.sum()
        lam = max(lam / lambda_decay ** (len(levels) - 1), lambda_min)
        levels = levels[-1:]
    bar = tqdm(levels, desc=progress_label, file=sys.stderr, disable=not progress, leave=False)
    for level_size in bar:
        factor = min(s / t for s, t in zip(level_size, size, strict=True))
        if factor < 1:
            smooth = ndimage.gaussian_filter(y, 0.5 * math.sqrt(1 / factor**2 - 1))
            y_level = ndimage.zoom(smooth, factor, order=1)
        else:
            y_level = y
        if kernel is None:
            kernel = np.zeros(level_size)
            c0, c1 = level_size[0] // 2, level_size[1] // 2
            kernel[c0, max(c1 - 1, 0) : c1 + 2] = 1.0
            kernel /= kernel.sum()
        elif kernel.shape != level_size:
            kernel = _magnify(kernel, level_size)
        band = max(level_size)
        periodic = _make_periodic(y_level, band)
        weight = np.zeros(periodic.shape)
        h, w = y_level.shape
        weight[band + 1 : band + h - 1, band + 1 : band + w - 1] = 1.0
        if observed_mask is not None:
            lost = ~observed_mask
            if factor < 1:
                lost = ndimage.zoom(lost.astype(float), factor, order=1) > 1e-3
            lost = ndimage.binary_dilation(lost, np.ones(level_size, dtype=bool))
            weight[band : band + h, band : band + w] *= ~lost
        if weight.sum() == 0:
            raise ValueError("too few observed pixels away from the border to fit a kernel")
        spectrum = rfft2(periodic)
        grad_otfs = [
            _otf(np.array([[0.0, -1.0, 1.0]]), periodic.shape),
            _otf(np.array([[0.0], [-1.0], [1.0]]), periodic.shape),
        ]
        window = max(3, 2 * int(round((channel_window * factor - 1) / 2)) + 1)
        channels = (float(dark_channel), float(bright_channel), window)
        finest = level_size == levels[-1]
        phases = [(lam, iters)] + ([(lam * refine_lambda, refine_iters)] if finest else [])
        for phase_lam, phase_iters in phases:
            for _ in range(phase_iters):
                otf = _otf(kernel, periodic.shape)
                image_spec = _l0_restore(
                    spectrum, otf, grad_otfs, phase_lam, beta_max, periodic.shape, channels
                )
                fitted = _fit_kernel(
                    image_spec, spectrum, grad_otfs, weight, level_size, gamma, kernel, cg_iters
                )
                pruned = _prune(fitted, prune)
                if pruned is not None:
                    kernel = pruned
        lam = max(lam / lambda_decay, lambda_min)
        kernel = _recentre(kernel)
    return kernel
