"""deconvolve with a parametric PSF: the evidence engine (NUTS, image integrated out) and the
engine choice for the models it cannot fit."""

import functools

import arviz as az
import numpy as np
import pytest
import torch

from bayesdeconv import deconvolve
from bayesdeconv.api import select_engine
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf
from bayesdeconv.priors import SmoothPrior
from bayesdeconv.psf_priors import GaussianPSF

TRUE_SIGMA = 1.6


@functools.lru_cache(maxsize=1)
def _prior_draw(size=32):
    torch.manual_seed(0)
    op = ConvolutionOperator(gaussian_psf(9, TRUE_SIGMA), (size, size), boundary="circular")
    prior = SmoothPrior(precision=400.0, epsilon=1e-2)
    x = prior.distribution(torch.tensor(400.0, dtype=torch.float64), (size, size)).sample()
    return (op.forward(x) + 0.01 * torch.randn(size, size, dtype=torch.float64)).numpy()


@functools.lru_cache(maxsize=1)
def _fit():
    return deconvolve(
        _prior_draw(),
        GaussianPSF(9, isotropic=True),
        boundary="circular",
        steps=80,
        seed=0,
        progress=False,
    )


def test_default_engine_for_a_parametric_psf_recovers_the_width_with_an_interval():
    result = _fit()
    assert result.method == "evidence" and result.blind
    sigma = result.psf_parameters["psf_sigma"]
    assert sigma.mean == pytest.approx(TRUE_SIGMA, rel=0.1)
    low, high = np.quantile(sigma.values, [0.05, 0.95])
    assert low <= TRUE_SIGMA <= high
    assert result.psf.shape == (9, 9) and result.psf.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.isfinite(result.mean).all() and (result.std > 0).all()


def test_arviz_summary_lists_the_psf_parameter_with_the_precisions():
    summary = az.summary(_fit().to_arviz())
    assert list(summary.index) == ["noise_precision", "image_precision", "psf_sigma"]
    assert summary.loc["psf_sigma", "mean"] == pytest.approx(TRUE_SIGMA, rel=0.1)


@pytest.mark.parametrize(
    ("boundary", "masked", "reason"),
    [("valid", False, "circular"), ("circular", True, "no mask")],
)
def test_other_parametric_models_fall_back_to_svi_with_the_reason(boundary, masked, reason):
    op = ConvolutionOperator(np.full((9, 9), 1 / 81), (16, 16), boundary=boundary)
    mask = None
    if masked:
        mask = torch.ones(16, 16, dtype=torch.bool)
        mask[3, 4] = False
    model = DeconvolutionModel(
        op, prior=SmoothPrior(), noise=GaussianNoise(), mask=mask, psf_prior=GaussianPSF(9)
    )
    assert select_engine(model).name == "svi"
    with pytest.raises(ValueError, match=reason):
        select_engine(model, "evidence")
    with pytest.raises(ValueError, match="method='ivb' cannot fit this model"):
        select_engine(model, "ivb")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"psf_size": 9}, "psf_size comes from the parametric PSF prior"),
        ({"psf_init": "pyramid"}, "apply to non-parametric blind fits"),
        ({"method": "vadam"}, "parameters of a parametric PSF"),
    ],
)
def test_parametric_psf_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        deconvolve(_prior_draw(16), GaussianPSF(9), progress=False, **kwargs)
