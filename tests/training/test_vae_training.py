"""fit_vae: its ELBO against a Monte-Carlo check, learning, the collapse guard, checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

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
        plain = [-Trace_ELBO().loss(program, guide, batch, 4, index, 1.0) for _ in range(400)]
    plain_error = float(np.std(plain)) / math.sqrt(len(plain))
    assert np.mean(plain) == pytest.approx(by_hand, abs=4 * plain_error + 4 * standard_error)


def _seeded_loss(model, prior, batch, size, beta):
    program, guide = _programs(model, prior, train=False)
    pyro.set_rng_seed(7)
    with torch.no_grad():
        return TraceMeanField_ELBO().loss(program, guide, batch, size, torch.arange(len(batch)),
                                          beta)  # fmt: skip


def test_kl_weight_and_plate_scale_enter_the_loss_exactly(data):
    prior = VAEImagePrior.untrained(TINY, seed=0, scale=1.0)
    operator = ConvolutionOperator(data.psf, (32, 32), boundary="valid", dtype=torch.float32)
    model = DeconvolutionModel(operator, prior=prior, noise=GaussianNoise(precision=400.0))
    batch = torch.as_tensor(data.observed[:4], dtype=torch.float32)
    from bayesdeconv.infer._common import start_image

    loc, scale = prior.encode(start_image(model, batch))
    kl = float((0.5 * (loc**2 + scale**2 - 1) - scale.log()).sum())
    full = _seeded_loss(model, prior, batch, 4, 1.0)
    half = _seeded_loss(model, prior, batch, 4, 0.5)
    assert full - half == pytest.approx(0.5 * kl, rel=1e-3)  # same draws: only β·KL differs
    assert _seeded_loss(model, prior, batch, 40, 1.0) == pytest.approx(10 * full, rel=1e-5)


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
    unseen = filament_set("low-noise", 6, (32, 32), seed=500)  # never trained on
    held = torch.as_tensor(unseen.observed, dtype=torch.float32)
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


def test_an_interrupted_training_resumes_from_its_checkpoint(data, tmp_path, monkeypatch):
    checkpoint = tmp_path / "run.npz"
    options = dict(network=TINY, patch=32, batch_size=8, seed=4, kl_warmup=1, min_kl=1e9,
                   lr=2e-3, progress=False)  # fmt: skip
    images = data.observed[:12]
    with pytest.warns(RuntimeWarning, match="collapsed"):
        whole = fit_vae(images, data.psf, epochs=3, **options).training["history"]
        saves = []
        original = VAEImagePrior.save

        def save_then_stop(self, path):  # Ctrl-C right after the second epoch's checkpoint
            original(self, path)
            saves.append(path)
            if len(saves) == 2:
                raise KeyboardInterrupt

        monkeypatch.setattr(VAEImagePrior, "save", save_then_stop)
        with pytest.raises(KeyboardInterrupt):
            fit_vae(images, data.psf, epochs=3, checkpoint=checkpoint, **options)
        monkeypatch.setattr(VAEImagePrior, "save", original)
        resumed = fit_vae(images, data.psf, epochs=3, checkpoint=checkpoint, resume=True,
                          **options).training["history"]  # fmt: skip
    assert [entry["epoch"] for entry in resumed] == [1, 2, 3]
    # the schedule goes on where it stopped: KL weight (with the guard's halving), learning
    # rate, elapsed time; the first two epochs are the uninterrupted run's exactly
    assert [e["beta"] for e in resumed] == pytest.approx([e["beta"] for e in whole])
    assert [e["lr"] for e in resumed] == pytest.approx([e["lr"] for e in whole])
    assert [e["held_out"] for e in resumed[:2]] == [e["held_out"] for e in whole[:2]]
    assert resumed[2]["seconds"] > resumed[1]["seconds"]
    with pytest.raises(ValueError, match="network"):
        fit_vae(images, data.psf, epochs=3, checkpoint=checkpoint, resume=True,
                **{**options, "network": NetworkShape(width=2, latent_channels=2)})  # fmt: skip
    with pytest.raises(ValueError, match="seed, .*psf, l2"):
        fit_vae(images, None, epochs=3, checkpoint=checkpoint, resume=True,
                **{**options, "seed": 5}, l2=1.0)  # fmt: skip


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
