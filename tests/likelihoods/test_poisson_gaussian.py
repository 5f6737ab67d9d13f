"""Poisson–Gaussian camera noise as shifted Poisson counts (likelihoods.poisson_gaussian)."""

import numpy as np
import pytest
import torch
from scipy.special import gammaln

from bayesdeconv import deconvolve, sites
from bayesdeconv.calibration import CameraCalibration
from bayesdeconv.infer._common import initial_values
from bayesdeconv.infer.poisson_vb import fit_poisson_vb
from bayesdeconv.likelihoods import (
    CountLikelihood,
    EstimatedPoissonGaussianNoise,
    PoissonGaussianNoise,
    PoissonNoise,
)
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf
from bayesdeconv.priors import GammaFieldPrior, SmoothPrior

GAIN, OFFSET, SIGMA = 2.5, 100.0, 3.0


def test_log_prob_is_the_shifted_poisson_by_hand(rng):
    noise = PoissonGaussianNoise(GAIN, OFFSET, SIGMA, background=1.5)
    assert isinstance(noise, CountLikelihood)
    assert noise.background == pytest.approx(1.5 + SIGMA**2 / GAIN**2, rel=1e-15)
    mean = 20 * rng.random((16, 16))
    y = noise.simulate(mean, rng=rng)
    y[0, 0] = OFFSET - 4 * SIGMA  # z < 0: scored at z = 0, as the counts the VB engine uses
    z = np.maximum((y - OFFSET) / GAIN + SIGMA**2 / GAIN**2, 0)
    rate = mean + noise.background
    by_hand = z * np.log(rate) - rate - gammaln(z + 1) - np.log(GAIN)
    assert noise.log_prob(y, mean) == pytest.approx(by_hand.sum(), rel=1e-12)
    mask = rng.random(y.shape) > 0.4
    masked = noise.log_prob(np.where(mask, y, np.nan), mean, mask=mask)
    assert masked == pytest.approx(by_hand[mask].sum(), rel=1e-12)
    np.testing.assert_allclose(noise.counts(torch.as_tensor(y)).numpy(), z, rtol=1e-14)
    # the distribution's draws are affine images of Poisson draws: z is an integer
    draw = noise.distribution(torch.as_tensor(mean)).sample()
    z_draw = noise.shifted(draw.numpy())
    np.testing.assert_allclose(z_draw, np.round(z_draw), atol=1e-9)


def test_simulated_counts_have_the_shifted_poisson_moments(rng):
    """E z = var z = lambda + sigma^2/g^2 exactly for the exact Poisson-Gaussian frames."""
    noise = PoissonGaussianNoise(GAIN, OFFSET, SIGMA)
    lam, n = 7.0, 400_000
    y = noise.simulate(np.full(n, lam), rng=rng)
    assert np.mean(y) == pytest.approx(GAIN * lam + OFFSET, abs=4 * np.std(y) / np.sqrt(n))
    assert np.var(y) == pytest.approx(GAIN**2 * lam + SIGMA**2, rel=0.01)
    z = noise.shifted(y)
    target = lam + SIGMA**2 / GAIN**2
    assert np.mean(z) == pytest.approx(target, abs=4 * np.sqrt(target / n))
    assert np.var(z) == pytest.approx(target, rel=4 * np.sqrt(2 / n) * 1.2)


