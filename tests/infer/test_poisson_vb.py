"""Closed-form Poisson VB under the Gamma intensity prior (bayesdeconv.infer.poisson_vb)."""

import numpy as np
import pytest
import torch
from scipy.stats import gamma, nbinom

from bayesdeconv.infer.poisson_vb import fit_poisson_vb
from bayesdeconv.likelihoods import GaussianNoise, PoissonNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf
from bayesdeconv.priors import GammaFieldPrior, SmoothPrior


def _model(psf, shape, prior, *, boundary="circular", background=0.0, mask=None):
    op = ConvolutionOperator(psf, shape, boundary=boundary)
    return DeconvolutionModel(op, prior=prior, noise=PoissonNoise(background=background), mask=mask)


def _richardson_lucy(y, psf, iterations, background=0.0):
    """Reference RL, circular boundary: x <- x * C^T (y / (C x + b)) (the PSF sums to 1)."""
    op = ConvolutionOperator(psf, y.shape, boundary="circular")
    x = torch.full(y.shape, float(y.mean()), dtype=torch.float64)
    yt = torch.as_tensor(y)
    out = []
    for _ in range(iterations):
        x = x * op.adjoint(yt / (op.forward(x) + background))
        out.append(x.numpy().copy())
    return out


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(0)
    scene = np.kron(rng.gamma(2.0, 20.0, (8, 8)), np.ones((4, 4)))  # 32x32, mean 40 photons
    psf = gaussian_psf(7, 1.2)
    op = ConvolutionOperator(psf, scene.shape, boundary="circular")
    y = rng.poisson(op.forward(torch.as_tensor(scene)).numpy() + 2.0).astype(float)
    return y, psf, scene


