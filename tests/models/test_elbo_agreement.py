"""One model, one ELBO: IVB's closed-form ELBO equals the Monte-Carlo ``Trace_ELBO`` of the
Pyro model (the uncollapsed scale-mixture model) under a guide of IVB's own family.

The guide holds IVB's final factors: q(x) mean-field Normal, q(w) Gamma per difference, q(γ)
Gamma and, when blind, q(β) Gamma per PSF value and q(k) a full-covariance Normal. The ELBO
E_q[log p(y, z) - log q(z)] is then the same number by both routes, up to Monte-Carlo error.
"""

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch.distributions.transforms import ReshapeTransform

from bayesdeconv import sites
from bayesdeconv.datasets import piecewise_constant_image
from bayesdeconv.infer.blind import fit_sparse_ivb
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import gaussian_psf, motion_psf
from bayesdeconv.priors import sparse
from bayesdeconv.psf_priors import ARDPSFPrior

N, S = 20, 5


def _fit(blind: bool):
    psf = motion_psf(S, 3, 30.0) if blind else gaussian_psf(S, 1.0)
    truth_op = ConvolutionOperator(psf, (N, N), boundary="valid")
    truth = piecewise_constant_image(truth_op.latent_shape, seed=3)
    rng = np.random.default_rng(3)
    y = truth_op.forward(torch.tensor(truth)) + 0.02 * torch.as_tensor(rng.standard_normal((N, N)))
    op = ConvolutionOperator(
        np.full((S, S), 1 / S**2) if blind else psf, (N, N), boundary="valid"
    )
    mask = torch.ones(N, N, dtype=torch.bool)
    mask[8:12, 6:14] = False  # a hole, so the mask path is exercised too
    model = DeconvolutionModel(
        op,
        prior=sparse(scale=0.05, integrate=False),
        noise=GaussianNoise(),
        mask=mask,
        psf_prior=ARDPSFPrior((S, S), integrate=False) if blind else None,
    )
    states = []
    fit_sparse_ivb(
        model,
        y,
        max_iter=6,
        psf_init=psf if blind else "search",
        callback=lambda info: states.append(info["state"]),
        progress=False,
    )
    return model, torch.where(mask, y, torch.zeros_like(y)), states[-1]


def _guide(model: DeconvolutionModel, state):
    """IVB's factors as a Pyro guide."""
    prior = model.prior
    q_gamma = state.q_gamma
    ndim = model.ndim

    def guide(observed=None):
        if model.blind:
            pp = model.psf_prior
            pyro.sample(
                sites.PSF_PRECISION,
                dist.Gamma(torch.full_like(state.beta_rate, pp.shape + 0.5), state.beta_rate)
                .to_event(ndim),
            )
            n = state.psf.numel()
            mvn = dist.MultivariateNormal(state.psf.reshape(-1), covariance_matrix=state.psf_cov)
            reshape = ReshapeTransform((n,), tuple(state.psf.shape))
            pyro.sample(sites.PSF, dist.TransformedDistribution(mvn, [reshape]))
        pyro.sample(
            sites.GRADIENT_PRECISION,
            dist.Gamma(torch.full_like(state.w_rate, prior.shape + 0.5), state.w_rate)
            .to_event(ndim + 1),
        )
        pyro.sample(sites.IMAGE, dist.Normal(state.mean, state.variance.sqrt()).to_event(ndim))
        pyro.sample(
            sites.NOISE_PRECISION,
            dist.Gamma(torch.tensor(q_gamma.shape).double(), torch.tensor(q_gamma.rate).double()),
        )

    return guide


def _monte_carlo_elbo(model, guide, y, batches: int = 20, particles: int = 100):
    loss = pyro.infer.Trace_ELBO(
        num_particles=particles, vectorize_particles=True, max_plate_nesting=0
    )
    with torch.no_grad():
        values = np.array([-loss.loss(model, guide, y) for _ in range(batches)])
    return values.mean(), values.std(ddof=1) / np.sqrt(batches)


@pytest.mark.parametrize("blind", [False, True], ids=["sparse", "blind"])
def test_closed_form_elbo_is_the_monte_carlo_elbo_of_the_pyro_model(blind):
    pyro.set_rng_seed(0)
    model, y, state = _fit(blind)
    estimate, error = _monte_carlo_elbo(model, _guide(model, state), y)
    assert error < 5.0  # the comparison below is sharp: a few nats on |ELBO| of thousands
    assert abs(estimate - state.elbo) < 4 * error + 1e-9 * abs(state.elbo), (
        estimate,
        error,
        state.elbo,
    )


def test_the_comparison_detects_a_wrong_factor():
    """The same check fails when one factor is off (a guide with a wider q(x))."""
    pyro.set_rng_seed(0)
    model, y, state = _fit(False)
    state.variance = state.variance * 1.5
    estimate, error = _monte_carlo_elbo(model, _guide(model, state), y)
    assert abs(estimate - state.elbo) > 10 * error
