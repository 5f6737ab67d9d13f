r"""A fast estimate of a Gaussian blur (sigma_x, sigma_y, theta) from the edges of one image.

Polyblur-style [1]_: the blur is modelled as an anisotropic Gaussian,
:math:`\Sigma = R(\theta)\operatorname{diag}(\sigma_x^2, \sigma_y^2)R(\theta)^\top` (the
convention of :func:`~bayesdeconv.physics.psf.differentiable.gaussian_kernel`), and measured on
the strongest edges. A straight step edge of contrast :math:`c` with unit normal :math:`n` at
angle :math:`\varphi` stays a 1-D step after the blur, blurred by a 1-D Gaussian of variance

.. math::
    s(\varphi)^2 = n^\top\Sigma n
    = \sigma_x^2\cos^2(\varphi-\theta) + \sigma_y^2\sin^2(\varphi-\theta),

and its largest gradient is :math:`c/(\sqrt{2\pi}\,s)`.

Our estimator, written for this package (no code from [1]_):

1. the image is pre-smoothed with a Gaussian of std ``scale`` (default 1 px, which damps the
   noise; its variance is subtracted exactly) and differentiated, all in one FFT of the image
   padded by mirroring, so no wrap-around edge is created, and a border of ``3 scale + 8`` px is
   never used as an edge (circular or mirrored boundaries cannot pass for sharp edges);
2. pixels are put in ``n_angles`` bins by gradient orientation :math:`\varphi \in [0, \pi)`;
   in every bin the ``n_edges`` pixels of largest gradient are taken, bins whose edges do not
   stand clear of the noise (estimated from the image) are dropped;
3. instead of Polyblur's global normalisation and calibrated contrast, the contrast of those
   very edges is measured, :math:`c \approx I(x + D n) - I(x - D n)` on the smoothed image with
   :math:`D = 2.5\,s` (three fixed-point passes from :math:`s = 2`), so
   :math:`s^2 = (\sum c / (\sqrt{2\pi}\sum|\nabla I|))^2 - \mathrm{scale}^2` needs no knowledge
   of the image's contrast;
4. two calibrated constants map it to the directional blur variance,
   :math:`s(\varphi)^2 = \alpha\,s^2 - \beta` (:math:`\beta` the intrinsic blur of sharp
   images and sampling, :math:`\alpha` the bias of the edge choice), and
   :math:`s(\varphi)^2 = a_0 + a_1\cos 2\varphi + a_2\sin 2\varphi` is fitted by a robust
   (Tukey biweight) least-squares, so :math:`\sigma_{x,y}^2 = a_0 \pm \sqrt{a_1^2 + a_2^2}`,
   :math:`\theta = \tfrac12\operatorname{atan2}(a_2, a_1)`; a bin weighs
   :math:`(\bar g / \bar g_{\max})^2`, its mean edge gradient relative to the strongest
   bin's, so the weak edges of orientations an image barely has (corners of rectangles) count
   little.

(sigma_x, sigma_y, theta) and (sigma_y, sigma_x, theta + pi/2) are the same blur; the estimate
is returned with ``sigma_x >= sigma_y`` and theta in ``[0, pi)``, the direction of the widest
blur.

Accuracy (held-out images of the calibration script, 256 x 256, sigma in [0.5, 4], noise 0.5 %
and 2 %): photographs and synthetic images with steps (rocket, moon, immunohistochemistry,
shepp_logan_phantom, dead leaves, rectangles) about 6 % median error on sigma_x, 15 % on
sigma_y, 10 % on their geometric mean, angle 4-5 degrees (anisotropy >= 1.5); textures of thin
lines (text, page, grass, gravel) have few isolated steps and the blur is underestimated by
25-30 %. Sigma below 1 px is hard to tell from the intrinsic blur of sharp images (overestimated,
median error ~60 % there); the estimate is floored at ``MIN_SIGMA``. About 11 ms per 256 x 256
image. Use it as a start, not as an answer.

References
----------
.. [1] M. Delbracio, I. Garcia-Dorado, S. Choi, D. Kelly and P. Milanfar, "Polyblur: Removing
   mild blur by polynomial reblurring", *IEEE Trans. Computational Imaging* 7, 837-848, 2021.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import map_coordinates

__all__ = ["ALPHA", "BETA", "GaussianBlurEstimate", "estimate_gaussian_blur"]

# Calibrated by scripts/calibrate_blur_estimate.py (seed 0, 12 draws per image): Nelder-Mead
# minimising the mean |log error| of sigma_x and sigma_y over camera, astronaut, coffee,
# chelsea, brick, coins and a synthetic dead-leaves image (256 x 256, sigma_x, sigma_y uniform
# on [0.5, 4], theta uniform, noise 0.5 % and 2 % of [0, 1], circular and reflect-padded blur);
# rocket, moon, immunohistochemistry, shepp_logan_phantom, another dead-leaves image, text,
# page, grass, gravel and a piecewise-constant image are held out. BETA < 0: the measured
# variance falls short (nearby edges, noise-inflated largest gradients) more than the
# intrinsic blur of the sharp images adds.
ALPHA = 1.117
BETA = -0.157
MIN_SIGMA = 0.25
_REACH = 2.5  # the contrast is read at +-_REACH * s across the edge
_MIN_SIDE = 32
_MAX_S = 12.0  # pixels; blur wider than about 12 px is out of range
_POWER = 2.0  # bins are weighted by (mean edge gradient / the largest) ** _POWER
_CLEAR = 6.0  # a bin counts when its edges exceed this many noise-gradient stds


class _NoEdges(ValueError):
    """No orientation bin has edges clear of the noise (at this pre-smoothing)."""


@dataclass(frozen=True, eq=False)
class GaussianBlurEstimate:
    """An estimated anisotropic Gaussian blur.

    Attributes
    ----------
    sigma_x, sigma_y : float
        Standard deviations (pixels) along the principal axes, ``sigma_x >= sigma_y``.
    theta : float
        Angle of the ``sigma_x`` axis in ``[0, pi)``, from +x (columns) towards +y (rows).
    angles : numpy.ndarray
        Edge-normal angle of every orientation bin used.
    profile : numpy.ndarray
        The measured directional blur std :math:`s(\\varphi)` there (``nan`` where negative).
    """

    sigma_x: float
    sigma_y: float
    theta: float
    angles: np.ndarray
    profile: np.ndarray

    @property
    def sigma(self) -> float:
        """Geometric mean ``sqrt(sigma_x * sigma_y)``, the isotropic equivalent."""
        return math.sqrt(self.sigma_x * self.sigma_y)


def _as_image(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = (image.double() if image.is_floating_point() else image).numpy()
    x = np.asarray(image)
    if x.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"image must be real-valued, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if min(x.shape) < _MIN_SIDE:
        raise ValueError(f"image must be at least {_MIN_SIDE} x {_MIN_SIDE}, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("image contains NaN or Inf")
    spread = float(x.std())
    if spread <= 1e-12 * max(float(np.abs(x).max()), 1e-300):
        raise ValueError("image is constant: no edges to measure the blur on")
    return (x - x.mean()) / spread


def _noise_std(x: np.ndarray) -> float:
    """Robust white-noise std from the MAD of a second-difference filter (unit-norm, 36)."""
    h = (
        (x[:-2, :-2] - 2 * x[1:-1, :-2] + x[2:, :-2])
        - 2 * (x[:-2, 1:-1] - 2 * x[1:-1, 1:-1] + x[2:, 1:-1])
        + (x[:-2, 2:] - 2 * x[1:-1, 2:] + x[2:, 2:])
    )
    return 1.4826 * float(np.median(np.abs(h))) / 6.0


def _fit_profile(phi: np.ndarray, s2: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted Tukey-biweight least squares of ``s2 ~ a0 + a1 cos 2 phi + a2 sin 2 phi``."""
    design = np.stack([np.ones_like(phi), np.cos(2 * phi), np.sin(2 * phi)], axis=1)
    w = np.ones_like(phi)
    for _ in range(6):
        sw = np.sqrt(w * weight)
        a = np.linalg.lstsq(design * sw[:, None], s2 * sw, rcond=None)[0]
        r = s2 - design @ a
        scale = 4.685 * (1.4826 * np.median(np.abs(r)) + 1e-3 * abs(a[0]) + 1e-12)
        w = np.clip(1 - (r / scale) ** 2, 0.0, None)
    return a


