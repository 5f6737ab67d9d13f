"""Gamma hyper-prior algebra against torch.distributions and Monte Carlo."""

import numpy as np
import pytest
import torch

from bayesdeconv.priors import GammaPosterior, GammaPrior
from bayesdeconv.priors.smooth import SmoothPrior, difference_spectrum


def test_gamma_posterior_moments_entropy_and_expected_log_density():
    q = GammaPosterior(shape=7.5, rate=0.3)
    ref = torch.distributions.Gamma(
        torch.tensor(7.5, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)
    )
    assert q.mean == pytest.approx(float(ref.mean))
    assert q.std == pytest.approx(float(ref.stddev))
    assert q.entropy == pytest.approx(float(ref.entropy()), rel=1e-12)
    draws = ref.sample((200000,))
    assert q.mean_log == pytest.approx(float(draws.log().mean()), abs=5e-3)
    prior = GammaPrior(shape=2.0, rate=0.5)
    p = torch.distributions.Gamma(
        torch.tensor(2.0, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    )
    assert prior.expected_log_density(q) == pytest.approx(float(p.log_prob(draws).mean()), abs=0.02)
    samples = q.sample(100000, np.random.default_rng(0))
    assert samples.mean() == pytest.approx(q.mean, rel=0.01)


def test_conjugate_update():
    q = GammaPrior(shape=1.0, rate=2.0).posterior(10, 6.0)
    assert (q.shape, q.rate) == (6.0, 5.0)


def test_difference_spectrum_matches_quadratic_form(rng):
    shape = (5, 6, 4)
    x = torch.as_tensor(rng.standard_normal(shape))
    prior = SmoothPrior(precision=1.0, epsilon=0.0 + 1e-3)
    spec = difference_spectrum(shape, dtype=torch.float64) + 1e-3
    spectral = float((spec * torch.fft.fftn(x).abs() ** 2).sum()) / x.numel()
    assert float(prior.quadratic(x, 3)) == pytest.approx(spectral, rel=1e-12)
    assert prior.diagonal(3) == pytest.approx(6 + 1e-3)