def test_unit_gain_no_read_noise_is_exactly_poisson(rng):
    """The limit of the family: gain 1, offset 0, sigma 0 gives the Poisson VB fit itself."""
    psf = gaussian_psf(5, 1.0)
    op = ConvolutionOperator(psf, (20, 20), boundary="valid")
    x = rng.gamma(2.0, 10.0, op.latent_shape)
    y = rng.poisson(op.forward(torch.as_tensor(x)).numpy() + 2.0).astype(float)
    fits = [
        fit_poisson_vb(
            DeconvolutionModel(op, prior=GammaFieldPrior(), noise=noise),
            y,
            max_iter=30,
            progress=False,
        )  # fmt: skip
        for noise in (PoissonNoise(background=2.0), PoissonGaussianNoise(1.0, background=2.0))
    ]
    np.testing.assert_allclose(fits[1].mean, fits[0].mean, rtol=1e-12, atol=0)
    np.testing.assert_allclose(fits[1].elbo, fits[0].elbo, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gain": 0.0}, "gain must be positive"),
        ({"gain": -2.0}, "gain must be positive"),
        ({"gain": float("nan")}, "gain must be a finite"),
        ({"gain": 1.0, "read_noise": -1.0}, "cannot be negative"),
        ({"gain": 1.0, "read_noise": float("inf")}, "read_noise must be a finite"),
        ({"gain": 1.0, "offset": float("nan")}, "offset must be a finite"),
        ({"gain": 1.0, "background": -1.0}, "background"),
    ],
)
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PoissonGaussianNoise(**kwargs)


def test_check_observed_refuses_nan_and_a_wrong_offset(rng):
    noise = PoissonGaussianNoise(GAIN, OFFSET, SIGMA)
    y = noise.simulate(np.full((32, 32), 3.0), rng=rng)
    noise.check_observed(y)
    noise.check_observed(np.where(rng.random(y.shape) > 0.5, y, 0.0))  # holes filled with 0
    with pytest.raises(ValueError, match="NaN"):
        noise.check_observed(np.where(y > 110, np.nan, y))
    with pytest.raises(ValueError, match="below the offset"):
        PoissonGaussianNoise(GAIN, OFFSET + 50, SIGMA).check_observed(y)
    with pytest.raises(RuntimeError, match="calibrate"):
        EstimatedPoissonGaussianNoise().distribution(torch.zeros(2, 2), {}, 2)


@pytest.fixture(scope="module")
def camera_case():
    rng = np.random.default_rng(1)
    psf = gaussian_psf(9, 2.0)
    op = ConvolutionOperator(psf, (48, 48), boundary="valid")
    truth = np.full(op.latent_shape, 2.0)
    truth[15:35, 12:30] = 40.0
    truth[20:26, 30:40] = 15.0
    truth[8:10, 8:40] = 60.0
    noise = PoissonGaussianNoise(GAIN, OFFSET, SIGMA)
    y = noise.simulate(op.forward(torch.as_tensor(truth)).numpy(), rng=rng)
    return y, psf, op.crop(torch.as_tensor(truth)).numpy(), noise


def test_deconvolve_raw_camera_values_in_closed_form(camera_case):
    y, psf, truth, noise = camera_case
    raw_error = np.mean(((y - OFFSET) / GAIN - truth) ** 2)
    result = deconvolve(y, psf, noise=noise, prior="gamma", method="ivb", progress=False)
    assert result.method == "ivb"
    assert np.mean((result.mean - truth) ** 2) < 0.8 * raw_error
    auto = deconvolve(y, psf, noise=noise, prior="gamma", steps=5, progress=False)
    assert auto.method == "ivb"  # the closed-form Poisson engine is chosen by capability


def test_the_name_measures_the_camera_on_the_image_and_says_so(camera_case):
    y, psf, truth, _ = camera_case
    result = deconvolve(y, psf, noise="poisson-gaussian", prior="gamma", progress=False)
    calibration = result.info["calibration"]
    assert isinstance(calibration, CameraCalibration)
    assert calibration.offset_source == "background"
    used = result.info["noise"]
    assert isinstance(used, PoissonGaussianNoise) and used.calibration is calibration
    assert used.gain == calibration.gain
    assert np.mean((result.mean - truth) ** 2) < np.mean(((y - OFFSET) / GAIN - truth) ** 2)


def test_stochastic_engines_start_from_photo_electrons(camera_case):
    y, psf, _, noise = camera_case
    op = ConvolutionOperator(psf, y.shape, boundary="valid")
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=noise)
    values, _ = initial_values(model, torch.as_tensor(y))
    start = values[sites.IMAGE][op.frame].numpy()
    np.testing.assert_allclose(start, (y - OFFSET) / GAIN, rtol=1e-12)
