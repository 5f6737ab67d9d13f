"""Perturb-and-optimise draws have the exact conditional posterior's moments."""

import numpy as np
import pytest
import torch
from dense import dense_operator, dense_posterior, dense_q0

from bayesdeconv.infer import exact_posterior
from bayesdeconv.infer.linear_gaussian import LinearGaussianSystem
from bayesdeconv.infer.sampling import marginal_variance, sample_conditional_posterior
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


def _dense_marginal_variance(model, y):
    """diag(Λ⁻¹) on the latent grid, from dense matrices."""
    op = model.operator
    a = dense_operator(op.circulant, op.latent_shape)
    system = LinearGaussianSystem(model, torch.as_tensor(y))
    m = system.mask.numpy().ravel()
    gamma, alpha = model.noise.precision.value, model.prior.precision.value
    q0 = dense_operator(lambda v: system.irfft(system.rfft(v) * system.q0_half), op.latent_shape)
    lam = gamma * a.T @ (m[:, None] * a) + alpha * q0
    return system, np.diag(np.linalg.inv(lam)).reshape(op.latent_shape)


def _lopsided_psf() -> np.ndarray:
    """A 5x4 kernel with no symmetry, so correlation and convolution differ."""
    psf = np.arange(1.0, 21.0).reshape(5, 4) ** 2
    psf[0, 3] = psf[4, 0] = 0.0
    return psf / psf.sum()


def _small_model(rng, boundary, masked, psf=None):
    psf = gaussian_psf(5, 1.0) if psf is None else psf
    op = ConvolutionOperator(psf, (12, 12), boundary=boundary)
    mask = None
    if masked:
        mask = np.ones((12, 12), bool)
        mask[4:8, 4:8] = False
    model = DeconvolutionModel(
        op,
        prior=SmoothPrior(precision=30.0, epsilon=1e-2),
        noise=GaussianNoise(precision=1e3),
        mask=None if mask is None else torch.as_tensor(mask),
    )
    return model, rng.random((12, 12))


@pytest.mark.parametrize("lopsided", [False, True])
def test_marginal_variance_is_exact_for_a_circulant_posterior(rng, lopsided):
    model, y = _small_model(rng, "circular", False, psf=_lopsided_psf() if lopsided else None)
    system, exact = _dense_marginal_variance(model, y)
    estimate = marginal_variance(system, 1e3, 30.0, num_samples=2)
    np.testing.assert_allclose(estimate.variance.numpy(), exact, rtol=1e-10)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("lopsided", [False, True])
def test_marginal_variance_is_unbiased_with_valid_borders_and_holes(rng, masked, lopsided):
    """Against dense diag(Λ⁻¹): every pixel within 4.5 Monte-Carlo standard errors, the
    average relative error well below the per-pixel one, and a sane standard error. The
    lopsided PSF catches a correlation written as a convolution in the control variate."""
    model, y = _small_model(rng, "valid", masked, psf=_lopsided_psf() if lopsided else None)
    system, exact = _dense_marginal_variance(model, y)
    generator = torch.Generator().manual_seed(3)
    estimate = marginal_variance(system, 1e3, 30.0, num_samples=300, generator=generator, rtol=1e-8)
    variance, error = estimate.variance.numpy(), estimate.standard_error.numpy()
    z = (variance - exact) / error
    assert np.abs(z).max() < 4.5
    assert 0.5 < np.sqrt(np.mean(z**2)) < 1.5  # the standard error is the right size
    assert abs(np.mean(variance / exact - 1)) < 0.02
    # the stationary part is not the answer: borders (and holes) differ from it
    assert exact.max() / exact.min() > 1.5


def test_batched_pcg_solves_each_system_like_pcg(rng):
    model, y = _small_model(rng, "valid", masked=True)
    system = LinearGaussianSystem(model, torch.as_tensor(y))
    b = torch.as_tensor(rng.standard_normal((4, *system.shape)))
    b[1] *= 1e-6  # scaled: the relative rule makes it no faster
    b[3] = 0.0  # a zero right-hand side: x = 0 at once, from any start
    b_hat = system.rfft(b)
    singles = [
        system.solve(b_hat[s], 1e3, 30.0, torch.zeros_like(b[s]), rtol=1e-10)[0] for s in range(3)
    ]
    # system 2 starts at its solution and converges first; the others keep going
    x0 = torch.zeros_like(b)
    x0[2] = singles[2]
    x0[3] = 1.0
    batch, _ = system.solve_batch(b_hat, 1e3, 30.0, system.rfft(x0), rtol=1e-10)
    for s in range(3):
        scale = float(singles[s].abs().max())
        np.testing.assert_allclose(batch[s].numpy(), singles[s].numpy(), atol=1e-8 * scale)
    assert float(batch[3].abs().max()) == 0.0


def test_marginal_variance_refuses_too_few_draws(rng):
    model, y = _small_model(rng, "valid", masked=False)
    with pytest.raises(ValueError, match="num_samples"):
        marginal_variance(LinearGaussianSystem(model, torch.as_tensor(y)), 1.0, 1.0, num_samples=1)


def test_marginal_variance_warns_when_cg_stops_early(rng):
    model, y = _small_model(rng, "valid", masked=True)
    system = LinearGaussianSystem(model, torch.as_tensor(y))
    with pytest.warns(RuntimeWarning, match="max_iter=2"):
        marginal_variance(system, 1e3, 30.0, num_samples=4, rtol=1e-12, max_iter=2)
