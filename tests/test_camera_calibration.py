"""Camera calibration (gain, offset, read noise) and the generalised Anscombe transform."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from bayesdeconv.calibration import (
    anscombe_deconvolve,
    calibrate_from_dark_frames,
    estimate_poisson_gaussian,
    generalized_anscombe,
    inverse_generalized_anscombe,
)
from bayesdeconv.likelihoods import PoissonGaussianNoise
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf

GAIN, OFFSET, SIGMA = 2.5, 100.0, 3.0
LEVELS = np.array([0.0, 2.0, 10.0, 40.0, 120.0, 300.0])  # photo-electrons, a dark level first


def _raw(rng, photons):
    return GAIN * rng.poisson(photons) + OFFSET + SIGMA * rng.standard_normal(photons.shape)


def _tiles(rng, shape, tile=32):
    """Piecewise-constant scene: sharp edges between flat tiles of six levels."""
    coarse = rng.integers(0, LEVELS.size, (shape[0] // tile, shape[1] // tile))
    return np.kron(LEVELS[coarse], np.ones((tile, tile)))


def _smooth(rng, shape):
    field = ndimage.gaussian_filter(rng.random(shape), 16, mode="wrap")
    return 300 * ((field - field.min()) / (field.max() - field.min())) ** 2


@pytest.fixture
def frame(rng):
    return _raw(rng, _tiles(rng, (256, 256)))


def test_one_image_with_a_known_offset_gives_gain_and_read_noise(frame):
    calibration = estimate_poisson_gaussian(frame, offset=OFFSET)
    assert calibration.gain == pytest.approx(GAIN, rel=0.05)
    assert calibration.read_noise == pytest.approx(SIGMA, rel=0.05)
    assert calibration.offset == OFFSET and calibration.offset_source == "given"
    assert calibration.n_rejected > 0 and calibration.n_blocks > 300  # the edges are dropped
    assert calibration.gain_std < 0.05 * GAIN
    noise = calibration.likelihood()
    assert isinstance(noise, PoissonGaussianNoise) and noise.gain == calibration.gain


def test_one_image_alone_identifies_gain_and_intercept_only(frame):
    calibration = estimate_poisson_gaussian(frame)
    assert calibration.gain == pytest.approx(GAIN, rel=0.05)
    assert calibration.intercept == pytest.approx(SIGMA**2 - GAIN * OFFSET, rel=0.05)
    assert calibration.offset is None and calibration.read_noise is None
    with pytest.raises(ValueError, match="offset is unknown"):
        calibration.likelihood()
    known_sigma = estimate_poisson_gaussian(frame, read_noise=SIGMA)
    assert known_sigma.offset == pytest.approx(OFFSET, rel=0.05)
    assert known_sigma.offset_source == "read noise"


def test_a_smooth_stack_gives_the_gain(rng):
    stack = _raw(rng, np.stack([_smooth(rng, (128, 128)) for _ in range(8)]))
    calibration = estimate_poisson_gaussian(stack, offset=OFFSET)
    assert calibration.gain == pytest.approx(GAIN, rel=0.05)
    assert calibration.read_noise == pytest.approx(SIGMA, rel=0.1)


def test_dark_frames_give_offset_read_noise_and_then_the_gain(rng, frame):
    dark = OFFSET + SIGMA * rng.standard_normal((20, 64, 64))
    dark[:, 3, 5] += 40.0  # a hot pixel does not move the medians
    measured = calibrate_from_dark_frames(dark)
    assert measured.offset == pytest.approx(OFFSET, rel=0.05)
    assert measured.read_noise == pytest.approx(SIGMA, rel=0.05)
    assert measured.offset_map.shape == (64, 64) and measured.n_frames == 20
    calibration = estimate_poisson_gaussian(frame, dark=dark)
    assert calibration.offset_source == "dark frames"
    assert calibration.gain == pytest.approx(GAIN, rel=0.05)
    assert calibration.read_noise == measured.read_noise


def test_background_offset_keeps_the_counts(frame):
    """offset='background': the dark level becomes zero light; z = y/g + b/g^2 is unchanged."""
    calibration = estimate_poisson_gaussian(frame, offset="background")
    assert calibration.offset_source == "background"
    assert calibration.offset == pytest.approx(OFFSET, abs=2 * SIGMA)
    noise = calibration.likelihood()
    b = calibration.intercept
    np.testing.assert_allclose(noise.shifted(frame), frame / noise.gain + b / noise.gain**2)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda r: calibrate_from_dark_frames(r.normal(size=(1, 16, 16))), "at least 2"),
        (lambda r: calibrate_from_dark_frames(r.normal(size=(16, 16))), "3-D stack"),
        (lambda r: calibrate_from_dark_frames(np.full((3, 8, 8), np.nan)), "NaN"),
        (lambda r: estimate_poisson_gaussian(np.full((64, 64), np.nan)), "NaN"),
        (lambda r: estimate_poisson_gaussian(r.normal(size=(4, 4))), "too small"),
        (lambda r: estimate_poisson_gaussian(r.normal(size=64)), "2-D"),
        (lambda r: estimate_poisson_gaussian(r.normal(size=(64, 64)), offset="x"), "offset"),
        (lambda r: estimate_poisson_gaussian(r.normal(size=(64, 64)), read_noise=-1), "read"),
        (
            lambda r: estimate_poisson_gaussian(
                r.normal(size=(64, 64)), dark=r.normal(size=(3, 8, 8)), offset=1.0
            ),
            "not both",
        ),
        (lambda r: estimate_poisson_gaussian(100 + r.normal(size=(64, 64))), "no clear Poisson"),
    ],
)
def test_bad_input_fails_clearly(rng, call, match):
    with pytest.raises(ValueError, match=match):
        call(rng)


@pytest.mark.parametrize("lam", [1.0, 2.0, 5.0, 10.0, 40.0, 200.0])
def test_anscombe_stabilises_and_its_inverse_is_unbiased(rng, lam):
    y = _raw(rng, np.full(400_000, lam))
    d = generalized_anscombe(y, GAIN, OFFSET, SIGMA)
    if lam >= 5:
        assert np.var(d) == pytest.approx(1.0, rel=0.1)
    mean = inverse_generalized_anscombe(np.mean(d), GAIN, OFFSET, SIGMA)
    tolerance = 0.05 if lam < 2 else 0.015
    assert (mean - OFFSET) / GAIN == pytest.approx(lam, rel=tolerance)
    with pytest.raises(ValueError, match="gain"):
        generalized_anscombe(y, 0.0, OFFSET, SIGMA)


def test_anscombe_baseline_restores_photo_electrons(rng):
    psf = gaussian_psf(7, 1.2)
    op = ConvolutionOperator(psf, (48, 48), boundary="valid")
    truth = np.full(op.latent_shape, 2.0)
    truth[15:35, 12:30] = 40.0
    noise = PoissonGaussianNoise(GAIN, OFFSET, SIGMA)
    y = noise.simulate(op.forward(torch.as_tensor(truth)).numpy(), rng=rng)
    truth = op.crop(torch.as_tensor(truth)).numpy()
    result = anscombe_deconvolve(y, psf, noise, progress=False)
    assert "baseline" in result.info and result.mean.shape == y.shape
    assert np.all(result.std >= 0) and result.sample(2, seed=0).shape == (2, *y.shape)
    assert np.mean((result.mean - truth) ** 2) < np.mean(((y - OFFSET) / GAIN - truth) ** 2)
    with pytest.raises(ValueError, match="noise"):
        anscombe_deconvolve(y, psf, noise, noise="gaussian")
