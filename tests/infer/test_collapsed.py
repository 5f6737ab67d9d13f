"""The collapsed evidence of a PSF against dense linear algebra, and NUTS over PSF parameters."""

import math

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from dense import dense_operator, dense_posterior, dense_q0

from bayesdeconv.infer import exact_posterior
from bayesdeconv.infer.collapsed import (
    CollapsedEvidence,
    collapsed_log_evidence,
    fit_psf_parameters,
)
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.physics.psf.differentiable import gaussian_kernel
from bayesdeconv.priors import SmoothPrior


def _psfs(rng, ndim):
    out = [rng.random((3,) * ndim) for _ in range(3)]
    if ndim == 2:
        out.append(gaussian_kernel(3, 0.8).numpy())
        out.append(np.eye(3))
    return [p / p.sum() for p in out]


@pytest.mark.parametrize("shape", [(8, 8), (7, 8), (3, 4, 5)])
def test_collapsed_evidence_equals_dense(shape, rng):
    alpha, gamma = 3.0, 200.0
    prior = SmoothPrior(precision=alpha, epsilon=0.05)
    y = rng.standard_normal(shape)
    q0 = dense_q0(prior, shape)
    for psf in _psfs(rng, len(shape)):
        op = ConvolutionOperator(psf, shape, boundary="circular")
        a = dense_operator(op.forward, shape)
        *_, expected = dense_posterior(a, q0, y, np.ones(shape), alpha, gamma)
        value = collapsed_log_evidence(y, torch.as_tensor(psf), alpha, gamma, prior)
        assert float(value) == pytest.approx(expected, rel=1e-10)
        model = DeconvolutionModel(op, prior=prior, noise=GaussianNoise(precision=gamma))
        assert exact_posterior(model, y).log_evidence == pytest.approx(float(value), rel=1e-12)


def test_collapsed_evidence_gradients_match_finite_differences(rng):
    shape = (16, 16)
    prior = SmoothPrior(precision=1.0, epsilon=0.01)
    y = rng.standard_normal(shape)
    evidence = CollapsedEvidence(y, prior)

    def f(sigma, log_alpha, log_gamma):
        return evidence(gaussian_kernel(7, sigma), log_alpha.exp(), log_gamma.exp())

    point = [torch.tensor(v, dtype=torch.float64) for v in (1.3, math.log(2.0), math.log(50.0))]
    args = [p.clone().requires_grad_(True) for p in point]
    grads = torch.autograd.grad(f(*args), args)
    h = 1e-5
    for i in range(3):
        up = [p.clone() for p in point]
        down = [p.clone() for p in point]
        up[i] += h
        down[i] -= h
        fd = (float(f(*up)) - float(f(*down))) / (2 * h)
        assert float(grads[i]) == pytest.approx(fd, rel=1e-6, abs=1e-6)


def test_evidence_peaks_at_the_true_width_for_prior_data_and_little_noise():
    shape, sigma_true, alpha, gamma = (32, 32), 1.5, 1.0, 1e8
    prior = SmoothPrior(precision=alpha, epsilon=0.01)
    torch.manual_seed(3)
    x = prior.distribution(torch.tensor(alpha, dtype=torch.float64), shape).sample()
    op = ConvolutionOperator(gaussian_kernel(9, sigma_true), shape, boundary="circular")
    y = op(x) + torch.randn(shape, dtype=torch.float64) / math.sqrt(gamma)
    evidence = CollapsedEvidence(y, prior)
    grid = np.round(np.arange(1.0, 2.01, 0.05), 2)
    values = [float(evidence(gaussian_kernel(9, s), alpha, gamma)) for s in grid]
    assert grid[int(np.argmax(values))] == pytest.approx(sigma_true)


def test_collapsed_evidence_rejects_bad_inputs(rng):
    with pytest.raises(TypeError, match="Gaussian"):
        CollapsedEvidence(rng.random((8, 8)), object())
    evidence = CollapsedEvidence(rng.random((8, 8)), SmoothPrior(precision=1.0))
    with pytest.raises(ValueError, match="3-D"):
        evidence(torch.ones(3, 3, 3) / 27, 1.0, 1.0)


def test_fit_psf_parameters_recovers_a_gaussian_width():
    shape, sigma_true = (48, 48), 1.6
    torch.manual_seed(1)
    x = SmoothPrior(epsilon=0.01).distribution(torch.tensor(1.0, dtype=torch.float64), shape)
    x = x.sample()
    op = ConvolutionOperator(gaussian_kernel(11, sigma_true), shape, boundary="circular")
    blurred = op(x)
    noise_std = 0.01 * float(blurred.max() - blurred.min())
    y = blurred + noise_std * torch.randn(shape, dtype=torch.float64)
    sigma_prior = dist.LogNormal(
        torch.tensor(math.log(1.5), dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    )
    res = fit_psf_parameters(
        y,
        lambda sigma: gaussian_kernel(11, sigma),
        {"sigma": sigma_prior},
        SmoothPrior(epsilon=0.01),
        num_samples=100,
        warmup=100,
        n_image_draws=10,
    )
    sigma = res.psf_parameters["sigma"]
    assert sigma.shape == (100,)
    assert abs(sigma.mean() - sigma_true) < 0.1 * sigma_true
    lo, hi = res.interval("sigma", 0.9)
    assert lo < sigma_true < hi
    assert res.noise_precision.mean() == pytest.approx(noise_std**-2, rel=0.2)
    assert res.mean.shape == shape and res.std.shape == shape and res.psf.shape == (11, 11)
    # law of total variance: never below the mean of the conditional variances
    assert (res.std > 0).all()
    assert np.sqrt(np.mean((res.mean - x.numpy()) ** 2)) < np.sqrt(np.mean((y - x).numpy() ** 2))


def test_fit_psf_parameters_one_draw_is_the_exact_posterior(rng):
    shape = (16, 16)
    prior = SmoothPrior(precision=2.0, epsilon=0.05)
    y = rng.standard_normal(shape)
    sigma_prior = dist.LogNormal(
        torch.tensor(0.0, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)
    )
    res = fit_psf_parameters(
        y,
        lambda sigma: gaussian_kernel(5, sigma),
        {"sigma": sigma_prior},
        prior,
        noise_precision=10.0,
        num_samples=5,
        warmup=5,
        n_image_draws=1,
    )
    assert res.n_image_draws == 1
    np.testing.assert_array_equal(res.image_precision, 2.0)
    np.testing.assert_array_equal(res.noise_precision, 10.0)
    op = ConvolutionOperator(gaussian_kernel(5, res.psf_parameters["sigma"][0]), shape)
    model = DeconvolutionModel(op, prior=prior, noise=GaussianNoise(precision=10.0))
    exact = exact_posterior(model, y)
    np.testing.assert_allclose(res.mean, exact.mean.numpy(), atol=1e-12)
    np.testing.assert_allclose(res.std, exact.marginal_variance**0.5, rtol=1e-12)
    with pytest.raises(ValueError, match="nuts"):
        fit_psf_parameters(y, gaussian_kernel, {}, prior, method="hmc")
