"""Guides by name: Pyro autoguides over the model's own sites."""

import numpy as np
import pyro
import pytest
import torch
from pyro.infer.autoguide import AutoDelta, AutoGuideList, AutoMultivariateNormal, AutoNormal

from bayesdeconv import sites
from bayesdeconv.guides import latent_dimension, make_guide
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf
from bayesdeconv.priors import SmoothPrior, sparse
from bayesdeconv.psf_priors import ARDPSFPrior


def _model(blind: bool = False, shape=(10, 12)) -> DeconvolutionModel:
    op = ConvolutionOperator(gaussian_psf(3, 0.8), shape, boundary="circular")
    return DeconvolutionModel(
        op,
        prior=sparse() if blind else SmoothPrior(),
        noise=GaussianNoise(),
        psf_prior=ARDPSFPrior((3, 3)) if blind else None,
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [("mean-field", AutoNormal), ("map", AutoDelta), ("full", AutoMultivariateNormal)],
)
def test_guides_cover_the_model_sites(name, kind):
    model = _model()
    guide = make_guide(model, name)
    assert isinstance(guide, kind)
    y = torch.zeros(10, 12, dtype=torch.float64)
    trace = pyro.poutine.trace(guide).get_trace(y)
    drawn = {n for n, s in trace.nodes.items() if s["type"] == "sample"}
    assert {sites.IMAGE, sites.IMAGE_PRECISION, sites.NOISE_PRECISION} <= drawn
    assert latent_dimension(model) == 10 * 12 + 2


def test_full_psf_guide_is_a_list_with_the_psf_first():
    """The flat image site of a sparse prior cannot be sampled: its start must be given."""
    start = {sites.IMAGE: torch.zeros(10, 12, dtype=torch.float64)}
    guide = make_guide(_model(blind=True), "full-psf", init_values=start)
    assert isinstance(guide, AutoGuideList) and len(guide) == 2
    y = torch.zeros(10, 12, dtype=torch.float64)
    trace = pyro.poutine.trace(guide).get_trace(y)
    assert sites.PSF in trace.nodes and sites.IMAGE in trace.nodes


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "fourier"}, NotImplementedError, "planned"),
        ({"name": "nonsense"}, ValueError, "unknown guide"),
        ({"name": "full-psf"}, ValueError, "blind"),
        ({"name": "mean-field", "init_scale": 0.0}, ValueError, "init_scale"),
    ],
)
def test_bad_guide_requests_fail_clearly(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_guide(_model(), **kwargs)


def test_full_guide_refuses_large_images():
    with pytest.raises(ValueError, match="covariance"):
        make_guide(_model(shape=(80, 80)), "full")
    assert np.isfinite(latent_dimension(_model(shape=(80, 80))))
