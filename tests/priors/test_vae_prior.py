"""The VAE image prior: its Gaussian oracle, penalties, files and refusals."""

from __future__ import annotations

import socket

import numpy as np
import pyro
import pytest
import torch
from torch import nn

from bayesdeconv import deconvolve, sites
from bayesdeconv.infer.svi import fit_svi
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator, psf_to_otf
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.priors import VAEImagePrior
from bayesdeconv.priors.vae_networks import NetworkShape


class _Identity(nn.Module):
    """x = z: with z ~ N(0, I) the VAE prior is the Gaussian N(0, s² I)."""

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return code


def _identity_prior(scale: float) -> VAEImagePrior:
    return VAEImagePrior(
        _Identity(), network=NetworkShape(width=1, depth=0, latent_channels=1), scale=scale
    )


def _exact_gaussian(y: np.ndarray, psf: np.ndarray, gamma: float, scale: float):
    """Posterior of x ~ N(0, s² I), y = k ⊛ x + n (circular), n ~ N(0, 1/γ): its mean and the
    mean-field std (the inverse root of the precision's diagonal)."""
    otf = psf_to_otf(torch.as_tensor(psf), y.shape).numpy()
    spectrum = np.fft.rfft2(y)
    precision = gamma * np.abs(otf) ** 2 + 1.0 / scale**2
    mean = np.fft.irfft2(gamma * np.conj(otf) * spectrum / precision, s=y.shape)
    diagonal = gamma * float((psf**2).sum()) + 1.0 / scale**2
    return mean, np.full(y.shape, diagonal**-0.5)


def test_identity_decoder_reaches_the_exact_gaussian_posterior():
    rng = np.random.default_rng(0)
    psf = gaussian_psf(5, 1.0)
    scale, gamma = 0.5, 400.0
    x = scale * rng.standard_normal((16, 16))
    operator = ConvolutionOperator(psf, x.shape, boundary="circular", dtype=torch.float32)
    y = operator(torch.as_tensor(x, dtype=torch.float32)).numpy()
    y = y + rng.standard_normal(y.shape) / np.sqrt(gamma)
    model = DeconvolutionModel(
        operator, prior=_identity_prior(scale), noise=GaussianNoise(precision=gamma)
    )
    result = fit_svi(model, y, steps=3000, lr=0.05, lr_decay=0.001, num_particles=4, tol=0,
                     seed=1, summary_samples=4000, progress=False)  # fmt: skip
    mean, std = _exact_gaussian(y.astype(np.float64), psf, gamma, scale)
    # the image is a deterministic site, summarised from 4000 draws: a Monte-Carlo error of
    # std/63 per pixel, so an error of 0.1 std anywhere is the fit's own
    error = np.abs(result.mean - mean) / std
    assert error.max() < 0.1 and np.sqrt((error**2).mean()) < 0.04
    assert np.median(result.std / std) == pytest.approx(1.0, abs=0.03)
    # the prior alone is a much worse answer: the comparison can fail
    assert np.abs(y - mean).max() > 0.5 * std[0, 0]


def test_penalty_factor_is_the_direct_sum():
    prior = VAEImagePrior.untrained(
        NetworkShape(width=2, latent_channels=2), l1=0.3, l2=0.2, positivity=5.0
    )
    x = torch.tensor([[[-1.0, 2.0], [0.5, -0.25]]])
    expected = -(0.3 * 3.75 + 0.2 * (1 + 4 + 0.25 + 0.0625) + 5.0 * (1 + 0.0625))
    assert float(prior.log_penalty(x)[0]) == pytest.approx(expected)
    trace = pyro.poutine.trace(
        lambda: prior.sample((8, 8), dtype=torch.float32, device="cpu")
    ).get_trace()
    image = trace.nodes[sites.IMAGE]["value"]
    node = trace.nodes[sites.IMAGE_PENALTY]
    factor = node["fn"].log_prob(node["value"])
    assert float(factor) == pytest.approx(float(prior.log_penalty(image)), rel=1e-5)


def test_positivity_constraint_holds_for_every_sample():
    rng = np.random.default_rng(2)
    y = rng.standard_normal((24, 24)) - 1.0  # far from positive: the data pull below zero
    base = VAEImagePrior.untrained(NetworkShape(width=4, latent_channels=2))
    with torch.no_grad():
        base.decoder.head.bias.fill_(-1.0)  # the unconstrained decoder starts negative
    psf = gaussian_psf(5, 1.0)
    for positivity in ("constraint", None):
        prior = VAEImagePrior(base.decoder, encoder=base.encoder, positivity=positivity)
        result = deconvolve(y, psf, prior=prior, steps=30, seed=0, progress=False)
        draws = result.sample(50, seed=0)
        if positivity:
            assert draws.min() >= 0 and result.mean.min() >= 0
        else:
            assert draws.min() < 0  # without it the same networks go negative: can fail


