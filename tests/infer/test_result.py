"""Result as an immutable record with typed fields, and the PSF posterior draws of blind fits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bayesdeconv import Result, sites
from bayesdeconv.datasets import piecewise_constant_image
from bayesdeconv.infer import fit_exact, fit_ivb
from bayesdeconv.infer.blind import fit_sparse_ivb
from bayesdeconv.infer.gibbs import gibbs_sparse
from bayesdeconv.infer.svi import fit_svi
from bayesdeconv.infer.vadam import fit_vadam
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf
from bayesdeconv.physics.psf import motion_psf
from bayesdeconv.priors import SmoothPrior, piecewise
from bayesdeconv.psf_priors import ARDPSFPrior

N, S = 32, 7


def _smooth_problem():
    op = ConvolutionOperator(gaussian_psf(5, 1.0), (12, 12), boundary="circular")
    model = DeconvolutionModel(
        op, prior=SmoothPrior(precision=100.0), noise=GaussianNoise(precision=2500.0)
    )
    y = op.forward(
        torch.rand(12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    )
    return model, y


@pytest.fixture(scope="module")
def blind_problem():
    psf = motion_psf(S, 5, 30.0)
    op = ConvolutionOperator(psf, (N, N), boundary="valid")
    truth = piecewise_constant_image(op.latent_shape)
    rng = np.random.default_rng(2)
    y = op.forward(torch.tensor(truth)).numpy() + 0.01 * rng.standard_normal((N, N))
    start = np.full((S, S), 1.0 / S**2)
    model = DeconvolutionModel(
        ConvolutionOperator(start, (N, N), boundary="valid"),
        prior=piecewise(),
        noise=GaussianNoise(),
        psf_prior=ARDPSFPrior((S, S)),
    )
    return model, y, psf


@pytest.fixture(scope="module")
def blind_ivb(blind_problem):
    model, y, psf = blind_problem
    return {
        cov: fit_sparse_ivb(model, y, psf_init=psf, psf_covariance=cov, max_iter=8, progress=False)
        for cov in ("full", "diagonal")
    }


def test_result_is_immutable_and_replace_builds_copies():
    model, y = _smooth_problem()
    result = fit_ivb(model, y, progress=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.method = "svi"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.mean = result.mean * 0
    with pytest.raises(TypeError):
        result.info["covariance"] = "diagonal"  # a read-only mapping
    assert result.info["covariance"] == "fourier"
    copy = dataclasses.replace(result, method="renamed")
    assert copy.method == "renamed" and result.method == "ivb"
    assert copy.mean is result.mean and copy.info == result.info
    assert result.samples is None and result.log_evidence is None and result.burn_in is None
    assert not result.blind and result.psf_covariance is None


def test_fit_exact_is_a_typed_copy_of_the_ivb_result():
    model, y = _smooth_problem()
    exact = fit_exact(model, y)
    assert exact.method == "exact"
    assert exact.elbo[-1] == pytest.approx(exact.log_evidence, rel=1e-12)
    assert "log_evidence" not in exact.info


def test_known_psf_draws_are_that_psf():
    model, y = _smooth_problem()
    result = fit_ivb(model, y, progress=False)
    assert sites.PSF not in result.draws(3, seed=0)
    draws = result.psf_draws(4, seed=0)
    assert draws.shape == (4, 5, 5)
    np.testing.assert_array_equal(draws, np.broadcast_to(result.psf, draws.shape))


@pytest.mark.parametrize("cov", ["full", "diagonal"])
def test_ivb_psf_draws_follow_the_gaussian_q_k(blind_ivb, cov):
    """Sample mean and covariance of the PSF draws match q(k) = N(mu_k, Sigma_k) within
    five Monte-Carlo standard errors."""
    result = blind_ivb[cov]
    assert result.blind and result.method == "ivb"
    sigma = result.psf_covariance
    d = S * S
    assert sigma.shape == ((d, d) if cov == "full" else (d,))
    full = sigma if cov == "full" else np.diag(sigma)
    n = 20000
    draws = result.draws(n, seed=1)
    assert draws[sites.PSF].shape == (n, S, S)
    assert draws[sites.IMAGE].shape == (n, N, N)
    flat = result.psf_draws(n, seed=2).reshape(n, d)
    var = np.diag(full)
    np.testing.assert_array_less(np.abs(flat.mean(0) - result.psf.ravel()), 5 * np.sqrt(var / n))
    centred = flat - result.psf.ravel()
    sample_cov = centred.T @ centred / n
    se = np.sqrt((np.outer(var, var) + full**2) / n)
    np.testing.assert_array_less(np.abs(sample_cov - full), 5 * se + 1e-300)
    np.testing.assert_allclose(np.sqrt(var), result.psf_std.ravel(), rtol=1e-6)


def test_gibbs_blind_draws_repeat_the_psf_it_is_conditional_on(blind_problem, blind_ivb):
    model, y, _ = blind_problem
    result = gibbs_sparse(
        model, y, init=blind_ivb["full"], num_samples=4, burn_in=1, progress=False
    )
    assert result.blind and result.burn_in == 1 and result.samples.shape == (4, N, N)
    psf = result.draws(3, seed=0)[sites.PSF]
    np.testing.assert_array_equal(psf, np.broadcast_to(blind_ivb["full"].psf, (3, S, S)))


def test_svi_and_vadam_blind_draws_include_the_psf(blind_problem):
    model, y, psf = blind_problem
    model32 = model.with_components(
        operator=ConvolutionOperator(
            np.full((S, S), 1.0 / S**2), (N, N), boundary="valid", dtype=torch.float32
        )
    )
    y32 = torch.as_tensor(y, dtype=torch.float32)
    for fit in (
        fit_svi(model32, y32, steps=20, init={sites.PSF: psf}, seed=0, progress=False),
        fit_svi(
            model32,
            y32,
            guide="full-psf",
            steps=20,
            init={sites.PSF: psf},
            seed=0,
            progress=False,
        ),
        fit_vadam(model32, y32, steps=20, init={sites.PSF: psf}, seed=0, progress=False),
    ):
        assert fit.blind
        draws = fit.draws(400, seed=0, region=(slice(3, 7), slice(0, 5)))
        assert draws[sites.PSF].shape == (400, S, S)
        assert draws[sites.IMAGE].shape == (400, 4, 5)
        # the draws scatter around the reported PSF mean with the reported std
        spread = draws[sites.PSF].std(0)
        np.testing.assert_allclose(spread, fit.psf_std, rtol=0.25, atol=1e-7)
        np.testing.assert_allclose(
            draws[sites.PSF].mean(0), fit.psf, atol=5 * fit.psf_std.max() / 20 + 1e-7
        )


def test_hand_made_results_still_construct():
    """Positional construction with the original fields keeps working (user code)."""
    result = Result(
        np.zeros((2, 2)),
        np.ones((2, 2)),
        np.ones((1, 1)),
        np.zeros((1, 1)),
        np.zeros(1),
        np.zeros((2, 2)),
        "ivb",
        {},
        np.zeros((2, 2)),
        np.ones((2, 2)),
        1,
        True,
        0.0,
    )
    assert dict(result.info) == {}
    with pytest.raises(TypeError):
        result.info["note"] = 1
    with pytest.raises(ValueError, match="no sampler"):
        result.draws(1)
