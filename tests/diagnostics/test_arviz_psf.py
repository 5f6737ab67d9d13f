"""ArviZ export of blind results: the estimated PSF is a posterior variable."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from bayesdeconv.datasets import piecewise_constant_image
from bayesdeconv.diagnostics import save_arviz, to_arviz
from bayesdeconv.infer.blind import fit_sparse_ivb
from bayesdeconv.infer.gibbs import gibbs_sparse
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import motion_psf
from bayesdeconv.priors import piecewise
from bayesdeconv.psf_priors import ARDPSFPrior

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

N, S = 32, 7


@pytest.fixture(scope="module")
def blind():
    psf = motion_psf(S, 5, 30.0)
    op = ConvolutionOperator(psf, (N, N), boundary="valid")
    truth = piecewise_constant_image(op.latent_shape)
    y = op.forward(torch.tensor(truth)).numpy()
    y = y + 0.01 * np.random.default_rng(0).standard_normal((N, N))
    model = DeconvolutionModel(
        ConvolutionOperator(np.full((S, S), 1.0 / S**2), (N, N), boundary="valid"),
        prior=piecewise(),
        noise=GaussianNoise(),
        psf_prior=ARDPSFPrior((S, S)),
    )
    result = fit_sparse_ivb(model, y, psf_init=psf, max_iter=5, progress=False)
    return model, y, result


def test_blind_export_has_psf_draws_in_the_posterior(blind, tmp_path):
    _, _, result = blind
    n = 400
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idata = to_arviz(result, n // 4, seed=0)  # the default: no pixels, 4 chains
        default_summary = az.summary(idata)
    hyper = list(result.hyperparameters)
    assert list(idata.posterior.data_vars) == [*hyper, "psf"]
    # the hyper-parameters first, then every PSF entry, and no pixel
    assert list(default_summary.index[: len(hyper)]) == hyper
    assert len(default_summary) == len(hyper) + S * S
    assert not any(label.startswith("image") for label in default_summary.index)
    assert set(idata.groups()) == {"posterior", "observed_data", "sample_stats"}
    psf = idata.posterior["psf"]
    assert psf.dims == ("chain", "draw", "psf_y", "psf_x")
    assert psf.shape == (4, n // 4, S, S)
    # draws, not a point: they spread like the PSF posterior
    spread = psf.std(("chain", "draw")).values
    np.testing.assert_allclose(spread, result.psf_std, rtol=0.25, atol=1e-6)
    np.testing.assert_array_equal(psf["psf_y"], np.arange(S))
    se = result.psf_std / np.sqrt(n)
    np.testing.assert_array_less(np.abs(psf.mean(("chain", "draw")).values - result.psf), 5 * se)
    summary = az.summary(idata, var_names=["psf"], kind="stats")
    assert len(summary) == S * S
    back = az.from_netcdf(save_arviz(idata, tmp_path / "blind.nc"))
    np.testing.assert_array_equal(back.posterior["psf"].values, psf.values)


def test_windowed_blind_export_keeps_the_whole_psf(blind):
    _, _, result = blind
    with pytest.warns(UserWarning, match="central window"):
        idata = to_arviz(result, 5, pixels=True, max_pixels=64, seed=0)
    assert idata.posterior["image"].shape == (4, 5, 8, 8)
    assert idata.posterior["psf"].shape == (4, 5, S, S)


def test_gibbs_blind_export_keeps_its_fixed_psf_as_data(blind):
    """A Gibbs chain is conditional on one PSF: it is data, not a posterior variable."""
    model, y, result = blind
    chain = gibbs_sparse(model, y, init=result, num_samples=3, burn_in=0, progress=False)
    idata = to_arviz(chain, chains=1, seed=0)
    assert "psf" not in idata.posterior
    assert idata.posterior["noise_precision"].shape == (1, 3)
    np.testing.assert_array_equal(idata.constant_data["psf"].values, result.psf)