def test_files_round_trip_and_the_shipped_model_loads_offline(tmp_path, monkeypatch):
    prior = VAEImagePrior.untrained(
        NetworkShape(width=4, latent_channels=3),
        seed=3,
        scale=2.0,
        l2=0.1,
        psf=gaussian_psf(5, 1.0),
        description="test",
    )
    path = prior.save(tmp_path / "model.npz")
    loaded = VAEImagePrior.load(path)
    z = torch.randn(3, 5, 5)
    assert torch.equal(prior.decode(z, (20, 20)), loaded.decode(z, (20, 20)))
    assert loaded.l2 == 0.1 and loaded.description == "test" and loaded.psf.shape == (5, 5)

    def refuse(*args, **kwargs):
        raise OSError("no network here")

    monkeypatch.setattr(socket, "socket", refuse)
    shipped = VAEImagePrior.shipped()
    assert shipped.encoder is not None and shipped.psf is not None


def test_bad_files_and_mismatches_give_clear_errors(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.npz is not a bayesdeconv VAE model"):
        VAEImagePrior.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        VAEImagePrior.load(tmp_path / "missing.npz")
    # weights of one network shape under the settings of another
    prior = VAEImagePrior.untrained(NetworkShape(width=4, latent_channels=3))
    path = prior.save(tmp_path / "model.npz")
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["meta"] = str(arrays["meta"]).replace('"width": 4', '"width": 8')
    np.savez(tmp_path / "other.npz", **arrays)
    with pytest.raises(ValueError, match="other.npz is not a bayesdeconv VAE model"):
        VAEImagePrior.load(tmp_path / "other.npz")


def test_a_model_trained_for_one_psf_refuses_another():
    psf = gaussian_psf(7, 1.2)
    prior = VAEImagePrior.untrained(NetworkShape(width=2, latent_channels=2), psf=psf)
    y = np.random.default_rng(0).random((32, 32))
    with pytest.raises(ValueError, match="train-vae"):
        deconvolve(y, gaussian_psf(7, 2.0), prior=prior, progress=False)
    with pytest.raises(ValueError, match="train-vae"):
        deconvolve(y, gaussian_psf(9, 1.2), prior=prior, progress=False)
    accepting = VAEImagePrior.untrained(
        NetworkShape(width=2, latent_channels=2), psf=psf, any_psf=True
    )
    result = deconvolve(y, gaussian_psf(7, 2.0), prior=accepting, steps=2, progress=False)
    assert result.mean.shape == y.shape
    with pytest.raises(ValueError, match="2-D images"):
        deconvolve(
            np.random.default_rng(0).random((8, 16, 16)),
            np.ones((1, 1, 1)),
            prior=accepting,
            progress=False,
        )
    with pytest.raises(ValueError, match="known PSF"):
        deconvolve(y, None, psf_size=5, prior=accepting, method="svi", progress=False)


def test_the_encoder_start_is_the_amortised_posterior_and_steps_zero_keeps_it():
    prior = VAEImagePrior.untrained(NetworkShape(width=4, latent_channels=2), seed=1)
    y = np.random.default_rng(1).random((16, 16))
    operator = ConvolutionOperator(np.ones((1, 1)), y.shape, dtype=torch.float32)
    model = DeconvolutionModel(operator, prior=prior, noise=GaussianNoise(precision=100.0))
    result = fit_svi(model, y, steps=0, summary_samples=2000, seed=0, progress=False)
    loc, scale = prior.encode(torch.as_tensor(y, dtype=torch.float32))
    draws = prior.decode(loc + scale * torch.randn(4000, *loc.shape), y.shape)
    assert len(result.elbo) == 1 and result.n_iter == 0
    # the guide starts at the encoder's scales too: the spread is the encoder's
    assert np.median(result.std / draws.std(0).numpy()) == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(
        result.mean, draws.mean(0).numpy(), atol=5 * float(draws.std(0).max()) / np.sqrt(2000)
    )


def test_a_trained_denoiser_accepts_only_a_delta_psf():
    prior = VAEImagePrior.untrained(NetworkShape(width=2, latent_channels=2))
    prior.training = {"history": [{"epoch": 1}]}  # as fit_vae(psf=None) leaves it
    y = np.random.default_rng(0).random((32, 32))
    with pytest.raises(ValueError, match="trained without a PSF"):
        deconvolve(y, gaussian_psf(5, 1.0), prior=prior, progress=False)
    delta = np.zeros((3, 3))
    delta[1, 1] = 1.0
    assert deconvolve(y, delta, prior=prior, steps=2, progress=False).mean.shape == y.shape
