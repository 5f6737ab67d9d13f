"""The tile grid: cores partition the image, weights are a partition of unity that vanishes
near every extent edge inside the image, overlaps are checked against the PSF."""

import itertools

import numpy as np
import pytest

from bayesdeconv.tiling import TileLayout


def _weight_sum(layout: TileLayout) -> np.ndarray:
    total = np.zeros(layout.shape)
    for tile in layout.tiles:
        total[tile.extent] += layout.weight(tile)
    return total


@pytest.mark.parametrize(
    ("shape", "tile", "overlap"),
    [((100, 90), 32, 12), ((64, 64), 16, 16), ((37, 53), (20, 16), (7, 9)), ((12, 40, 33), 16, 6)],
)
def test_cores_partition_and_weights_sum_to_one(shape, tile, overlap):
    layout = TileLayout(shape, tile, overlap)
    count = np.zeros(shape, dtype=int)
    for t in layout.tiles:
        count[t.core] += 1
    assert (count == 1).all()
    np.testing.assert_allclose(_weight_sum(layout), 1.0, atol=1e-12)
    assert [sum(c) for c in layout.chunks] == list(shape)


def test_weight_vanishes_near_interior_extent_edges():
    layout = TileLayout((120, 120), 40, 16)
    margin = layout.overlap[0] - layout.ramp[0]
    for t in layout.tiles:
        w = layout.weight(t)
        for axis, (ext, size) in enumerate(zip(t.extent, layout.shape, strict=True)):
            lead = [slice(None)] * 2
            if ext.start > 0:
                lead[axis] = slice(0, margin)
                assert np.all(w[tuple(lead)] == 0)
            if ext.stop < size:
                lead[axis] = slice(w.shape[axis] - margin, None)
                assert np.all(w[tuple(lead)] == 0)


def test_contributors_cover_every_weight_on_a_core():
    layout = TileLayout((90, 70), 30, 10)
    for t in layout.tiles:
        names = {c.key for c in layout.contributors(t)}
        for other in layout.tiles:
            lo = [max(a.start, b.start) for a, b in zip(t.core, other.extent, strict=True)]
            hi = [min(a.stop, b.stop) for a, b in zip(t.core, other.extent, strict=True)]
            if any(h <= low for low, h in zip(lo, hi, strict=True)):
                continue
            region = tuple(
                slice(low - e.start, h - e.start)
                for low, h, e in zip(lo, hi, other.extent, strict=True)
            )
            if layout.weight(other)[region].any():
                assert other.key in names


def test_unsplit_axes_and_keys():
    layout = TileLayout((16, 100, 100), 64, 10)
    assert layout.counts == (1, 2, 2) and layout.overlap == (0, 10, 10)
    assert sorted(t.key for t in layout.tiles) == ["0-0-0", "0-0-1", "0-1-0", "0-1-1"]
    assert len(layout) == 4 and "grid=(1, 2, 2)" in repr(layout)
    assert all(t.extent[0] == slice(0, 16) for t in layout.tiles)


def test_bad_layouts_are_refused():
    with pytest.raises(ValueError, match="smaller than the PSF"):
        TileLayout((100, 100), 32, 6, psf_shape=(9, 9))
    with pytest.raises(ValueError, match="exceeds the tile size"):
        TileLayout((100, 100), 16, 20)
    with pytest.raises(ValueError, match="entries"):
        TileLayout((100, 100), (16, 16, 16), 4)
    with pytest.raises(ValueError, match="non-negative integers"):
        TileLayout((100, 100), 16.5, 4)
    with pytest.raises(ValueError, match="positive"):
        TileLayout((100, 100), 0, 0)
    # an unsplit axis needs no overlap, whatever the PSF
    TileLayout((8, 100, 100), 32, (0, 9, 9), psf_shape=(9, 9, 9))


def test_no_overlap_is_plain_cropping():
    layout = TileLayout((30, 30), 10, 0)
    for t in layout.tiles:
        assert t.extent == t.core
        assert (layout.weight(t) == 1).all()
        assert [c.key for c in layout.contributors(t)] == [t.key]
    assert list(itertools.chain(layout.counts)) == [3, 3]
