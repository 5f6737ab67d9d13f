"""Posterior summaries through Predictive; deterministic image sites; fit_svi on any model."""

from __future__ import annotations

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoDelta, AutoMultivariateNormal, AutoNormal

from bayesdeconv import deconvolve, sites
from bayesdeconv.infer.summarise import (
    PosteriorSummary,
    SiteSummary,
    guide_marginals,
    summarise,
)
from bayesdeconv.infer.svi import fit_svi, run_svi
from bayesdeconv.infer.vadam import fit_vadam
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf
from bayesdeconv.priors import ImagePrior, SmoothPrior

K = 6  # latent dimension of the decoder prior


class DecoderPrior(ImagePrior):
    """A latent-variable image prior: ``z ~ N(0, I)``, image = a fixed linear decoder of
    ``z``, emitted as a deterministic site (as a deep-image-prior generator would be)."""

    name = "decoder"

    def decoder(self, shape, *, dtype, device) -> torch.Tensor:
        # a constant of the model (numpy, so that JitTrace_ELBO sees no random op)
        basis = np.random.default_rng(1).standard_normal((K, *shape))
        return torch.as_tensor(basis, dtype=dtype, device=device)

    def sample(self, shape, *, dtype, device) -> torch.Tensor:
        one = torch.ones((), dtype=dtype, device=device)
        z = pyro.sample("z", dist.Normal(0 * one, one).expand([K]).to_event(1))
        basis = self.decoder(tuple(shape), dtype=dtype, device=device)
        return pyro.deterministic(sites.IMAGE, torch.tensordot(z, basis, dims=1))


def _decoder_problem(dtype=torch.float32):
    op = ConvolutionOperator(gaussian_psf(5, 1.0), (12, 12), boundary="valid", dtype=dtype)
    prior = DecoderPrior()
    model = DeconvolutionModel(op, prior=prior, noise=GaussianNoise(precision=400.0))
    z = torch.randn(K, generator=torch.Generator().manual_seed(3), dtype=dtype)
    truth = torch.tensordot(z, prior.decoder(op.latent_shape, dtype=dtype, device="cpu"), dims=1)
    noise = torch.randn(12, 12, generator=torch.Generator().manual_seed(4), dtype=dtype)
    return model, op.forward(truth) + 0.05 * noise, truth


def _smooth_problem(shape=(10, 10)):
    op = ConvolutionOperator(gaussian_psf(5, 1.0), shape, boundary="valid", dtype=torch.float32)
    model = DeconvolutionModel(op, prior=SmoothPrior(epsilon=0.05), noise=GaussianNoise())
    y = op.forward(torch.rand(op.latent_shape, generator=torch.Generator().manual_seed(0)))
    return model, y


def _trained(model, y, guide, steps=200):
    run_svi(
        model,
        guide,
        (y,),
        steps=steps,
        lr=0.02,
        lr_decay=0.1,
        num_particles=1,
        tol=0,
        check_every=100,
        jit=False,
        progress=False,
        max_plate_nesting=0,
    )
    return guide


def test_predictive_estimates_converge_to_the_normal_guides_closed_form():
    """Monte-Carlo summaries (closed_form=False) agree with the guide's exact marginals within
    five standard errors: the mean to sigma / sqrt(S), the std to sigma / sqrt(2 S)."""
    model, y = _smooth_problem()
    guide = _trained(model, y, AutoNormal(model, init_scale=0.05))
    exact = guide_marginals(guide, y)
    n = 2000
    mc = summarise(model, (y,), guide=guide, closed_form=False, num_samples=n, seed=0)
    assert mc.num_samples == n
    assert set(exact) == {sites.IMAGE, sites.IMAGE_PRECISION, sites.NOISE_PRECISION}
    for name in exact:
        assert exact[name].exact and not mc[name].exact
        sd = exact[name].std
        assert np.all(np.abs(mc[name].mean - exact[name].mean) < 5 * sd / math.sqrt(n))
        assert np.all(np.abs(mc[name].std - sd) < 5 * sd / math.sqrt(2 * n))
    # a positive scalar's exact marginal is the guide's log-normal
    q = exact[sites.NOISE_PRECISION].posterior
    assert q.mean == pytest.approx(float(exact[sites.NOISE_PRECISION].mean))
    with_closed_form = summarise(model, (y,), guide=guide, num_samples=8)
    assert with_closed_form.num_samples == 0  # every site had closed-form moments
    np.testing.assert_array_equal(with_closed_form[sites.IMAGE].std, exact[sites.IMAGE].std)


