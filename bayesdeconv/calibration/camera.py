r"""Camera gain, offset and read noise from one image, a stack, or dark frames.

A raw value is :math:`y = g P + o + n`, :math:`P \sim \mathrm{Poisson}(\lambda)`,
:math:`n \sim \mathcal N(0, \sigma^2)`, so

.. math::
    \mathbb E y = g\lambda + o, \qquad \operatorname{var} y = g^2\lambda + \sigma^2
    \quad\Longrightarrow\quad \operatorname{var} y = g\,(\mathbb E y - o) + \sigma^2
    = a\,\mathbb E y + b, \quad a = g,\ b = \sigma^2 - g\,o.

One image identifies the slope :math:`a = g` and the intercept :math:`b` of this line (Foi et
al. 2008), not :math:`o` and :math:`\sigma` apart: give the offset (or dark frames, or the read
noise) to split :math:`b`. The local variance is measured on a high-pass residual with unit
noise gain and the local mean on the same block; blocks where the scene is textured (the
residual variance is above the line) are rejected by iterative clipping.

References
----------
.. [1] A. Foi, M. Trimeche, V. Katkovnik, K. Egiazarian, "Practical Poissonian-Gaussian noise
   modeling and fitting for single-image raw-data", IEEE TIP 17(10), 2008.
.. [2] J. R. Janesick, "Photon transfer", SPIE Press, 2007 (the variance-mean method).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage

from bayesdeconv.calibration.dark import calibrate_from_dark_frames

__all__ = ["CameraCalibration", "estimate_poisson_gaussian"]

#: The variance of a mean of squared (correlated) Laplacian residuals is this many times that of
#: independent ones: :math:`1 + 4(0.4^2) + 4(0.1^2) + 4(0.05^2)`.
_CORRELATION_FACTOR = 1.69


@dataclass(frozen=True)
class CameraCalibration:
    r"""A measured Poisson–Gaussian camera model (:func:`estimate_poisson_gaussian`).

    Attributes
    ----------
    gain : float
        :math:`g`, the slope of the variance–mean line (raw units per photo-electron).
    offset : float or None
        :math:`o` (``None`` when one image cannot tell it: give ``offset`` or ``dark``).
    read_noise : float or None
        :math:`\sigma` in raw units (``None`` with the offset unknown).
    intercept : float
        :math:`b = \sigma^2 - g\,o`, the intercept of the line (always identified).
    gain_std : float
        Standard error of the gain from the weighted fit.
    n_blocks, n_rejected : int
        Blocks kept in the fit and blocks rejected as textured (or saturated).
    fit_residual : float
        RMS relative deviation of the kept blocks' variances from the line.
    offset_source : str
        ``"given"``, ``"dark frames"``, ``"read noise"`` (from :math:`b` and a known
        :math:`\sigma`), ``"background"`` (the image's dark level) or ``"unknown"``.
    notes : tuple of str
        Anything the user should know (a clamped read noise, a negative intercept, ...).
    block_means, block_variances : numpy.ndarray
        The kept blocks' raw means and residual variances (for a variance–mean plot).
    """

    gain: float
    offset: float | None
    read_noise: float | None
    intercept: float
    gain_std: float
    n_blocks: int
    n_rejected: int
    fit_residual: float
    offset_source: str
    notes: tuple[str, ...] = ()
    block_means: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    block_variances: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def likelihood(self, *, background: float = 0.0):
        """The :class:`~bayesdeconv.likelihoods.PoissonGaussianNoise` of this camera."""
        from bayesdeconv.likelihoods.poisson_gaussian import PoissonGaussianNoise

        if self.offset is None or self.read_noise is None:
            raise ValueError(
                "the offset is unknown (one image identifies only gain and sigma^2 - gain*offset);"
                " pass offset=..., dark=... or offset='background' to estimate_poisson_gaussian"
            )
        return PoissonGaussianNoise(self.gain, self.offset, self.read_noise, background=background)


def _planes(image, mask) -> tuple[np.ndarray, np.ndarray]:
    array = np.asarray(image, dtype=float)
    if array.ndim not in (2, 3):
        raise ValueError(f"image must be 2-D or a 3-D stack, got shape {array.shape}")
    keep = np.ones(array.shape, bool) if mask is None else np.asarray(mask, bool)
    if keep.shape != array.shape:
        raise ValueError(f"mask shape {keep.shape} does not match the image shape {array.shape}")
    if not np.isfinite(array[keep]).all():
        raise ValueError("image contains NaN or Inf values; mark them as missing with a mask")
    array = np.where(keep, array, 0.0)
    if array.ndim == 2:
        array, keep = array[None], keep[None]
    if min(array.shape[1:]) < 8:
        raise ValueError(f"image planes of shape {array.shape[1:]} are too small (need 8x8)")
    return array, keep


def _tiles(a: np.ndarray, block: int) -> np.ndarray:
    """Sums over ``block`` x ``block`` tiles of each plane, flattened."""
    n_z, n_y, n_x = a.shape
    by, bx = n_y // block, n_x // block
    return a[:, : by * block, : bx * block].reshape(n_z, by, block, bx, block).sum(axis=(2, 4))


@lru_cache(maxsize=8)
def _texture_moments(block: int) -> tuple[float, float]:
    r"""Mean and std, per unit noise variance, of a tile's texture statistic under white
    Gaussian noise: :math:`\|P S \varepsilon\|^2 / n` with :math:`S` the 3x3 box mean and
    :math:`P` the residual projector of a plane fit on the tile (exact: trace formulas)."""
    side = block + 2
    n = block * block
    smooth = np.zeros((n, side * side))
    for i in range(block):
        for j in range(block):
            window = np.zeros((side, side))
            window[i : i + 3, j : j + 3] = 1.0 / 9.0
            smooth[i * block + j] = window.ravel()
    yy, xx = np.mgrid[:block, :block]
    plane = np.stack([np.ones(n), yy.ravel(), xx.ravel()], axis=1)
    projector = np.eye(n) - plane @ np.linalg.pinv(plane)
    ps = projector @ smooth
    gram = ps @ ps.T
    return float(np.trace(gram)) / n, math.sqrt(2.0 * float(np.sum(gram * gram))) / n


def _block_statistics(image, mask, block: int) -> dict[str, np.ndarray]:
    r"""Per tile: raw mean, mean squared Laplacian residual
    :math:`r = (4y_{ij} - y_{i\pm1,j} - y_{i,j\pm1})/\sqrt{20}` (unit noise gain, blind to
    constant and linear trends), pixel count, and the texture statistic: the mean square of the
    3x3-smoothed image after removing a plane, which noise barely feeds (:math:`\approx v/9`)
    but edges and texture do."""
    planes, keep = _planes(image, mask)
    centre = (slice(None), slice(1, -1), slice(1, -1))
    residual = (
        4 * planes[centre]
        - planes[:, :-2, 1:-1]
        - planes[:, 2:, 1:-1]
        - planes[:, 1:-1, :-2]
        - planes[:, 1:-1, 2:]
    ) / math.sqrt(20.0)
    box = ndimage.uniform_filter(planes, size=(1, 3, 3), mode="nearest")[centre]
    whole = ndimage.minimum_filter(keep.astype(np.uint8), size=(1, 3, 3), mode="nearest")[centre]
    valid = whole.astype(bool)
    values = planes[centre]
    if min(values.shape[1:]) < block:
        raise ValueError(f"block={block} is larger than the image planes")
    count = _tiles(valid.astype(float), block)
    denominator = np.maximum(count, 1)
    mean = _tiles(np.where(valid, values, 0.0), block) / denominator
    variance = _tiles(np.where(valid, residual**2, 0.0), block) / denominator
    # texture: the smoothed image minus its least-squares plane on each (complete) tile
    n_z, n_y, n_x = values.shape
    by, bx = n_y // block, n_x // block
    tiles = box[:, : by * block, : bx * block].reshape(n_z, by, block, bx, block)
    tiles = tiles.transpose(0, 1, 3, 2, 4).reshape(n_z, by, bx, block * block)
    yy, xx = np.mgrid[:block, :block]
    plane = np.stack([np.ones(block * block), yy.ravel(), xx.ravel()], axis=1)
    fitted = tiles @ np.linalg.pinv(plane).T @ plane.T
    texture = np.mean((tiles - fitted) ** 2, axis=-1)
    complete = count == block * block  # partial tiles: no texture test, kept if half full
    texture = np.where(complete, texture, 0.0)
    enough = count >= block * block / 2
    return {
        "mean": mean[enough],
        "variance": variance[enough],
        "count": count[enough],
        "texture": texture[enough],
    }


def _robust_start(mean, variance, point) -> tuple[float, float]:
    """A line through the median variance of ten mean bins (texture only adds variance)."""
    edges = np.quantile(mean, np.linspace(0, 1, 11))
    which = np.clip(np.searchsorted(edges, mean, side="right") - 1, 0, 9)
    used = [k for k in range(10) if np.any(which == k)]
    centres = np.array([np.median(mean[which == k]) for k in used])
    medians = np.array([np.median(variance[which == k]) for k in used])
    if point is None:
        if centres.size < 2:
            return 0.0, float(medians[0])
        slope, intercept = np.polyfit(centres, medians, 1)
        return float(slope), float(intercept)
    slope = float(np.sum((centres - point[0]) * (medians - point[1])))
    slope /= max(float(np.sum((centres - point[0]) ** 2)), 1e-300)
    return slope, point[1] - slope * point[0]


def _fit_line(blocks: dict, block: int, *, point, clip: float, max_iter: int):
    r"""Weighted, clipped fit of :math:`v = a\mu + b` (or through ``point`` = :math:`(o,
    \sigma^2)`, slope only). Weights :math:`n / \hat v^2` (the variance of a variance
    estimate); a tile is dropped when its variance lies more than ``clip`` standard errors from
    the line, or its texture statistic more than ``clip`` above what the line's noise gives."""
    mean, variance, count = blocks["mean"], blocks["variance"], blocks["count"]
    texture_mean, texture_std = _texture_moments(block)
    a, b = _robust_start(mean, variance, point)
    keep = np.ones(mean.size, bool)
    cov = np.zeros((2, 2))
    floor = 1e-12 * max(float(np.max(variance)), 1e-300)
    for _ in range(max_iter):
        fit = np.maximum(a * mean + b, floor)
        se = fit * np.sqrt(2 * _CORRELATION_FACTOR / count)
        smooth = blocks["texture"] <= fit * (texture_mean + clip * texture_std)
        new_keep = smooth & (np.abs(variance - fit) <= clip * se)
        if new_keep.sum() < 3:
            raise ValueError(
                "too few smooth blocks to fit the variance-mean line; use a larger or "
                "smoother image, or a smaller block"
            )
        w = 1.0 / se[new_keep] ** 2
        m, v = mean[new_keep], variance[new_keep]
        if point is None:
            design, target = np.stack([m, np.ones_like(m)], axis=1), v
        else:
            design, target = (m - point[0])[:, None], v - point[1]
        cov = np.linalg.inv(design.T @ (w[:, None] * design))
        coef = cov @ (design.T @ (w * target))
        a_new = float(coef[0])
        b_new = float(coef[1]) if point is None else point[1] - a_new * point[0]
        done = np.array_equal(new_keep, keep) and math.isclose(a_new, a, rel_tol=1e-9)
        a, b, keep = a_new, b_new, new_keep
        if done:
            break
    fit = a * mean[keep] + b
    residual = float(np.sqrt(np.mean(((variance[keep] - fit) / fit) ** 2)))
    return a, b, keep, math.sqrt(max(float(cov[0, 0]), 0.0)), residual


def estimate_poisson_gaussian(
    image,
    *,
    offset: float | str | None = None,
    read_noise: float | None = None,
    dark=None,
    mask=None,
    block: int = 8,
    clip: float = 4.0,
    max_iter: int = 20,
    background_quantile: float = 0.01,
) -> CameraCalibration:
    r"""Gain, offset and read noise of a Poisson–Gaussian camera from its raw image.

    Fits :math:`\operatorname{var} y = a\,\mathbb E y + b` over blocks of the image (Foi et
    al. 2008): :math:`\mathbb E y = g\lambda + o` and :math:`\operatorname{var} y =
    g^2\lambda + \sigma^2` give :math:`a = g` and :math:`b = \sigma^2 - g\,o`. The local
    variance is the mean square of the Laplacian residual :math:`(4y_{ij} - y_{i\pm1,j} -
    y_{i,j\pm1})/\sqrt{20}` (noise gain 1, zero on constant and linear trends) over a
    ``block`` × ``block`` tile, the local mean the tile's raw mean; the variance being linear
    in the mean, averaging over a tile keeps the relation exact. Tiles whose variance lies more
    than ``clip`` standard errors off the line (edges, texture, saturation) are rejected, and
    the line refitted with weights :math:`n/\hat v^2`, until the kept set stops changing.

    Parameters
    ----------
    image : array_like
        Raw values, 2-D or a 3-D stack (each plane filtered in 2-D). The scene should span
        several intensity levels with some flat regions (including a dark one for the read
        noise).
    offset : float, "background" or None
        The known offset :math:`o` (then :math:`\sigma^2 = b + g\,o`); ``"background"``
        takes the ``background_quantile`` of the tile means as zero light (the scene's darkest
        level becomes part of the offset, and :math:`\sigma^2` absorbs :math:`g^2` times that
        level: the shifted-Poisson counts :math:`(y - o)/g + \sigma^2/g^2 = y/g + b/g^2` do not
        change, only how much of the dark level counts as background); ``None`` leaves it
        unknown (``offset=None`` in the result) unless ``dark`` or ``read_noise`` tell it.
    read_noise : float, optional
        The known :math:`\sigma`. With ``offset`` as well only the gain is fitted (the line
        goes through :math:`(o, \sigma^2)`); alone, it gives :math:`o = (\sigma^2 - b)/g`.
    dark : array_like, optional
        Dark frames ``(frames, y, x)``: offset and read noise from
        :func:`calibrate_from_dark_frames`, then the gain with both fixed.
    mask : array_like of bool, optional
        ``True`` where a pixel is valid (hot pixels, saturation can be masked out).
    block : int
        Tile side in pixels.
    clip : float
        Rejection threshold in standard errors of a tile's variance.
    max_iter : int
        Refits at most.
    background_quantile : float
        The quantile of tile means taken as zero light for ``offset="background"``.

    Returns
    -------
    CameraCalibration
        With ``.likelihood()`` the matching
        :class:`~bayesdeconv.likelihoods.PoissonGaussianNoise`.
    """
    notes: list[str] = []
    if dark is not None:
        if offset is not None or read_noise is not None:
            raise ValueError("give dark frames or offset/read_noise, not both")
        measured = calibrate_from_dark_frames(dark)
        offset, read_noise, source = measured.offset, measured.read_noise, "dark frames"
    else:
        source = "given" if offset is not None else "unknown"
    if isinstance(offset, str):
        if offset != "background":
            raise ValueError(f"offset must be a number, 'background' or None, got {offset!r}")
        source = "background"
    elif offset is not None:
        offset = float(offset)
        if not math.isfinite(offset):
            raise ValueError(f"offset must be finite, got {offset}")
    if read_noise is not None:
        read_noise = float(read_noise)
        if not math.isfinite(read_noise) or read_noise < 0:
            raise ValueError(f"read_noise must be finite and non-negative, got {read_noise}")
    if int(block) != block or block < 2:
        raise ValueError(f"block must be an integer of at least 2, got {block}")
    if not 0 <= background_quantile < 1:
        raise ValueError(f"background_quantile must lie in [0, 1), got {background_quantile}")
    blocks = _block_statistics(image, mask, int(block))
    mean = blocks["mean"]
    if mean.size < 3:
        raise ValueError(
            f"only {mean.size} usable blocks; the image is too small for block={block}"
        )
    point = None
    if isinstance(offset, float) and read_noise is not None:
        point = (offset, read_noise**2)
    gain, intercept, keep, gain_std, residual = _fit_line(
        blocks, int(block), point=point, clip=float(clip), max_iter=int(max_iter)
    )
    if gain <= 3 * gain_std:  # not significantly positive
        raise ValueError(
            f"the fitted gain is {gain:.3g} +- {gain_std:.2g}: the image shows no clear Poisson "
            "noise (too dark, too few intensity levels, or already processed)"
        )
    if offset == "background":
        offset = float(np.quantile(mean, background_quantile))
    if offset is None and read_noise is not None:
        offset, source = (read_noise**2 - intercept) / gain, "read noise"
    if offset is not None and read_noise is None:
        variance0 = intercept + gain * offset
        if variance0 < 0:
            notes.append(
                f"sigma^2 = b + gain*offset = {variance0:.3g} < 0: read noise clamped to 0 "
                "(the offset is too low, or the read noise negligible)"
            )
            if source == "background":
                offset = -intercept / gain
            variance0 = 0.0
        read_noise = math.sqrt(variance0)
    return CameraCalibration(
        gain=float(gain),
        offset=None if offset is None else float(offset),
        read_noise=read_noise,
        intercept=float(intercept),
        gain_std=float(gain_std),
        n_blocks=int(keep.sum()),
        n_rejected=int((~keep).sum()),
        fit_residual=residual,
        offset_source=source,
        notes=tuple(notes),
        block_means=mean[keep],
        block_variances=blocks["variance"][keep],
    )
