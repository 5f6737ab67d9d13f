"""SVI (Pyro) against the exact posterior and the mean-field fixed point."""

import numpy as np
import pyro
import pytest
import torch

from bayesdeconv.infer import exact_posterior, fit_ivb
from bayesdeconv.infer.linear_gaussian import LinearGaussianSystem
from bayesdeconv.infer.svi import fit_svi
from bayesdeconv.likelihoods import GaussianNoise, PoissonNoise
from bayesdeconv.models import DeconvolutionModel, sites
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf
from bayesdeconv.priors import SmoothPrior


def _problem(shape=(12, 12), alpha=100.0, gamma=2500.0, learned=False, boundary="circular"):
    op = ConvolutionOperator(gaussian_psf(5, 1.0), shape, boundary=boundary)
    prior_true = SmoothPrior(precision=alpha, epsilon=0.05)
    x = prior_true.distribution(torch.tensor(alpha, dtype=torch.float64), op.latent_shape).sample()
    y = op.forward(x) + torch.randn(shape, dtype=torch.float64) / gamma**0.5
    if learned:
        model = DeconvolutionModel(op, prior=SmoothPrior(epsilon=0.05), noise=GaussianNoise())
    else:
        model = DeconvolutionModel(op, prior=prior_true, noise=GaussianNoise(precision=gamma))
    return model, y


def test_mean_field_svi_converges_to_exact_mean_and_mean_field_variances():
    model, y = _problem()
    exact = exact_posterior(model, y)
    system = LinearGaussianSystem(model, y)
    mean_field_std = (1.0 / (2500.0 * system.normal_diagonal + 100.0 * system.q0_diag)).sqrt()
    result = fit_svi(model, y, steps=4000, lr=0.02, num_particles=8, tol=0, seed=0, progress=False)
    posterior_std = exact.marginal_variance**0.5
    # tolerance: a tenth of a posterior standard deviation per pixel
    np.testing.assert_allclose(result.latent_mean, exact.mean.numpy(), atol=0.1 * posterior_std)
    # mean-field variances are 1 / diag(precision), not the exact marginal variances
    np.testing.assert_allclose(result.latent_std, mean_field_std.numpy(), rtol=0.05)
    assert mean_field_std.max() < 0.93 * posterior_std


def test_map_guide_finds_the_posterior_mode():
    model, y = _problem()
    exact = exact_posterior(model, y)
    result = fit_svi(model, y, guide="map", steps=3000, lr=0.02, tol=0, seed=0, progress=False)
    assert result.method == "map"
    np.testing.assert_allclose(result.latent_mean, exact.mean.numpy(), atol=2e-3)
    assert np.all(result.std == 0)


def test_svi_and_ivb_agree_on_learned_precisions():
    """Same model, same mean-field family: SVI and IVB reach the same hyper-parameters."""
    model, y = _problem(shape=(24, 24), learned=True, boundary="valid")
    ivb = fit_ivb(model, y, covariance="diagonal", progress=False)
    svi = fit_svi(model, y, steps=3000, num_particles=4, tol=0, seed=1, progress=False)
    for name in (sites.IMAGE_PRECISION, sites.NOISE_PRECISION):
        assert svi.hyperparameters[name].mean == pytest.approx(
            ivb.hyperparameters[name].mean, rel=0.1
        )
    np.testing.assert_allclose(svi.mean, ivb.mean, atol=0.25 * ivb.std.mean())


def test_full_guide_on_a_tiny_problem_has_exact_marginals():
    """A full-covariance guide can represent the exact posterior: its marginals match."""
    model, y = _problem(shape=(6, 6))
    exact = exact_posterior(model, y)
    result = fit_svi(
        model, y, guide="full", steps=3000, num_particles=8, tol=0, seed=0, progress=False
    )
    posterior_std = exact.marginal_variance**0.5
    # Monte-Carlo noise of the marginals estimated from 500 guide draws: ~3 %
    np.testing.assert_allclose(result.std, posterior_std, rtol=0.12)
    np.testing.assert_allclose(result.mean, exact.mean.numpy(), atol=0.2 * posterior_std)


def test_full_guide_refuses_large_images():
    model, y = _problem(shape=(80, 80))
    with pytest.raises(ValueError, match="mean-field"):
        fit_svi(model, y, guide="full", steps=1, progress=False)


def test_convergence_stop_and_param_store_isolation():
    pyro.clear_param_store()
    pyro.param("user_param", torch.ones(1))
    model, y = _problem(learned=True)
    result = fit_svi(model, y, steps=20000, check_every=100, seed=0, progress=False)
    assert result.converged and result.n_iter < 20000
    assert list(pyro.get_param_store().keys()) == ["user_param"]


def test_non_finite_loss_raises_a_clear_error(monkeypatch):
    model, y = _problem()
    monkeypatch.setattr(pyro.infer.SVI, "step", lambda self, *a, **k: float("nan"))
    with pytest.raises(FloatingPointError, match="diverged at step 0"):
        fit_svi(model, y, steps=10, progress=False)


def test_poisson_svi_improves_on_the_observation():
    torch.manual_seed(0)
    op = ConvolutionOperator(gaussian_psf(7, 1.5), (32, 32), boundary="circular")
    truth = torch.zeros(32, 32, dtype=torch.float64)
    truth[8:24, 8:24] = 40.0
    truth += 5.0
    y = torch.poisson(op.forward(truth))
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=PoissonNoise())
    result = fit_svi(model, y, steps=1500, seed=0, progress=False)
    err_obs = float(((y - truth) ** 2).mean())
    err_post = float(((torch.as_tensor(result.mean) - truth) ** 2).mean())
    assert err_post < 0.8 * err_obs
    assert sites.NOISE_PRECISION not in result.hyperparameters


def test_windowed_draws_only_touch_the_window():
    """Draws for a window are generated at the window's size, so memory stays small."""
    import tracemalloc

    model, y = _problem(shape=(300, 300))
    result = fit_svi(model, y, steps=5, tol=0, seed=0, progress=False)
    tracemalloc.start()
    draws = result.draws(200, seed=0, region=(slice(5, 13), slice(10, 18)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert draws["image"].shape == (200, 8, 8)
    # full-frame noise for 200 draws would need 200 * 300 * 300 * 8 bytes = 144 MB
    assert peak < 2_000_000, peak
    np.testing.assert_allclose(draws["image"].mean(0), result.mean[5:13, 10:18], atol=0.05)