def _measure(
    image, n_angles: int, n_edges: int, scale: float, border: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin: edge-normal angle, uncalibrated blur variance ``s^2 - scale^2``, mean gradient."""
    x = _as_image(image)
    if int(n_angles) != n_angles or n_angles < 3:
        raise ValueError(f"n_angles must be an int >= 3, got {n_angles!r}")
    if int(n_edges) != n_edges or n_edges < 1:
        raise ValueError(f"n_edges must be a positive int, got {n_edges!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be finite and positive, got {scale!r}")
    border = math.ceil(3 * scale) + 8 if border is None else int(border)
    if border < 0 or 2 * border + 16 > min(x.shape):
        raise ValueError(f"border {border} leaves too little of an image of shape {x.shape}")
    s_max = min(min(x.shape) / 8.0, _MAX_S)  # the furthest the contrast is read: REACH s_max
    pad = math.ceil(_REACH * s_max) + 2
    xp = np.pad(x, pad, mode="symmetric")
    spec = np.fft.rfft2(xp)
    wy = 2 * np.pi * np.fft.fftfreq(xp.shape[0])[:, None]
    wx = 2 * np.pi * np.fft.rfftfreq(xp.shape[1])[None, :]
    gauss = np.exp(-0.5 * scale**2 * (wx**2 + wy**2))
    smooth, gx, gy = (np.fft.irfft2(f * gauss * spec, s=xp.shape) for f in (1, 1j * wx, 1j * wy))
    # std of one gradient component of the white noise after the smoothing (Parseval)
    g_noise = _noise_std(x) * math.sqrt(float(np.mean((wx * gauss) ** 2)))
    e = pad + border
    inner = (slice(e, xp.shape[0] - e), slice(e, xp.shape[1] - e))
    gxi, gyi = gx[inner].ravel(), gy[inner].ravel()
    mag = np.hypot(gxi, gyi)
    rows, cols = (a[inner].ravel() for a in np.indices(xp.shape))
    phi = np.mod(np.arctan2(gyi, gxi), np.pi)
    bins = np.minimum((phi * (n_angles / np.pi)).astype(np.int64), n_angles - 1)
    order = np.argsort(bins, kind="stable")
    starts = np.searchsorted(bins[order], np.arange(n_angles + 1))
    angles, var, strength = [], [], []
    for b in range(n_angles):
        idx = order[starts[b] : starts[b + 1]]
        if idx.size < n_edges:
            continue
        top = idx[np.argpartition(mag[idx], idx.size - n_edges)[idx.size - n_edges :]]
        if not mag[top].mean() > _CLEAR * g_noise:  # also drops a bin of zero gradients
            continue
        ux, uy, g = gxi[top] / mag[top], gyi[top] / mag[top], mag[top].sum()
        s = 2.0
        for _ in range(3):  # fixed point: read the contrast at +-REACH s across the edge
            d = _REACH * s
            ahead = map_coordinates(smooth, [rows[top] + d * uy, cols[top] + d * ux], order=1)
            behind = map_coordinates(smooth, [rows[top] - d * uy, cols[top] - d * ux], order=1)
            s = float(np.clip((ahead - behind).sum() / (math.sqrt(2 * math.pi) * g), 0.3, s_max))
        # circular mean (period pi) of the edge normals in the bin
        angles.append(0.5 * math.atan2(np.sin(2 * phi[top]).sum(), np.cos(2 * phi[top]).sum()))
        var.append(s * s - scale * scale)
        strength.append(g / n_edges)
    if not var:
        raise _NoEdges
    return np.mod(np.asarray(angles), np.pi), np.asarray(var), np.asarray(strength)


def _from_profile(
    angles: np.ndarray,
    var: np.ndarray,
    strength: np.ndarray,
    alpha: float,
    beta: float,
    power: float = _POWER,
) -> GaussianBlurEstimate:
    """Calibrate the per-bin variances and fit (sigma_x, sigma_y, theta) to them."""
    s2 = alpha * var - beta
    weight = (strength / strength.max()) ** power
    if s2.size < 3:
        a0, a1, a2 = float(np.average(s2, weights=weight)), 0.0, 0.0
    else:
        a0, a1, a2 = (float(a) for a in _fit_profile(angles, s2, weight))
    half = math.hypot(a1, a2)
    floor = MIN_SIGMA**2
    return GaussianBlurEstimate(
        sigma_x=math.sqrt(max(a0 + half, floor)),
        sigma_y=math.sqrt(max(a0 - half, floor)),
        theta=float(np.mod(0.5 * math.atan2(a2, a1), np.pi)) if half > 0 else 0.0,
        angles=angles,
        profile=np.sqrt(np.where(s2 > 0, s2, np.nan)),
    )


def estimate_gaussian_blur(
    image,
    *,
    n_angles: int = 18,
    n_edges: int = 20,
    scale: float = 1.0,
    border: int | None = None,
) -> GaussianBlurEstimate:
    """Estimate the anisotropic Gaussian blur of a 2-D image from its strongest edges.

    Parameters
    ----------
    image : numpy.ndarray or torch.Tensor
        2-D real image, at least 32 x 32, finite, not constant; any intensity scale.
    n_angles : int, default 18
        Number of edge-orientation bins on ``[0, pi)`` (at least 3).
    n_edges : int, default 20
        Edge pixels (largest gradients) averaged per bin.
    scale : float, default 1.0
        Std (pixels) of the Gaussian pre-smoothing that tames the noise (``ALPHA`` and
        ``BETA`` were calibrated at 1.0); where no edge stands clear of the noise it is
        raised to 1.5 and 2.25 times this.
    border : int, optional
        Pixels along each side never taken as edges; default ``ceil(3 scale) + 8``.

    Returns
    -------
    GaussianBlurEstimate
        With ``sigma_x >= sigma_y`` and ``theta`` in ``[0, pi)``.

    Raises
    ------
    ValueError
        If the image is not 2-D, too small, has NaN/Inf or is constant, if an option is out of
        range, or if no orientation has edges that stand clear of the noise.
    """
    return _from_profile(*_measure_adaptive(image, n_angles, n_edges, scale, border), ALPHA, BETA)


def _measure_adaptive(image, n_angles, n_edges, scale, border):
    """:func:`_measure`, with a stronger pre-smoothing where no edge is clear of the noise."""
    for factor in (1.0, 1.5, 2.25):
        try:
            return _measure(image, n_angles, n_edges, factor * scale, border)
        except _NoEdges:
            pass
    raise ValueError("no edges stand clear of the noise: the blur cannot be estimated")
