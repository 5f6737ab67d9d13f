"""Vadam: the optimizer on quadratics, and the engine against the exact posterior."""

import numpy as np
import pytest
import torch
from dense import dense_operator, dense_q0

from bayesdeconv import deconvolve
from bayesdeconv.infer import Vadam, exact_posterior, fit_vadam, vadam_fixed_point_precision
from bayesdeconv.infer.linear_gaussian import LinearGaussianSystem
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf
from bayesdeconv.priors import SmoothPrior


def _run_quadratic(h, b, *, steps, num_samples=1, num_data=1.0, lr=0.05):
    mu = torch.zeros(len(b), dtype=torch.float64)
    opt = Vadam([mu], lr=lr, num_data=num_data, init_precision=1.0, num_samples=num_samples)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.01 ** (1 / steps))
    h_t, b_t = torch.as_tensor(h), torch.as_tensor(b)

    def closure():
        mu.requires_grad_(True)
        mu.grad = None
        loss = (0.5 * mu @ h_t @ mu - b_t @ mu) / num_data
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
        sched.step()
    return mu.detach().numpy(), opt.precision(mu).numpy()


@pytest.mark.parametrize("num_samples", [1, 4])
def test_vadam_on_a_quadratic_reaches_the_mean_and_its_fixed_point(rng, num_samples):
    torch.manual_seed(0)
    a = rng.standard_normal((6, 6))
    h = a @ a.T + 3 * np.eye(6)
    b = rng.standard_normal(6)
    mean, precision = _run_quadratic(h, b, steps=6000, num_samples=num_samples)
    np.testing.assert_allclose(mean, np.linalg.solve(h, b), atol=0.05)
    predicted = vadam_fixed_point_precision(h, num_samples=num_samples)
    np.testing.assert_allclose(precision, predicted, rtol=0.12)
    # the fixed point is not the mean-field precision diag(H): coupling raises it
    assert np.all(predicted > np.diag(h) / num_samples**0.5)


def test_fixed_point_of_a_diagonal_hessian_is_mean_field():
    h = np.diag([1.0, 4.0, 9.0])
    np.testing.assert_allclose(vadam_fixed_point_precision(h), np.diag(h), rtol=1e-12)
    # N data points and S samples rescale it by sqrt(N S)
    np.testing.assert_allclose(
        vadam_fixed_point_precision(h, num_data=4, num_samples=4), np.diag(h) / 4, rtol=1e-12
    )


def test_vadam_engine_on_the_conjugate_model():
    """Mean -> exact posterior mean; std -> the derived fixed point, not the mean-field value."""
    torch.manual_seed(0)
    op = ConvolutionOperator(gaussian_psf(5, 1.0), (12, 12), boundary="circular")
    prior = SmoothPrior(precision=100.0, epsilon=0.05)
    model = DeconvolutionModel(op, prior=prior, noise=GaussianNoise(precision=2500.0))
    x = prior.distribution(torch.tensor(100.0, dtype=torch.float64), op.latent_shape).sample()
    y = op.forward(x) + torch.randn(12, 12, dtype=torch.float64) / 50
    exact = exact_posterior(model, y)
    result = fit_vadam(model, y, steps=4000, tol=0, seed=0, progress=False)
    posterior_std = exact.marginal_variance**0.5
    np.testing.assert_allclose(result.latent_mean, exact.mean.numpy(), atol=0.3 * posterior_std)
    blur = dense_operator(op.forward, op.latent_shape)
    hessian = 2500.0 * blur.T @ blur + 100.0 * dense_q0(prior, op.latent_shape)
    predicted = vadam_fixed_point_precision(hessian) ** -0.5
    assert result.latent_std.mean() == pytest.approx(predicted.mean(), rel=0.03)
    mean_field = LinearGaussianSystem(model, y).normal_diagonal * 2500.0 + 100.0 * (4 + 0.05)
    assert result.latent_std.mean() < 0.95 * float((mean_field**-0.5).mean())


def test_vadam_through_deconvolve_exports_to_arviz(rng):
    y = rng.random((20, 24))
    result = deconvolve(y, gaussian_psf(5, 1.0), method="vadam", steps=200, seed=0, progress=False)
    assert result.method == "vadam" and result.elbo.shape == (result.n_iter,)
    idata = result.to_arviz(num_samples=5, pixels=True)
    assert idata.posterior["image"].shape == (4, 5, 20, 24)
    assert "noise_precision" in idata.posterior


def test_vadam_rejects_bad_arguments():
    p = torch.zeros(3)
    for kwargs, match in [
        ({"lr": 0.0}, "lr"),
        ({"betas": (1.0, 0.9)}, "betas"),
        ({"num_data": 0}, "num_data"),
        ({"prior_precision": 2.0, "init_precision": 1.0}, "init_precision"),
        ({"num_samples": 0}, "num_samples"),
    ]:
        with pytest.raises(ValueError, match=match):
            Vadam([p], **kwargs)
    with pytest.raises(ValueError, match="closure"):
        Vadam([p]).step(None)


def test_vadam_takes_a_per_coordinate_initial_precision():
    p = torch.zeros(3, dtype=torch.float64)
    start = torch.tensor([1.0, 10.0, 100.0], dtype=torch.float64)
    opt = Vadam([p], num_data=2.0, prior_precision=0.5, init_precision=start)
    torch.testing.assert_close(opt.precision(p), start)
    start.mul_(2)  # the optimizer keeps its own copy
    torch.testing.assert_close(opt.precision(p), start / 2)
    with pytest.raises(ValueError, match="init_precision"):
        Vadam([p], prior_precision=5.0, init_precision=start)
