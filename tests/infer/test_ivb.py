"""IVB against the exact posterior, dense mean-field algebra and its own ELBO."""

import numpy as np
import pyro.poutine as poutine
import pytest
import torch
from dense import dense_operator, dense_posterior, dense_q0

from bayesdeconv.infer import exact_posterior, fit_ivb
from bayesdeconv.likelihoods import GaussianNoise, PoissonNoise
from bayesdeconv.models import DeconvolutionModel, sites
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf
from bayesdeconv.priors import GammaPrior, SmoothPrior


def _simulate(shape, boundary, alpha=400.0, sigma=0.01, psf=None, epsilon=1e-2, seed=0):
    torch.manual_seed(seed)
    psf = gaussian_psf(7, 1.2) if psf is None else psf
    op = ConvolutionOperator(psf, shape, boundary=boundary)
    prior = SmoothPrior(precision=alpha, epsilon=epsilon)
    x = prior.distribution(torch.tensor(alpha, dtype=torch.float64), op.latent_shape).sample()
    y = op.forward(x) + sigma * torch.randn(shape, dtype=torch.float64)
    return op, x, y


def test_fixed_hyperparameters_reproduce_exact_posterior():
    op, _, y = _simulate((24, 20), "circular")
    model = DeconvolutionModel(
        op, prior=SmoothPrior(precision=300.0, epsilon=1e-2), noise=GaussianNoise(precision=5e3)
    )
    exact = exact_posterior(model, y)
    result = fit_ivb(model, y, progress=False)
    assert result.info["covariance"] == "fourier"
    np.testing.assert_allclose(result.latent_mean, exact.mean.numpy(), atol=1e-12)
    np.testing.assert_allclose(result.std, np.sqrt(exact.marginal_variance), rtol=1e-12)
    # KL(q || p) = 0, so the ELBO is the log evidence
    assert result.elbo[-1] == pytest.approx(exact.log_evidence, rel=1e-12)


@pytest.mark.parametrize("boundary", ["valid", "circular"])
def test_diagonal_family_matches_dense_mean_field(boundary, rng):
    """Mean = exact posterior mean (CG); variances = 1 / diag(posterior precision)."""
    op, _, y = _simulate((9, 8), boundary, psf=gaussian_psf(3, 0.8))
    mask = rng.random((9, 8)) > 0.2
    alpha, gamma = 50.0, 2e3
    prior = SmoothPrior(precision=alpha, epsilon=0.05)
    model = DeconvolutionModel(
        op, prior=prior, noise=GaussianNoise(precision=gamma), mask=torch.as_tensor(mask)
    )
    result = fit_ivb(model, y, progress=False, cg_rtol=1e-12, covariance="diagonal", std="family")
    assert result.info["covariance"] == "diagonal" and result.info["std"] == "diagonal family"
    a = dense_operator(op.forward, op.latent_shape)
    mean, _, precision, _ = dense_posterior(
        a, dense_q0(prior, op.latent_shape), y.numpy(), mask, alpha, gamma
    )
    np.testing.assert_allclose(result.latent_mean.ravel(), mean, atol=1e-9)
    np.testing.assert_allclose(result.latent_std.ravel() ** 2, 1 / np.diag(precision), rtol=1e-10)


@pytest.mark.parametrize("covariance", ["fourier", "diagonal"])
@pytest.mark.parametrize("boundary", ["valid", "circular"])
def test_elbo_never_decreases(boundary, covariance):
    op, _, y = _simulate((32, 32), boundary)
    model = DeconvolutionModel(op, prior=SmoothPrior(epsilon=1e-2), noise=GaussianNoise())
    result = fit_ivb(model, y, progress=False, covariance=covariance, tol=1e-12, max_iter=60)
    assert result.n_iter > 5
    steps = np.diff(result.elbo)
    assert np.all(steps >= -1e-9 * np.abs(result.elbo[1:])), steps.min()