def test_point_mass_guide_has_zero_std_and_one_draw():
    model, y, _ = _decoder_problem()
    guide = _trained(model, y, AutoDelta(model), steps=50)
    summary = summarise(model, (y,), guide=guide, return_sites=[sites.IMAGE, "z"])
    assert summary.num_samples == 1
    assert summary[sites.IMAGE].exact and np.all(summary[sites.IMAGE].std == 0)
    np.testing.assert_array_equal(summary["z"].mean, guide.median(y)["z"].numpy())


def test_deterministic_image_site_is_summarised_by_predictive():
    """The image is a deterministic function of z: its moments come from Predictive draws
    and match the closed form of the linear decoder under the guide's q(z)."""
    model, y, _ = _decoder_problem()
    guide = _trained(model, y, AutoNormal(model, init_scale=0.05))
    n = 1024
    summary = summarise(model, (y,), guide=guide, num_samples=n, seed=1)
    assert list(summary) == ["z", sites.IMAGE]  # latent and deterministic, in model order
    assert summary["z"].exact and not summary[sites.IMAGE].exact
    basis = model.prior.decoder(model.latent_shape, dtype=torch.float64, device="cpu").numpy()
    mean = np.tensordot(summary["z"].mean, basis, axes=1)
    std = np.sqrt(np.tensordot(summary["z"].std ** 2, basis**2, axes=1))
    image = summary[sites.IMAGE]
    assert image.shape == tuple(model.latent_shape)
    assert np.all(np.abs(image.mean - mean) < 5 * std / math.sqrt(n) + 1e-5)
    assert np.all(np.abs(image.std - std) < 5 * std / math.sqrt(2 * n) + 1e-5)
    draws = summary.draws(40, seed=0, crop={sites.IMAGE: (slice(2, 5), slice(0, 4))})
    assert draws[sites.IMAGE].shape == (40, 3, 4) and draws["z"].shape == (40, K)
    again = summary.draws(40, seed=0)
    np.testing.assert_array_equal(again["z"], draws["z"])  # seeded


@pytest.mark.parametrize("engine", ["fit_svi", "deconvolve", "vadam"])
def test_a_generator_prior_needs_no_engine_change(engine):
    model, y, truth = _decoder_problem()
    if engine == "fit_svi":
        result = fit_svi(model, y, steps=1000, seed=0, progress=False)
    elif engine == "vadam":
        result = fit_vadam(model, y, steps=1000, seed=0, progress=False)
    else:
        result = deconvolve(
            y.numpy(),
            gaussian_psf(5, 1.0),
            prior=model.prior,
            noise=GaussianNoise(precision=400.0),
            method="svi",
            steps=1000,
            seed=0,
            progress=False,
        )
    assert result.latent_mean.shape == result.latent_std.shape == tuple(model.latent_shape)
    assert result.mean.shape == result.std.shape == (12, 12)
    assert np.all(result.std > 0) and np.all(np.isfinite(result.std))
    assert result.info.get("summary_samples", 256) > 1
    sample = result.sample(8, seed=0)
    assert sample.shape == (8, 12, 12) and np.all(sample.std(0) > 0)
    # the decoder's fit recovers the scene: a quarter of the error of a constant image
    error = np.abs(result.latent_mean - truth.numpy()).mean()
    assert error < 0.25 * np.abs(truth.numpy() - truth.numpy().mean()).mean()


def test_map_of_a_generator_prior_has_zero_std():
    model, y, _ = _decoder_problem()
    result = fit_svi(model, y, guide="map", steps=100, seed=0, progress=False)
    assert result.method == "map" and np.all(result.std == 0)


