"""fit_vae: its ELBO against a Monte-Carlo check, learning, the collapse guard, checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pyro.infer import Trace_ELBO

from bayesdeconv.diagnostics.filament_sets import filament_set
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.priors import NetworkShape, VAEImagePrior
from bayesdeconv.training import fit_vae
from bayesdeconv.training.vae import _programs, patches, vae_loss

TINY = NetworkShape(width=4, depth=2, latent_channels=2)


@pytest.fixture(scope="module")
def data():
    return filament_set("low-noise", 24, (32, 32), seed=0)


def test_the_training_elbo_matches_a_monte_carlo_check(data):
    prior = VAEImagePrior.untrained(TINY, seed=0, scale=1.0)
    sigma = 0.05
    operator = ConvolutionOperator(data.psf, (32, 32), boundary="valid", dtype=torch.float32)
    model = DeconvolutionModel(operator, prior=prior, noise=GaussianNoise(precision=sigma**-2))
    batch = torch.as_tensor(data.observed[:4], dtype=torch.float32)
    # by hand: E_q[log N(y; A s g(z), σ²)] - KL(q || N(0, I)), 4000 draws of z
    from bayesdeconv.infer._common import start_image

    loc, scale = prior.encode(start_image(model, batch))
    kl = (0.5 * (loc**2 + scale**2 - 1) - scale.log()).sum((1, 2, 3))
    draws = []
    for _ in range(40):
        z = loc + scale * torch.randn(100, *loc.shape)
        mean = operator(prior.decode(z, operator.latent_shape))
        log_lik = torch.distributions.Normal(mean, sigma).log_prob(batch).sum((-2, -1))
        draws.append(log_lik)
    log_lik = torch.cat(draws)  # (4000, 4)
    by_hand = float((log_lik.mean(0) - kl).sum())
    standard_error = float(log_lik.sum(1).std()) / math.sqrt(len(log_lik))
    # the training objective: analytic KL, one draw per call, so average many calls
    ours = -np.mean([vae_loss(prior, model, batch) * batch.numel() for _ in range(400)])
    assert ours == pytest.approx(by_hand, abs=4 * standard_error * math.sqrt(4000 / 400))
    # and Pyro's plain Monte-Carlo ELBO (sampled KL) of the same program agrees
    program, guide = _programs(model, prior, train=False)
    index = torch.arange(4)
    with torch.no_grad():
        plain = -np.mean(
            [Trace_ELBO().loss(program, guide, batch, 4, index, 1.0) for _ in range(400)]
        )
    assert plain == pytest.approx(by_hand, rel=0.02)


def test_training_lowers_the_held_out_loss(data):
    prior = fit_vae(data.observed, data.psf, network=TINY, patch=32, epochs=6, batch_size=8,
                    lr=3e-3, held_out=0.25, progress=False)  # fmt: skip
    history = prior.training["history"]
    assert len(history) == 6 and prior.psf is not None
    first, last = history[0]["held_out"], history[-1]["held_out"]
    # an untrained pair is far worse than the trained one on the same held-out patches
    operator = ConvolutionOperator(data.psf, (32, 32), boundary="valid", dtype=torch.float32)
    noise = GaussianNoise(precision=1 / 0.02**2)
    model = DeconvolutionModel(operator, prior=prior, noise=noise)
    fresh = VAEImagePrior.untrained(TINY, seed=0, scale=prior.scale, psf=prior.psf)
    held = torch.as_tensor(data.observed[:6], dtype=torch.float32)
    untrained = vae_loss(fresh, model.with_components(prior=fresh), held)
    assert last < first - 0.5
    assert vae_loss(prior, model, held) < untrained - 1.0


def test_denoising_and_deblurring_are_the_same_code(data):
    denoiser = fit_vae(data.observed[:8], None, network=TINY, patch=32, epochs=1,
                       progress=False)  # fmt: skip
    assert denoiser.psf is None and denoiser.training["history"][0]["epoch"] == 1


def test_the_collapse_guard_lowers_the_kl_weight_and_warns(data):
    with pytest.warns(RuntimeWarning, match="collapsed"):
        prior = fit_vae(data.observed[:8], data.psf, network=TINY, patch=32, epochs=3,
                        kl_warmup=1, min_kl=1e9, progress=False)  # fmt: skip
    history = prior.training["history"]
    assert all(entry["collapsed"] for entry in history)
    assert [entry["beta"] for entry in history] == pytest.approx([1.0, 0.5, 0.25])


def test_an_interrupted_training_resumes_from_its_checkpoint(data, tmp_path):
    checkpoint = tmp_path / "run.npz"
    options = dict(network=TINY, patch=32, batch_size=8, seed=4, progress=False)
    fit_vae(data.observed[:12], data.psf, epochs=2, checkpoint=checkpoint, **options)
    saved = VAEImagePrior.load(checkpoint).training["history"]
    resumed = fit_vae(data.observed[:12], data.psf, epochs=3, checkpoint=checkpoint, resume=True,
                      **options)  # fmt: skip
    history = resumed.training["history"]
    assert [entry["epoch"] for entry in history] == [1, 2, 3]
    assert history[:2] == saved
    with pytest.raises(ValueError, match="another network or patch"):
        fit_vae(data.observed[:12], data.psf, epochs=3, checkpoint=checkpoint, resume=True,
                network=NetworkShape(width=2, latent_channels=2), patch=32, progress=False)  # fmt: skip


def test_bad_training_input_is_refused():
    with pytest.raises(ValueError, match="no training images"):
        patches([], 32)
    with pytest.raises(ValueError, match="smaller than the patch"):
        patches([np.zeros((16, 16))], 32)
    with pytest.raises(ValueError, match="NaN"):
        patches([np.full((32, 32), np.nan)], 32)
    with pytest.raises(ValueError, match="multiple of 4"):
        fit_vae([np.zeros((32, 32))], None, patch=30, progress=False)
    with pytest.raises(ValueError, match="is 3-D"):
        patches([np.zeros((2, 32, 32))], 32)
