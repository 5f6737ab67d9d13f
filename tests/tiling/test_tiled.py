"""Tiled deconvolution: the same posterior as one fit of the whole image (same precisions),
shared precisions learned on a few tiles, errors that name the tile, bad input refused."""

import dask.array as da
import numpy as np
import pytest
import torch

from bayesdeconv import deconvolve
from bayesdeconv.diagnostics.phantoms import filament_scene
from bayesdeconv.likelihoods import PoissonNoise
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.tiling import deconvolve_tiles


def _blurred(shape, psf, sigma, seed=0):
    rng = np.random.default_rng(seed)
    scene = filament_scene(shape, peak=1.0, seed=seed) + 0.2
    blurred = ConvolutionOperator(psf, shape).forward(torch.as_tensor(scene)).numpy()
    return blurred + sigma * rng.standard_normal(shape)


@pytest.fixture(scope="module")
def case():
    psf = gaussian_psf(7, 1.2)
    y = _blurred((96, 112), psf, 0.01)
    tiled = deconvolve_tiles(y, psf, tile=48, overlap=14, progress=False)
    mean, std = tiled.compute()
    whole_same = deconvolve(y, psf, prior=tiled.prior, noise=tiled.noise, progress=False)
    whole = deconvolve(y, psf, progress=False)
    return y, psf, tiled, mean, std, whole_same, whole


def test_tiled_equals_whole_image_fit_at_the_same_precisions(case):
    _, _, tiled, mean, std, whole, _ = case
    scale = np.median(whole.std)
    rms = np.sqrt(np.mean((mean - whole.mean) ** 2))
    assert rms < 0.02 * scale  # measured 0.008: seams far below the uncertainty
    core = (slice(8, -8), slice(8, -8))  # away from the image frame
    assert np.abs(mean - whole.mean)[core].max() < 0.02 * scale  # measured 0.0025
    np.testing.assert_allclose(np.median(std), scale, rtol=0.1)
    assert len(tiled.layout) == 6 and isinstance(tiled.mean, da.Array)


def test_cropping_without_overlap_leaves_seams(case):
    """The check above can fail: without overlap the tile borders show."""
    y, psf, tiled, _, _, whole, _ = case
    from bayesdeconv.tiling import TiledResult, TileLayout

    layout = TileLayout(y.shape, 48, 0)
    crop = TiledResult(da.from_array(y, chunks=layout.chunks), None, psf, layout, tiled.prior,
                       tiled.noise, tiled.hyperparameters, (), {})  # fmt: skip
    mean, _ = crop.compute()
    core = (slice(8, -8), slice(8, -8))
    assert np.abs(mean - whole.mean)[core].max() > 0.5 * np.median(whole.std)  # 1.7 measured


def test_shared_precisions_are_pooled_from_calibration_tiles(case):
    _, _, tiled, _, _, _, whole = case
    assert set(tiled.hyperparameters) == {"image_precision", "noise_precision"}
    assert len(tiled.calibration) == 4
    for name, value in tiled.hyperparameters.items():
        learned = whole.hyperparameters[name].mean
        assert abs(np.log(value / learned)) < np.log(1.5), name
    assert not tiled.prior.learned and not tiled.noise.learned