def _normal_means(data: torch.Tensor):
    """mu ~ N(0, 10^2); y_i ~ N(mu, 1) in a plate; a deterministic 2 mu."""
    mu = pyro.sample("mu", dist.Normal(torch.tensor(0.0), torch.tensor(10.0)))
    pyro.deterministic("double", 2 * mu)
    with pyro.plate("data", len(data)):
        pyro.sample("y", dist.Normal(mu, 1.0), obs=data)


def test_fit_svi_on_a_model_of_ones_own_reaches_the_exact_posterior():
    data = torch.randn(40, generator=torch.Generator().manual_seed(0)) + 3.0
    precision = 1 / 100 + len(data)
    exact_mean, exact_std = float(data.sum()) / precision, precision**-0.5
    fit = fit_svi(
        _normal_means, data, steps=2000, lr=0.1, num_particles=4, tol=0, seed=0, progress=False
    )
    assert isinstance(fit, PosteriorSummary)
    assert list(fit) == ["mu", "double"] and fit.n_iter == 2000 and fit.elbo.shape == (2000,)
    assert isinstance(fit["mu"], SiteSummary) and fit["mu"].exact
    assert float(fit["mu"].mean) == pytest.approx(exact_mean, abs=0.1 * exact_std)
    assert float(fit["mu"].std) == pytest.approx(exact_std, rel=0.1)
    n = fit.num_samples
    assert float(fit["double"].mean) == pytest.approx(
        2 * exact_mean, abs=0.1 * exact_std + 10 * exact_std / n**0.5
    )
    assert float(fit["double"].std) == pytest.approx(2 * exact_std, rel=0.1 + 5 / (2 * n) ** 0.5)
    draws = fit.draws(16, seed=0)
    np.testing.assert_allclose(draws["double"], 2 * draws["mu"], rtol=1e-6)
    with pytest.raises(TypeError):
        fit.sites["mu"] = None


def test_fit_svi_on_a_model_of_ones_own_takes_guides_and_checks_them():
    data = torch.randn(10, generator=torch.Generator().manual_seed(1))
    point = fit_svi(_normal_means, data, guide="map", steps=1000, lr=0.1, seed=0, progress=False)
    assert point["mu"].exact and float(point["mu"].std) == 0
    assert float(point["mu"].mean) == pytest.approx(
        float(data.sum()) / (len(data) + 0.01), abs=0.05
    )
    full = fit_svi(
        _normal_means,
        data,
        guide=AutoMultivariateNormal(_normal_means),
        steps=300,
        seed=0,
        progress=False,
    )
    assert full["mu"].exact and float(full["mu"].std) > 0
    started = fit_svi(
        _normal_means,
        data,
        steps=1,
        lr=1e-9,
        init={"mu": 5.0},
        seed=0,
        jit=False,
        progress=False,
    )
    assert float(started["mu"].mean) == pytest.approx(5.0, abs=1e-4)
    with pytest.raises(ValueError, match="guide object"):
        fit_svi(_normal_means, data, guide="full", steps=1, progress=False)
    with pytest.raises(ValueError, match="init_loc_fn"):
        fit_svi(_normal_means, data, guide=AutoNormal(_normal_means), init={"mu": 1.0}, steps=1)
    with pytest.raises(TypeError, match="image only"):
        model, y = _smooth_problem()
        fit_svi(model, y, y, steps=1, progress=False)


def test_generic_fit_keeps_the_users_parameter_store_and_its_nan_guard(monkeypatch):
    pyro.param("user_param", torch.ones(1))
    data = torch.randn(5, generator=torch.Generator().manual_seed(2))
    fit_svi(_normal_means, data, steps=20, seed=0, progress=False).draws(3, seed=0)
    assert list(pyro.get_param_store().keys()) == ["user_param"]
    monkeypatch.setattr(pyro.infer.SVI, "step", lambda self, *a, **k: float("nan"))
    with pytest.raises(FloatingPointError, match="diverged at step 0"):
        fit_svi(_normal_means, data, steps=10, progress=False)
