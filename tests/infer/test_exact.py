"""The Fourier-space exact posterior against dense linear algebra."""

import numpy as np
import pytest
import torch
from dense import dense_operator, dense_posterior, dense_q0

from bayesdeconv.infer import exact_posterior, fit_exact
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.priors import GammaPrior, SmoothPrior


@pytest.mark.parametrize("shape", [(8, 8), (7, 8), (3, 4, 5)])
def test_exact_posterior_equals_dense(shape, rng):
    psf = rng.random((3,) * len(shape))
    psf /= psf.sum()
    alpha, gamma = 3.0, 200.0
    op = ConvolutionOperator(psf, shape, boundary="circular")
    prior = SmoothPrior(precision=alpha, epsilon=0.05)
    model = DeconvolutionModel(op, prior=prior, noise=GaussianNoise(precision=gamma))
    y = rng.standard_normal(shape)
    exact = exact_posterior(model, y)

    a = dense_operator(op.forward, op.latent_shape)
    q0 = dense_q0(prior, op.latent_shape)
    mean, cov, _, log_evidence = dense_posterior(a, q0, y, np.ones(shape), alpha, gamma)
    np.testing.assert_allclose(exact.mean.numpy().ravel(), mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(exact.marginal_variance, np.diag(cov), rtol=1e-9)
    assert exact.log_evidence == pytest.approx(log_evidence, rel=1e-10)


def test_fit_exact_returns_a_result(rng):
    psf = rng.random((3, 3))
    op = ConvolutionOperator(psf / psf.sum(), (10, 12), boundary="circular")
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=GaussianNoise())
    y = rng.standard_normal((10, 12))
    result = fit_exact(model, y, image_precision=3.0, noise_precision=200.0)
    exact = exact_posterior(model, y, image_precision=3.0, noise_precision=200.0)
    assert result.method == "exact"
    np.testing.assert_allclose(result.mean, exact.mean.numpy(), atol=1e-12)
    np.testing.assert_allclose(result.std, exact.marginal_variance**0.5, rtol=1e-12)
    assert result.elbo[-1] == pytest.approx(result.log_evidence, rel=1e-12)
    assert model.prior.learned  # the caller's model is left as it was


def test_exact_posterior_rejects_unsupported_models(rng):
    op = ConvolutionOperator(np.ones((3, 3)) / 9, (8, 8), boundary="valid")
    model = DeconvolutionModel(
        op, prior=SmoothPrior(precision=1.0), noise=GaussianNoise(precision=1.0)
    )
    with pytest.raises(ValueError, match="circular"):
        exact_posterior(model, rng.random((8, 8)))
    op = ConvolutionOperator(np.ones((3, 3)) / 9, (8, 8), boundary="circular")
    model = DeconvolutionModel(
        op, prior=SmoothPrior(precision=GammaPrior()), noise=GaussianNoise(precision=1.0)
    )
    with pytest.raises(ValueError, match="image_precision"):
        exact_posterior(model, rng.random((8, 8)))
    # an explicit value overrides the hyper-prior
    assert np.isfinite(exact_posterior(model, rng.random((8, 8)), image_precision=2.0).log_evidence)


def test_prior_log_prob_and_sampling_match_dense(rng):
    shape = (4, 5)
    prior = SmoothPrior(precision=1.0, epsilon=0.1)
    alpha = torch.tensor(2.5, dtype=torch.float64)
    d = prior.distribution(alpha, shape)
    q0 = dense_q0(prior, shape)
    x = rng.standard_normal(shape)
    cov = np.linalg.inv(2.5 * q0)
    from scipy.stats import multivariate_normal

    expected = multivariate_normal(np.zeros(20), cov).logpdf(x.ravel())
    assert float(d.log_prob(torch.as_tensor(x))) == pytest.approx(expected, rel=1e-10)
    # the spectral quadratic form agrees with the finite-difference one
    from bayesdeconv.priors import StationaryGaussian

    spectral = StationaryGaussian(alpha, prior.spectrum(shape))
    assert float(spectral.log_prob(torch.as_tensor(x))) == pytest.approx(expected, rel=1e-10)
    samples = d.sample((40000,)).reshape(40000, -1).numpy()
    emp = np.cov(samples, rowvar=False)
    assert np.abs(emp - cov).max() < 0.05 * np.abs(cov).max()
