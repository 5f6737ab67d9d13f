"""Init strategies: the kernel search as a start every engine can use."""

import numpy as np
import torch

from bayesdeconv import sites
from bayesdeconv.datasets import piecewise_constant_image
from bayesdeconv.infer.blind import elbo_score, fit_sparse_ivb, search_start
from bayesdeconv.infer.init import init_to_kernel_search, init_to_value, kernel_search_start
from bayesdeconv.infer.svi import fit_svi
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import motion_psf
from bayesdeconv.priors import sparse
from bayesdeconv.psf_priors import ARDPSFPrior

N, S = 48, 7


def _problem():
    psf = motion_psf(S, 5, 30.0)
    op = ConvolutionOperator(psf, (N, N), boundary="valid")
    truth = piecewise_constant_image(op.latent_shape, seed=2)
    rng = np.random.default_rng(2)
    y = op.forward(torch.tensor(truth)).numpy() + 0.005 * rng.standard_normal((N, N))
    model = DeconvolutionModel(
        ConvolutionOperator(np.full((S, S), 1 / S**2), (N, N), boundary="valid"),
        prior=sparse(),
        noise=GaussianNoise(),
        psf_prior=ARDPSFPrior((S, S)),
    )
    return model, torch.as_tensor(y)


def test_kernel_search_strategy_is_the_scored_search():
    """init_to_kernel_search(score=elbo_score) is exactly search_start: same kernel, same
    scores, and fit_sparse_ivb from the strategy equals psf_init='search'."""
    model, y = _problem()
    kernel, candidates = search_start(model, y)
    strategy = init_to_kernel_search(score=elbo_score)
    start = strategy(model, y)[sites.PSF]
    np.testing.assert_array_equal(start, kernel)
    assert [c["score"] for c in strategy.candidates] == [c["elbo"] for c in candidates]
    a = fit_sparse_ivb(model, y, psf_init="search", max_iter=3, progress=False)
    b = fit_sparse_ivb(model, y, psf_init=strategy, max_iter=3, progress=False)
    np.testing.assert_array_equal(a.psf, b.psf)
    np.testing.assert_array_equal(a.mean, b.mean)


def test_unscored_search_runs_once():
    model, y = _problem()
    _, candidates = kernel_search_start(model, y)
    assert len(candidates) == 1 and np.isnan(candidates[0]["score"])


def test_svi_takes_an_init_strategy():
    """A strategy's values reach the guide: with no steps to move it, the PSF stays there."""
    model, y = _problem()
    start = motion_psf(S, 5, 30.0)
    fit = fit_svi(
        model.with_components(
            operator=ConvolutionOperator(start, (N, N), boundary="valid", dtype=torch.float32),
        ),
        y.float(),
        init=init_to_value({sites.PSF: start}),
        steps=1,
        lr=1e-9,
        progress=False,
        jit=False,
    )
    np.testing.assert_allclose(fit.psf, start, atol=1e-5)