def test_learned_precisions_close_to_truth():
    op, _, y = _simulate((96, 96), "circular", alpha=400.0, sigma=0.01, seed=3)
    model = DeconvolutionModel(op, prior=SmoothPrior(epsilon=1e-2), noise=GaussianNoise())
    result = fit_ivb(model, y, progress=False)
    assert result.converged
    gamma = result.hyperparameters[sites.NOISE_PRECISION].mean
    alpha = result.hyperparameters[sites.IMAGE_PRECISION].mean
    # about three sampling standard deviations: sqrt(2 / N) = 1.5 % for gamma from N = 9216
    # pixels; alpha is estimated from fewer effective degrees of freedom (about 2.5 %)
    assert gamma == pytest.approx(1e4, rel=0.045)
    assert alpha == pytest.approx(400.0, rel=0.08)


def _monte_carlo_elbo(model, result, y, n=400, seed=0):
    """E_q[log p(y, x, alpha, gamma) - log q]: sample the mean-field q, trace the model."""
    g = np.random.default_rng(seed)
    q_alpha = result.hyperparameters[sites.IMAGE_PRECISION]
    q_gamma = result.hyperparameters[sites.NOISE_PRECISION]
    values = []
    for _ in range(n):
        x = result.latent_mean + result.latent_std * g.standard_normal(result.latent_mean.shape)
        a, c = q_alpha.sample(1, g)[0], q_gamma.sample(1, g)[0]
        data = {
            sites.IMAGE: torch.as_tensor(x),
            sites.IMAGE_PRECISION: torch.tensor(a, dtype=torch.float64),
            sites.NOISE_PRECISION: torch.tensor(c, dtype=torch.float64),
        }
        trace = poutine.trace(poutine.condition(model, data)).get_trace(y)
        log_q = (
            torch.distributions.Normal(
                torch.as_tensor(result.latent_mean), torch.as_tensor(result.latent_std)
            )
            .log_prob(torch.as_tensor(x))
            .sum()
            + torch.distributions.Gamma(q_alpha.shape, q_alpha.rate).log_prob(torch.tensor(a))
            + torch.distributions.Gamma(q_gamma.shape, q_gamma.rate).log_prob(torch.tensor(c))
        )
        values.append(float(trace.log_prob_sum() - log_q))
    return np.mean(values), np.std(values) / np.sqrt(n)


def test_closed_form_elbo_equals_monte_carlo_elbo_of_the_pyro_model(rng):
    """IVB's ELBO is the ELBO of the very Pyro model SVI uses (same sites, same densities)."""
    op, _, y = _simulate((10, 12), "valid", psf=gaussian_psf(3, 0.8))
    mask = torch.as_tensor(rng.random((10, 12)) > 0.1)
    model = DeconvolutionModel(
        op,
        prior=SmoothPrior(precision=GammaPrior(2.0, 0.01), epsilon=0.05),
        noise=GaussianNoise(precision=GammaPrior(2.0, 1e-3)),
        mask=mask,
    )
    result = fit_ivb(model, y, covariance="diagonal", std="family", progress=False)
    assert result.info["covariance"] == "diagonal"
    estimate, stderr = _monte_carlo_elbo(model, result, y)
    assert abs(estimate - result.elbo[-1]) < 4 * stderr + 1e-6 * abs(estimate)


def test_ivb_rejects_non_conjugate_noise():
    op = ConvolutionOperator(gaussian_psf(3, 1.0), (8, 8))
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=PoissonNoise())
    with pytest.raises(ValueError, match="svi"):
        fit_ivb(model, torch.ones(8, 8), progress=False)


