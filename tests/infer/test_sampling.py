"""Perturb-and-optimise draws have the exact conditional posterior's moments."""

import numpy as np
import pytest
import torch
from dense import dense_operator, dense_posterior, dense_q0

from bayesdeconv.infer import exact_posterior
from bayesdeconv.infer.sampling import sample_conditional_posterior
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf
from bayesdeconv.priors import SmoothPrior


def test_circular_draws_match_the_exact_marginal_std(rng):
    op = ConvolutionOperator(gaussian_psf(5, 1.0), (16, 16), boundary="circular")
    model = DeconvolutionModel(
        op, prior=SmoothPrior(precision=100.0, epsilon=0.05), noise=GaussianNoise(precision=2500.0)
    )
    y = torch.as_tensor(rng.random((16, 16)))
    exact = exact_posterior(model, y)
    draws = sample_conditional_posterior(
        model, y, image_precision=100.0, noise_precision=2500.0, num_samples=400, seed=0
    )
    std = exact.marginal_variance**0.5
    # 400 draws x 256 pixels: the pooled std is known to well under 1 %
    assert draws.std(0).mean() == pytest.approx(std, rel=0.02)
    np.testing.assert_allclose(draws.mean(0), exact.mean.numpy(), atol=5 * std / 20)


def test_masked_valid_draws_match_dense_marginals(rng):
    """Non-circulant case: per-pixel std equals sqrt(diag(inverse precision))."""
    op = ConvolutionOperator(gaussian_psf(3, 0.8), (8, 9), boundary="valid")
    mask = rng.random((8, 9)) > 0.25
    prior = SmoothPrior(precision=50.0, epsilon=0.05)
    model = DeconvolutionModel(
        op, prior=prior, noise=GaussianNoise(precision=2e3), mask=torch.as_tensor(mask)
    )
    y = rng.random((8, 9))
    a = dense_operator(op.forward, op.latent_shape)
    mean, cov, _, _ = dense_posterior(a, dense_q0(prior, op.latent_shape), y, mask, 50.0, 2e3)
    frame = np.zeros(op.latent_shape, bool)
    frame[op.frame] = True
    exact_std = np.sqrt(np.diag(cov))[frame.ravel()].reshape(8, 9)
    draws = sample_conditional_posterior(
        model, y, image_precision=50.0, noise_precision=2e3, num_samples=3000, seed=1
    )
    # relative Monte-Carlo error of a std from 3000 draws: 1/sqrt(6000) = 1.3 %
    np.testing.assert_allclose(draws.std(0), exact_std, rtol=0.06)
    np.testing.assert_allclose(
        draws.mean(0), mean[frame.ravel()].reshape(8, 9), atol=5 * exact_std.max() / 3000**0.5
    )
    # the draws see holes as more uncertain than observed pixels
    assert draws.std(0)[~mask].mean() > 1.1 * draws.std(0)[mask].mean()


def test_bad_arguments(rng):
    op = ConvolutionOperator(gaussian_psf(3, 0.8), (8, 8))
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=GaussianNoise())
    with pytest.raises(ValueError, match="num_samples"):
        sample_conditional_posterior(
            model, rng.random((8, 8)), image_precision=1.0, noise_precision=1.0, num_samples=0
        )
    with pytest.raises(ValueError, match="noise_precision"):
        sample_conditional_posterior(
            model, rng.random((8, 8)), image_precision=1.0, noise_precision=-1.0
        )