def test_threads_give_the_sync_result(case):
    y, psf, tiled, mean, std, _, _ = case
    threaded = tiled.with_hyperparameters(tiled.hyperparameters).compute(scheduler="threads")
    np.testing.assert_allclose(threaded[0], mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(threaded[1], std, rtol=0, atol=1e-12)


def test_precisions_not_given_are_learned(case):
    y, psf, tiled, _, _, _, _ = case
    part = deconvolve_tiles(y, psf, tile=56, hyperparameters={"noise_precision": 1e4},
                            progress=False)  # fmt: skip
    assert part.hyperparameters["noise_precision"] == 1e4 and part.calibration
    assert "image_precision" in part.hyperparameters and not part.prior.learned


def test_given_precisions_skip_calibration(case):
    y, psf, _, _, _, _, _ = case
    given = {"noise_precision": 1e4, "image_precision": 30.0}
    tiled = deconvolve_tiles(y, psf, tile=56, hyperparameters=given, progress=False)
    assert tiled.calibration == () and tiled.hyperparameters == given
    assert tiled.noise.precision.value == 1e4
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        deconvolve_tiles(y, psf, tile=56, hyperparameters={"gain": 2.0}, progress=False)


def test_poisson_stack_tiled_in_y_x_matches_the_whole_stack():
    g = gaussian_psf(5, 1.0)[2]
    psf = np.einsum("i,j,k->ijk", g, g, g) / np.einsum("i,j,k->ijk", g, g, g).sum()
    scene = 50 * filament_scene((10, 48, 48), peak=1.0, seed=1) + 5
    blurred = ConvolutionOperator(psf, scene.shape).forward(torch.as_tensor(scene)).numpy()
    counts = np.random.default_rng(1).poisson(blurred).astype(float)
    tiled = deconvolve_tiles(counts, psf, tile=24, overlap=10, noise="poisson", progress=False)
    assert tiled.layout.counts == (1, 2, 2)
    mean, std = tiled.compute()
    whole = deconvolve(counts, psf, prior=tiled.prior, noise=PoissonNoise(), progress=False)
    scale = np.median(whole.std)
    assert np.sqrt(np.mean((mean - whole.mean) ** 2)) < 0.05 * scale
    assert mean.shape == counts.shape and (std > 0).all()


def test_dask_input_and_mask(case):
    y, psf, tiled, _, _, _, _ = case
    mask = np.ones(y.shape, dtype=bool)
    mask[40:50, 40:50] = False
    holed = np.where(mask, y, np.nan)
    lazy = deconvolve_tiles(
        da.from_array(holed, chunks=32), psf, tile=48, overlap=14, mask=mask,
        hyperparameters=tiled.hyperparameters, progress=False,
    )  # fmt: skip
    mean, std = lazy.compute()
    assert np.isfinite(mean).all()
    assert std[45, 45] > 1.5 * np.median(std)  # the hole is uncertain


def test_bad_input_is_refused_and_a_failing_tile_is_named():
    psf = gaussian_psf(7, 1.2)
    y = np.random.default_rng(0).random((64, 64))
    with pytest.raises(ValueError, match="smaller than the PSF"):
        deconvolve_tiles(y, psf, tile=32, overlap=4, progress=False)
    with pytest.raises(ValueError, match="tile 5 along axis 0 is smaller than the PSF"):
        deconvolve_tiles(y, psf, tile=(5, 32), progress=False)
    with pytest.raises(ValueError, match="entries"):
        deconvolve_tiles(y, psf, tile=(32, 32, 32), progress=False)
    with pytest.raises(ValueError, match="known PSF"):
        deconvolve_tiles(y, None, tile=32, progress=False)
    with pytest.raises(ValueError, match="boundary='valid'"):
        deconvolve_tiles(y, psf, tile=32, boundary="circular", progress=False)
    with pytest.raises(ValueError, match="unknown option"):
        deconvolve_tiles(y, psf, tile=32, psf_size=5, progress=False)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        deconvolve_tiles(y[0], psf, tile=32, progress=False)
    with pytest.raises(ValueError, match="mask shape"):
        deconvolve_tiles(y, psf, tile=32, mask=np.ones((64, 63), bool), progress=False)
    bad = y.copy()
    bad[60, 60] = np.nan  # in the last tile only
    tiled = deconvolve_tiles(y, psf, tile=32, overlap=8, progress=False)
    broken = deconvolve_tiles(bad, psf, tile=32, overlap=8, progress=False,
                              hyperparameters=tiled.hyperparameters)  # fmt: skip
    with pytest.raises(ValueError, match=r"tile 1-1: .*NaN"):
        broken.compute()
