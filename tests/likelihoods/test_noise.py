"""Noise models: simulation statistics and scores against scipy."""

import numpy as np
import pytest
import scipy.stats
import torch

from bayesdeconv import sites
from bayesdeconv.likelihoods import GaussianNoise, PoissonNoise
from bayesdeconv.priors import GammaPrior


def test_gaussian_simulates_and_scores(rng):
    noise = GaussianNoise(precision=400.0)
    mean = rng.random((64, 64))
    y = noise.simulate(mean, precision=400.0, rng=rng)
    assert np.std(y - mean) == pytest.approx(0.05, rel=0.03)
    mask = rng.random(mean.shape) > 0.5
    expected = scipy.stats.norm(mean, 0.05).logpdf(y)[mask].sum()
    assert noise.log_prob(y, mean, precision=400.0, mask=mask) == pytest.approx(expected, rel=1e-12)
    # NaN in masked pixels is ignored; the fixed precision is the default
    y_holes = np.where(mask, y, np.nan)
    assert noise.log_prob(y_holes, mean, mask=mask) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="precision"):
        GaussianNoise().simulate(mean, rng=rng)
    d = noise.distribution(
        torch.as_tensor(mean), {sites.NOISE_PRECISION: torch.tensor([400.0, 100.0]).double()}, 2
    )
    assert d.batch_shape == (2, 64, 64)  # a batch of precisions broadcasts over the image


def test_poisson_simulates_and_scores(rng):
    noise = PoissonNoise(background=2.0)
    mean = 10 * rng.random((32, 32))
    y = noise.simulate(mean, rng=rng)
    assert np.mean(y - mean) == pytest.approx(2.0, abs=0.3)
    expected = scipy.stats.poisson(mean + 2.0).logpmf(y).sum()
    assert noise.log_prob(y, mean) == pytest.approx(expected, rel=1e-12)
    mask = rng.random(mean.shape) > 0.3
    masked = scipy.stats.poisson(mean + 2.0).logpmf(y)[mask].sum()
    assert noise.log_prob(np.where(mask, y, np.nan), mean, mask=mask) == pytest.approx(masked)
    with pytest.raises(ValueError, match="negative"):
        noise.simulate(-mean, rng=rng)


def test_learned_flags_and_argument_checks():
    assert GaussianNoise().learned and isinstance(GaussianNoise().precision, GammaPrior)
    assert not GaussianNoise(precision=3.0).learned
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="precision"):
            GaussianNoise(precision=bad)
    with pytest.raises(ValueError, match="background"):
        PoissonNoise(background=-1.0)
    with pytest.raises(ValueError, match="shape"):
        GammaPrior(shape=0.0)
