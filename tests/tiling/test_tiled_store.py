"""Writing a tiled posterior to OME-Zarr: the store equals the in-memory result, and an
interrupted job resumes without refitting finished tiles."""

import numpy as np
import pytest

from bayesdeconv.io import read_ome_zarr
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.tiling import deconvolve_tiles, tiled

HYPER = {"noise_precision": 1e3, "image_precision": 20.0}


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).random((60, 70)) + 0.5


def _result(image):
    return deconvolve_tiles(image, gaussian_psf(5, 1.0), tile=24, overlap=8,
                            hyperparameters=HYPER, std="family", progress=False)  # fmt: skip


def test_store_equals_the_lazy_result(image, tmp_path):
    result = _result(image)
    path = result.to_ome_zarr(tmp_path / "out.ome.zarr", voxel_size=(0.1, 0.1), progress=False)
    stored = read_ome_zarr(path)
    mean, std = result.compute()
    np.testing.assert_allclose(np.asarray(stored.array), mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(read_ome_zarr(path / "std").array), std, rtol=1e-5)
    assert stored.voxel_size == (0.1, 0.1)
    assert stored.attributes["settings"]["hyperparameters"] == HYPER
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
    assert result.to_ome_zarr(path, progress=False) == path  # this job is done: kept
    other = result.with_hyperparameters({**HYPER, "image_precision": 40.0})
    with pytest.raises(FileExistsError):  # another job does not replace it unasked
        other.to_ome_zarr(path, progress=False)


def _interrupted_after(count: int, calls: list):
    """``fit_tile`` that records each tile and raises KeyboardInterrupt after ``count``."""
    real = tiled.fit_tile

    def fit(*args):
        if len(calls) == count:
            raise KeyboardInterrupt
        calls.append(args[-1])
        return real(*args)

    return fit


def test_interrupted_job_resumes_without_refitting(image, tmp_path, monkeypatch):
    real = tiled.fit_tile
    calls = []
    monkeypatch.setattr(tiled, "fit_tile", _interrupted_after(4, calls))
    path = tmp_path / "out.ome.zarr"
    first = _result(image)
    with pytest.raises(KeyboardInterrupt):
        first.to_ome_zarr(path, progress=False)
    assert not path.exists()  # nothing half-written at the target
    done = list(calls)
    calls.clear()
    monkeypatch.setattr(tiled, "fit_tile", lambda *a: calls.append(a[-1]) or real(*a))
    again = _result(image)
    again.to_ome_zarr(path, progress=False)
    assert len(done) == 4 and sorted(calls + done) == sorted(t.key for t in again.layout.tiles)
    mean, _ = again.compute()
    np.testing.assert_allclose(np.asarray(read_ome_zarr(path).array), mean, atol=1e-6)


def test_a_rerun_keeps_the_first_runs_learned_precisions(image, tmp_path, monkeypatch):
    """Learning the precisions again may give other digits (another thread count, SVI):
    the resumed job keeps the first run's and refits nothing already done."""
    real_fit, real_pooled = tiled.fit_tile, tiled._pooled
    calls = []

    def learned():
        return deconvolve_tiles(image, gaussian_psf(5, 1.0), tile=24, overlap=8,
                                std="family", progress=False)  # fmt: skip

    path = tmp_path / "out.ome.zarr"
    monkeypatch.setattr(tiled, "fit_tile", _interrupted_after(3, calls))
    first = learned()
    with pytest.raises(KeyboardInterrupt):
        first.to_ome_zarr(path, progress=False)
    calls.clear()
    monkeypatch.setattr(tiled, "fit_tile", lambda *a: calls.append(a[-1]) or real_fit(*a))
    monkeypatch.setattr(tiled, "_pooled", lambda v: 1.01 * real_pooled(v))
    second = learned()
    assert second.hyperparameters != first.hyperparameters
    second.to_ome_zarr(path, progress=False)
    assert len(calls) == len(second.layout) - 3
    stored = read_ome_zarr(path).attributes["settings"]["hyperparameters"]
    assert stored == pytest.approx(first.hyperparameters, rel=1e-12)
    calls.clear()
    learned().to_ome_zarr(path, progress=False)  # finished: nothing to do
    assert calls == []