def test_ivb_rejects_bad_arguments():
    op = ConvolutionOperator(gaussian_psf(3, 1.0), (8, 8))
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=GaussianNoise())
    with pytest.raises(ValueError, match="covariance"):
        fit_ivb(model, torch.ones(8, 8), covariance="full", progress=False)
    with pytest.raises(ValueError, match="std must be one of"):
        fit_ivb(model, torch.ones(8, 8), std="exact", progress=False)
    with pytest.raises(ValueError, match="std_samples"):
        fit_ivb(model, torch.ones(8, 8), std_samples=1, progress=False)
    with pytest.raises(ValueError, match="shape"):
        fit_ivb(model, torch.ones(9, 8), progress=False)
    y = torch.ones(8, 8)
    y[2, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fit_ivb(model, y, progress=False)


def test_samples_have_the_posterior_moments():
    op, _, y = _simulate((16, 16), "circular")
    model = DeconvolutionModel(op, prior=SmoothPrior(epsilon=1e-2), noise=GaussianNoise())
    result = fit_ivb(model, y, progress=False)
    draws = result.draws(4000, seed=1)
    assert draws["image"].shape == (4000, 16, 16)
    np.testing.assert_allclose(draws["image"].mean(0), result.mean, atol=5 * result.std.max() / 60)
    np.testing.assert_allclose(draws["image"].std(0).mean(), result.std.mean(), rtol=0.03)
    q = result.hyperparameters[sites.NOISE_PRECISION]
    assert draws[sites.NOISE_PRECISION].mean() == pytest.approx(q.mean, rel=0.01)
    region = (slice(2, 5), slice(0, 4))
    assert result.draws(3, seed=1, region=region)["image"].shape == (3, 3, 4)


def test_acceleration_reaches_the_same_optimum_in_fewer_sweeps():
    op, _, y = _simulate((48, 48), "valid", seed=2)
    model = DeconvolutionModel(op, prior=SmoothPrior(epsilon=1e-2), noise=GaussianNoise())
    plain = fit_ivb(model, y, accelerate=False, tol=1e-11, max_iter=500, progress=False)
    fast = fit_ivb(model, y, tol=1e-11, max_iter=500, progress=False)
    assert plain.converged and fast.converged
    assert fast.info["accelerated_sweeps"] > 0
    assert fast.n_iter < plain.n_iter / 2
    for name in (sites.IMAGE_PRECISION, sites.NOISE_PRECISION):
        assert fast.hyperparameters[name].mean == pytest.approx(
            plain.hyperparameters[name].mean, rel=1e-4
        )
    assert fast.elbo[-1] == pytest.approx(plain.elbo[-1], rel=1e-9)


def _camera(size=128, hole=30):
    """The scikit-image camera seen through a 9x9 Gaussian blur (valid), 1 % noise."""
    from skimage import data, transform

    op = ConvolutionOperator(gaussian_psf(9, 1.5), (size, size), boundary="valid")
    scene = transform.resize(data.camera() / 255.0, op.latent_shape, anti_aliasing=True)
    rng = np.random.default_rng(0)
    y = op.forward(torch.as_tensor(scene)) + torch.as_tensor(
        0.01 * rng.standard_normal((size,) * 2)
    )
    mask = np.ones((size, size), bool)
    lo = (size - hole) // 2
    mask[lo : lo + hole, lo : lo + hole] = False
    return op, y, mask, slice(lo + hole // 3, lo + hole - hole // 3)


def test_default_std_map_shows_a_hole_that_the_family_std_hides():
    """Issue figure: the median std at the centre of a 30x30 hole in a 128x128 natural image
    is at least 1.5x the observed pixels' median std (the stationary family: exactly 1x)."""
    op, y, mask, centre = _camera()
    ratios = {}
    for std in ("auto", "family"):
        model = DeconvolutionModel(
            op, prior=SmoothPrior(), noise=GaussianNoise(), mask=torch.as_tensor(mask)
        )
        result = fit_ivb(model, y, std=std, progress=False)
        ratios[std] = np.median(result.std[centre, centre]) / np.median(result.std[mask])
    assert ratios["auto"] >= 1.5, ratios
    assert ratios["family"] == pytest.approx(1.0)
    assert result.info["std"] == "fourier family"


def test_default_std_map_varies_over_a_valid_frame_and_sampling_agrees_with_it():
    op, y, _, _ = _camera(size=48)
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=GaussianNoise())
    result = fit_ivb(model, y, progress=False)
    assert result.info["std"] == "sampled" and result.info["std_samples"] == 16
    std = result.std
    # less data at the frame's corners than inside: the std rises towards them
    assert std[:3, :3].mean() > 1.02 * np.median(std[12:-12, 12:-12])
    # interior pixels are exact (the circulant control variate): no Monte-Carlo spread
    assert np.ptp(std[16:-16, 16:-16]) < 1e-3 * np.median(std)
    # Result.draws are exact conditional draws with that std
    draws = result.draws(100, seed=2)["image"]
    np.testing.assert_allclose(draws.std(0).mean(), std.mean(), rtol=0.03)
    np.testing.assert_allclose(draws.mean(0), result.mean, atol=6 * std.max() / 10)
