r"""Synthetic fluorescence scenes: filaments and beads, 2-D or 3-D, for tests and benchmarks.

A filament is a smooth random curve (a random walk whose direction turns slowly, as a
microtubule does) rendered as a Gaussian tube of a few pixels' width; a bead is a small
Gaussian blob. Intensities are photons per pixel, scaled so that the brightest pixel holds
``peak`` above the background: the photon level (and so the noise level) is one number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["filament_scene"]


def _render(points: np.ndarray, width: float, shape: tuple[int, ...]) -> np.ndarray:
    """Sum of isotropic Gaussians of std ``width`` at ``points`` (n, ndim), on ``shape``."""
    out = np.zeros(shape)
    reach = int(np.ceil(3 * width))
    offsets = np.arange(-reach, reach + 1)
    grids = np.meshgrid(*([offsets] * len(shape)), indexing="ij")
    for point in points:
        centre = np.round(point).astype(int)
        frac = point - centre
        d2 = sum((g - f) ** 2 for g, f in zip(grids, frac, strict=True))
        blob = np.exp(-0.5 * d2 / width**2)
        lo = centre - reach
        window = []
        cut = []
        for axis, n in enumerate(shape):
            a, b = max(lo[axis], 0), min(lo[axis] + 2 * reach + 1, n)
            if a >= b:
                break
            window.append(slice(a, b))
            cut.append(slice(a - lo[axis], b - lo[axis]))
        else:
            out[tuple(window)] += blob[tuple(cut)]
    return out


def filament_scene(
    shape: Sequence[int],
    *,
    n_filaments: int = 12,
    n_beads: int = 8,
    peak: float = 100.0,
    width: float = 0.8,
    background: float = 1.0,
    seed: int | None = None,
) -> np.ndarray:
    r"""A random scene of filaments and beads, in photons per pixel.

    Parameters
    ----------
    shape : sequence of int
        ``(y, x)`` or ``(z, y, x)``.
    n_filaments, n_beads : int
        How many curves and blobs.
    peak : float
        Photons at the brightest pixel above the background (filaments are 0.3–1 times as
        bright as each other; beads twice the brightest filament before that scaling).
    width : float
        Gaussian std of a filament's cross-section, pixels (beads: 1.5 times it).
    background : float
        Constant photons per pixel everywhere (autofluorescence); keeps every voxel positive.
    seed : int, optional
        Random seed.

    Returns
    -------
    numpy.ndarray
        The scene (float64, ``shape``), every value ``>= background``.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) not in (2, 3) or min(shape) < 4:
        raise ValueError(f"shape must be 2-D or 3-D with at least 4 pixels per axis, got {shape}")
    if peak <= 0 or width <= 0 or background < 0:
        raise ValueError("peak and width must be positive and background non-negative")
    rng = np.random.default_rng(seed)
    ndim = len(shape)
    size = np.asarray(shape, dtype=float)
    scene = np.zeros(shape)
    for _ in range(n_filaments):
        position = rng.uniform(0, 1, ndim) * size
        direction = rng.standard_normal(ndim)
        if ndim == 3:  # filaments lie mostly in the focal planes of a flat specimen
            direction[0] *= 0.3
        direction /= np.linalg.norm(direction)
        points = []
        for _ in range(int(3 * size.max())):
            points.append(position.copy())
            direction += 0.08 * rng.standard_normal(ndim)
            direction /= np.linalg.norm(direction)
            position = position + 0.5 * direction  # half-pixel steps: a continuous tube
            if np.any(position < -3) or np.any(position > size + 2):
                break
        tube = _render(np.asarray(points), width, shape)
        scene += rng.uniform(0.3, 1.0) * tube / max(tube.max(), 1e-12)
    if n_beads:
        beads = rng.uniform(0, 1, (n_beads, ndim)) * (size - 1)
        blobs = _render(beads, 1.5 * width, shape)
        scene += 2.0 * blobs / max(blobs.max(), 1e-12)
    if scene.max() > 0:
        scene *= peak / scene.max()
    return scene + background