def test_em_with_a_flat_prior_is_richardson_lucy(counts):
    y, psf, _ = counts
    flat = GammaFieldPrior(shape=1.0, rate=1e-300)
    reference = _richardson_lucy(y, psf, 20, background=2.0)
    for iterations in (1, 5, 20):
        model = _model(psf, y.shape, flat, background=2.0)
        fit = fit_poisson_vb(model, y, max_iter=iterations, tol=0, point=True, accelerate=False,
                             progress=False)  # fmt: skip
        np.testing.assert_allclose(fit.mean, reference[iterations - 1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("point", [False, True])
def test_over_relaxation_reaches_the_same_optimum_in_fewer_sweeps(counts, point):
    y, psf, _ = counts
    prior = GammaFieldPrior(shape=1.5, rate=0.02 if point else None)
    fits = {
        accelerate: fit_poisson_vb(
            _model(psf, y.shape, prior, background=2.0),
            y,
            max_iter=3000,
            tol=1e-10,
            accelerate=accelerate,
            progress=False,
        )  # fmt: skip
        for accelerate in (False, True)
    }
    plain, fast = fits[False], fits[True]
    assert plain.converged and fast.converged
    assert fast.n_iter < plain.n_iter / 2
    assert np.all(np.diff(fast.elbo) >= -1e-9 * np.abs(fast.elbo[1:]))
    assert fast.elbo[-1] == pytest.approx(plain.elbo[-1], rel=1e-6)
    np.testing.assert_allclose(fast.mean, plain.mean, rtol=2e-3, atol=1e-2)


def test_single_precision_gives_the_double_precision_fit(counts):
    y, psf, _ = counts
    model = _model(psf, y.shape, GammaFieldPrior(shape=1.5), boundary="valid", background=2.0)
    fits = [fit_poisson_vb(model, y, max_iter=40, tol=0, dtype=dtype, progress=False)
            for dtype in (torch.float64, torch.float32)]  # fmt: skip
    np.testing.assert_allclose(fits[1].mean, fits[0].mean, rtol=1e-3, atol=1e-3)
    assert np.all(np.diff(fits[1].elbo) >= -1e-6 * np.abs(fits[1].elbo[1:]))


def test_without_blur_vb_is_the_exact_conjugate_posterior_and_evidence():
    rng = np.random.default_rng(1)
    y = rng.poisson(5.0, (16, 16)).astype(float)
    delta = np.zeros((3, 3))
    delta[1, 1] = 1.0
    a, beta = 2.0, 0.5
    model = _model(delta, y.shape, GammaFieldPrior(shape=a, rate=beta))
    fit = fit_poisson_vb(model, y, std="mean-field", progress=False)
    np.testing.assert_allclose(fit.mean, (a + y) / (beta + 1.0), rtol=1e-12)
    np.testing.assert_allclose(fit.std, np.sqrt(a + y) / (beta + 1.0), rtol=1e-12)
    # the Laplace std is exact here too, to the accuracy of its interpolated table
    laplace = fit_poisson_vb(model, y, progress=False)
    np.testing.assert_allclose(laplace.std, np.sqrt(a + y) / (beta + 1.0), rtol=1e-5)
    low, high = laplace.credible_interval(0.9)
    np.testing.assert_allclose(low, gamma.ppf(0.05, a + y, scale=1 / (beta + 1)), rtol=1e-4)
    np.testing.assert_allclose(high, gamma.ppf(0.95, a + y, scale=1 / (beta + 1)), rtol=1e-4)
    # the marginal of y_j is negative binomial(a, beta / (beta + 1)): the ELBO is exact
    evidence = nbinom.logpmf(y, a, beta / (beta + 1.0)).sum()
    assert fit.elbo[-1] == pytest.approx(evidence, rel=1e-10)


@pytest.mark.parametrize("boundary", ["circular", "valid"])
def test_elbo_never_decreases_and_the_fit_beats_the_data(counts, boundary):
    y, psf, scene = counts
    if boundary == "valid":
        y, scene = y[3:-3, 3:-3], scene
    mask = np.ones(y.shape, dtype=bool)
    mask[5:9, 10:14] = False
    model = _model(psf, y.shape, GammaFieldPrior(shape=2.0), boundary=boundary,
                   background=2.0, mask=torch.as_tensor(mask))  # fmt: skip
    fit = fit_poisson_vb(model, np.where(mask, y, 0.0), max_iter=60, progress=False)
    assert np.all(np.diff(fit.elbo) >= -1e-9 * np.abs(fit.elbo[1:]))
    truth = scene if boundary == "circular" else scene[3:-3, 3:-3]
    assert np.mean((fit.mean - truth) ** 2) < np.mean((y - 2.0 - truth) ** 2)
    assert (fit.std > 0).all() and fit.draws(3, seed=0)["image"].shape == (3, *y.shape)


@pytest.mark.parametrize(("shape", "scale", "boundary"), [(2.0, 40.0, "circular"),
                                                          (1.0, 4.0, "valid")])  # fmt: skip
def test_90_percent_intervals_cover_90_percent_of_voxels_drawn_from_the_model(
    shape, scale, boundary
):
    rng = np.random.default_rng(3)
    x = rng.gamma(shape, scale, (12, 40, 40))
    psf = np.stack([gaussian_psf(7, 1.2) * w for w in (0.25, 0.5, 0.25)])
    y = rng.poisson(ConvolutionOperator(psf, x.shape).forward(torch.as_tensor(x)).numpy())
    if boundary == "valid":  # the scene beyond the field of view is unobserved
        y, x = y[1:-1, 3:-3, 3:-3], x[1:-1, 3:-3, 3:-3]
    model = _model(psf, y.shape, GammaFieldPrior(shape=shape), boundary=boundary)
    fits = {std: fit_poisson_vb(model, y.astype(float), std=std, progress=False)
            for std in ("laplace", "mean-field")}  # fmt: skip
    coverage = {}
    for std, fit in fits.items():
        low, high = fit.credible_interval(0.9)
        coverage[std] = np.mean((x >= low) & (x <= high))
    assert 0.85 <= coverage["laplace"] <= 0.95, coverage
    assert coverage["mean-field"] < 0.6  # why the Laplace map is the default
    rmse = np.sqrt(np.mean((fits["laplace"].mean - x) ** 2))
    assert np.sqrt(np.mean(fits["laplace"].std ** 2)) == pytest.approx(rmse, rel=0.1)
    draws = fits["laplace"].draws(200, seed=0)["image"]
    np.testing.assert_allclose(draws.std(axis=0).mean(), fits["laplace"].std.mean(), rtol=0.05)


def test_learns_the_gamma_rate_of_data_drawn_from_the_model():
    rng = np.random.default_rng(2)
    a, beta = 3.0, 0.05  # mean intensity 60
    x = rng.gamma(a, 1.0 / beta, (48, 48))
    psf = gaussian_psf(5, 1.0)
    op = ConvolutionOperator(psf, x.shape, boundary="circular")
    y = rng.poisson(op.forward(torch.as_tensor(x)).numpy()).astype(float)
    fit = fit_poisson_vb(_model(psf, y.shape, GammaFieldPrior(shape=a)), y, progress=False)
    assert fit.hyperparameters["image_precision"].mean == pytest.approx(beta, rel=0.05)


def test_refuses_what_it_cannot_fit(counts):
    y, psf, _ = counts
    op = ConvolutionOperator(psf, y.shape)
    gaussian = DeconvolutionModel(op, prior=GammaFieldPrior(), noise=GaussianNoise())
    with pytest.raises(ValueError, match="Poisson counts"):
        fit_poisson_vb(gaussian, y)
    with pytest.raises(ValueError, match="Gamma intensity prior"):
        fit_poisson_vb(_model(psf, y.shape, SmoothPrior()), y)
    with pytest.raises(ValueError, match="negative counts"):
        fit_poisson_vb(_model(psf, y.shape, GammaFieldPrior()), y - 100.0)
    with pytest.raises(ValueError, match="fixed rate"):
        fit_poisson_vb(_model(psf, y.shape, GammaFieldPrior()), y, point=True)
    with pytest.raises(ValueError, match="shape must be positive"):
        GammaFieldPrior(shape=0.0)


def test_deconvolve_runs_it_as_ivb_for_gamma_and_poisson_in_2d_and_3d(counts):
    from bayesdeconv import deconvolve

    y, psf, _ = counts
    result = deconvolve(y, psf, noise="poisson", boundary="circular", steps=3, progress=False)
    assert result.method == "ivb" and result.n_iter == 3  # the Gamma prior is the default
    assert result.info["prior"] == "gamma" and result.mean.dtype == np.float32
    assert "image_precision" in result.hyperparameters
    stack = np.stack([y[:16, :16]] * 4)
    kernel = np.stack([psf] * 3) / 3.0
    result = deconvolve(stack, kernel, prior="gamma", noise="poisson", steps=10, progress=False)
    assert result.mean.shape == stack.shape and (result.mean > 0).all()


def test_em_zeros_give_finite_std_and_point_mass_intervals():
    """An EM (MAP) fit with a shape below 1 sets many voxels to exactly 0: the Laplace map
    stays finite there and the intervals collapse to 0 instead of NaN."""
    psf = gaussian_psf(5, 1.0)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        scene = np.zeros((24, 24))
        scene[rng.integers(0, 24, 6), rng.integers(0, 24, 6)] = 50.0
        op = ConvolutionOperator(psf, scene.shape)
        y = rng.poisson(op.forward(torch.as_tensor(scene)).numpy().clip(0)).astype(float)
        model = _model(psf, y.shape, GammaFieldPrior(shape=0.5, rate=0.1))
        fit = fit_poisson_vb(model, y, point=True, dtype=torch.float32, progress=False)
        low, high = fit.credible_interval(0.9)
        assert np.isfinite(fit.std).all() and np.isfinite(low).all() and np.isfinite(high).all()
        assert np.all(low <= fit.mean + 1e-6) and np.all(high >= fit.mean - 1e-6)


def test_stopping_rule_ignores_voxels_no_data_reach(counts):
    """A masked block wider than the PSF holds the prior mean (huge for a weak rate); the
    stopping rule must not let it hide the change of the observed image: the fit stops after
    as many sweeps, as far from the converged fit, as without the block."""
    y, psf, _ = counts
    runs = {}
    for masked in (False, True):
        mask = np.ones(y.shape, dtype=bool)
        if masked:
            mask[:12, :12] = False
        model = _model(psf, y.shape, GammaFieldPrior(shape=1.0, rate=1e-12), background=2.0,
                       mask=torch.as_tensor(mask))  # fmt: skip
        observed = np.where(mask, y, 0.0)
        fit = fit_poisson_vb(model, observed, progress=False)
        reference = fit_poisson_vb(model, observed, tol=1e-7, max_iter=3000, progress=False)
        gap = np.linalg.norm((fit.mean - reference.mean)[mask])
        runs[masked] = (fit.n_iter, gap / np.linalg.norm(reference.mean[mask]))
    assert runs[True][0] >= 0.7 * runs[False][0]
    assert runs[True][1] <= 1.5 * runs[False][1]
