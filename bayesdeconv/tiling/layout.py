r"""The tile grid of a large image and the weights that blend the tiles' posteriors.

The image is cut into **cores** (a partition of the image, the output blocks). Each tile is
fitted on its core grown by ``overlap`` pixels on every side where the image goes on (its
**extent**), so pixels near a core's border see the data around them. Tile :math:`i`'s posterior
is blended in with a separable weight :math:`w_i(p) = \prod_d w_{i,d}(p_d)`: along each split
axis, 1 inside the core away from a neighbour, falling linearly to 0 across a ramp of width
:math:`2h` (``h = overlap // 2``) centred on each core border that has a neighbour. The ramps of
two neighbours sum to 1, so :math:`\sum_i w_i(p) = 1` everywhere (a partition of unity), and
every weight is non-zero only at least ``overlap - h`` pixels from its tile's extent edge.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Tile", "TileLayout", "per_axis"]


def per_axis(value, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
    values = (value,) * len(shape) if np.isscalar(value) else tuple(value)
    if len(values) != len(shape):
        raise ValueError(f"{name} has {len(values)} entries but the image has {len(shape)} axes")
    out = []
    for v in values:
        if int(v) != v or v < 0:
            raise ValueError(f"{name} must hold non-negative integers, got {values}")
        out.append(int(v))
    return tuple(out)


@dataclass(frozen=True)
class Tile:
    """One tile: its grid index, its core (output block) and extent (fitted region)."""

    index: tuple[int, ...]
    core: tuple[slice, ...]
    extent: tuple[slice, ...]

    @property
    def key(self) -> str:
        """A name for files and progress: ``"2-0-1"``."""
        return "-".join(str(i) for i in self.index)

    @property
    def extent_shape(self) -> tuple[int, ...]:
        return tuple(s.stop - s.start for s in self.extent)


class TileLayout:
    """Cores, extents and blending weights of tiles of ``tile`` pixels with ``overlap``.

    Parameters
    ----------
    shape : tuple of int
        The image shape.
    tile : int or sequence of int
        Core size per axis (one number: every axis); an axis no longer than its tile size is
        not split (a 64-plane stack with ``tile=256`` is tiled in ``y, x`` only).
    overlap : int or sequence of int
        Pixels added on each side of a core along split axes. It must be at least the PSF's
        size along that axis (``psf_shape``) and at most the tile size.
    psf_shape : tuple of int, optional
        Checked against ``overlap``.
    """

    def __init__(self, shape, tile, overlap, *, psf_shape: Sequence[int] | None = None) -> None:
        self.shape = tuple(int(s) for s in shape)
        tile = per_axis(tile, self.shape, "tile")
        if min(tile) < 1:
            raise ValueError(f"tile sizes must be positive, got {tile}")
        self.tile = tuple(min(t, s) for t, s in zip(tile, self.shape, strict=True))
        overlap = per_axis(overlap, self.shape, "overlap")
        self.split = tuple(t < s for t, s in zip(self.tile, self.shape, strict=True))
        self.overlap = tuple(
            o if split else 0 for o, split in zip(overlap, self.split, strict=True)
        )
        for axis, (o, t, split) in enumerate(zip(self.overlap, self.tile, self.split, strict=True)):
            if not split:
                continue
            if psf_shape is not None and o < psf_shape[axis]:
                raise ValueError(
                    f"overlap {o} along axis {axis} is smaller than the PSF ({psf_shape[axis]} "
                    "pixels): tiles would not see the blur of their borders; use overlap >= "
                    f"{psf_shape[axis]}"
                )
            if o > t:
                raise ValueError(f"overlap {o} along axis {axis} exceeds the tile size {t}")
        self.ramp = tuple(o // 2 for o in self.overlap)
        self.counts = tuple(math.ceil(s / t) for s, t in zip(self.shape, self.tile, strict=True))
        self.tiles = [self._tile(index) for index in itertools.product(*map(range, self.counts))]
        self._by_index = {t.index: t for t in self.tiles}

    def __len__(self) -> int:
        return len(self.tiles)

    def __repr__(self) -> str:
        return (
            f"TileLayout(shape={self.shape}, tile={self.tile}, overlap={self.overlap}, "
            f"grid={self.counts})"
        )

    def _tile(self, index: tuple[int, ...]) -> Tile:
        core, extent = [], []
        for i, s, t, o in zip(index, self.shape, self.tile, self.overlap, strict=True):
            start, stop = i * t, min((i + 1) * t, s)
            core.append(slice(start, stop))
            extent.append(slice(max(start - o, 0), min(stop + o, s)))
        return Tile(index, tuple(core), tuple(extent))

    def tile(self, index: tuple[int, ...]) -> Tile:
        return self._by_index[tuple(index)]

    @property
    def chunks(self) -> tuple[tuple[int, ...], ...]:
        """The cores as Dask chunks along each axis."""
        return tuple(
            tuple(min(t, s - i * t) for i in range(n))
            for s, t, n in zip(self.shape, self.tile, self.counts, strict=True)
        )

    def _axis_weight(self, axis: int, tile: Tile) -> np.ndarray:
        extent, core, h = tile.extent[axis], tile.core[axis], self.ramp[axis]
        centres = np.arange(extent.start, extent.stop) + 0.5
        weight = np.ones(extent.stop - extent.start)
        if h == 0:  # no ramp: the core alone
            return ((centres > core.start) & (centres < core.stop)).astype(float)
        if core.start > 0:
            weight = np.minimum(weight, np.clip((centres - (core.start - h)) / (2 * h), 0, 1))
        if core.stop < self.shape[axis]:
            weight = np.minimum(weight, np.clip(((core.stop + h) - centres) / (2 * h), 0, 1))
        return weight

    def weight(self, tile: Tile) -> np.ndarray:
        """The blending weight :math:`w_i` on the tile's extent."""
        out = np.ones(())
        for axis in range(len(self.shape)):
            out = np.multiply.outer(out, self._axis_weight(axis, tile))
        return out

    def contributors(self, tile: Tile) -> list[Tile]:
        """The tiles whose weights are non-zero somewhere in ``tile``'s core (itself too)."""
        ranges = [
            range(max(i - 1, 0), min(i + 2, n)) if h > 0 else range(i, i + 1)
            for i, n, h in zip(tile.index, self.counts, self.ramp, strict=True)
        ]
        return [self._by_index[index] for index in itertools.product(*ranges)]
