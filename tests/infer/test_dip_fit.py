"""SelfDeblur (MAP) and the variational DIP (SVI) through fit_dip and deconvolve."""

import numpy as np
import pyro
import pytest
import torch
from scipy.signal import convolve2d

from bayesdeconv import deconvolve
from bayesdeconv.diagnostics.levin import kernel_ncc, score
from bayesdeconv.guides import DIPGuide
from bayesdeconv.infer.dip import fit_dip
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.priors import DeepImagePrior, DIPSchedule, GeneratorShape, VariationalDIP, sparse

TINY = GeneratorShape(width=4, depth=2, skip=2, input_channels=2)
QUICK = DIPSchedule(steps=20, milestones=(10,), ssim_after=10, pretrain=5)


@pytest.fixture(scope="module")
def blind_case():
    """A 64² photograph blurred by a 7×7 L-shaped kernel, 0.5 % noise, valid borders."""
    from skimage.data import camera
    from skimage.transform import resize

    x = resize(camera() / 255.0, (64, 64), anti_aliasing=True)
    k = np.zeros((7, 7))
    k[3, 1:6] = 1
    k[2, 1] = 1
    k /= k.sum()
    y = convolve2d(x, k, mode="valid")
    y = y + 0.005 * np.random.default_rng(0).standard_normal(y.shape)
    return x[3:-3, 3:-3], k, y


def test_variational_dip_recovers_a_blind_kernel(blind_case):
    sharp, k, y = blind_case
    schedule = DIPSchedule(steps=400, lr_psf=1e-3, milestones=(200,), ssim_after=None,
                           pretrain=40)  # fmt: skip
    prior = VariationalDIP(sparse(scale=0.02), GeneratorShape(8, 3, 4, 4), schedule)
    result = deconvolve(y, psf_size=7, prior=prior, seed=0, progress=False)
    assert result.method == "svi" and result.blind
    delta = np.zeros_like(k)
    delta[3, 3] = 1
    ncc = kernel_ncc(result.psf, k)
    assert ncc > 0.75 > kernel_ncc(delta, k) + 0.3  # far from the no-blur kernel
    blurred = score(y, sharp, crop=4, max_shift=3)["psnr"]
    assert score(result.mean, sharp, crop=4, max_shift=3)["psnr"] > blurred + 2.0
    assert (result.std > 0).all()
    assert abs(result.psf.sum() - 1) < 1e-5 and (result.psf >= 0).all()


def test_selfdeblur_recovers_a_blind_kernel(blind_case):
    """MAP of the generated image and kernel (SelfDeblur at a small size: 1500 steps, MSE
    throughout: on this 58² case the SSIM switch after 300 steps ends 4 dB lower); the no-blur
    kernel scores NCC 0.39 here."""
    sharp, k, y = blind_case
    schedule = DIPSchedule(steps=1500, milestones=(750,), ssim_after=None)
    prior = DeepImagePrior(GeneratorShape(16, 3, 4, 4), schedule)
    result = deconvolve(y, psf_size=7, prior=prior, method="map", seed=0, progress=False)
    assert result.method == "map"
    assert kernel_ncc(result.psf, k) > 0.65
    blurred = score(y, sharp, crop=4, max_shift=3)["psnr"]
    assert score(result.mean, sharp, crop=4, max_shift=3)["psnr"] > blurred + 3.0


def _known_psf_model(prior, shape=(22, 22)):
    psf = np.full((3, 3), 1 / 9)
    op = ConvolutionOperator(psf, shape, boundary="valid", dtype=torch.float64)
    return DeconvolutionModel(op, prior=prior, noise=GaussianNoise(precision=400.0))


def test_variational_dip_elbo_matches_a_hand_monte_carlo():
    """The fit's ELBO (Trace_ELBO) against E_q[log p(y|x) + log p(x)] + H[q] by hand."""
    prior = VariationalDIP(sparse(), TINY, QUICK, init_scale=0.05)
    model = _known_psf_model(prior)
    rng = np.random.default_rng(1)
    y = torch.as_tensor(0.5 + 0.05 * rng.standard_normal((22, 22)))
    result = fit_dip(model, y, seed=0, progress=False, summary_samples=16)
    objective = result.info["restarts"][0]["objective"]
    assert result.info["prior"] is not prior  # the fit owns a copy
    model = model.with_components(prior=result.info["prior"])
    with pyro.get_param_store().scope():
        guide = DIPGuide(model)
        mean, scale = (t.detach() for t in guide.moments())
        assert (scale > 0).all()
        draws = mean + scale * torch.randn(4000, *mean.shape, dtype=mean.dtype)
        blurred = torch.stack([model.operator.forward(x) for x in draws])
        loglik = torch.distributions.Normal(blurred, 400.0**-0.5).log_prob(y).sum((-2, -1))
        logprior = torch.stack([prior.base.log_density(x, 2) for x in draws])
        entropy = torch.distributions.Normal(mean, scale).entropy().sum()
        terms = loglik + logprior + entropy
    hand, se = float(terms.mean()), float(terms.std() / np.sqrt(len(terms)))
    # the fit's objective is an 8-particle estimate: allow its noise too
    spread = float(terms.std() / np.sqrt(8))
    assert abs(objective - hand) < 4 * (se + spread)


def test_restarts_keep_the_best_objective_and_report_the_spread():
    prior = DeepImagePrior(TINY, QUICK)
    model = _known_psf_model(prior)
    y = torch.full((22, 22), 0.4, dtype=torch.float64)
    result = fit_dip(model, y, restarts=3, seed=7, progress=False)
    runs = result.info["restarts"]
    assert [r["seed"] for r in runs] == [7, 8, 9]
    best = max(runs, key=lambda r: r["objective"])
    assert result.info["chosen_seed"] == best["seed"]
    assert result.info["objective_spread"] == pytest.approx(np.std([r["objective"] for r in runs]))
    again = fit_dip(model, y, restarts=1, seed=best["seed"], progress=False)
    assert np.allclose(again.mean, result.mean, atol=1e-6)  # the chosen run is reproducible
    assert result.method == "map" and np.all(result.std == 0)  # a point estimate


def test_deconvolve_routes_and_refuses():
    rng = np.random.default_rng(0)
    y = 0.5 + 0.05 * rng.standard_normal((24, 24))
    prior = DeepImagePrior(TINY, QUICK)
    result = deconvolve(y, np.full((3, 3), 1 / 9), prior=prior, progress=False)
    assert result.method == "map"  # the automatic choice for a deep image prior
    with pytest.raises(ValueError, match="method='map'"):
        deconvolve(y, np.full((3, 3), 1 / 9), prior=prior, method="svi", progress=False)
    with pytest.raises(ValueError, match="vadam"):
        deconvolve(y, np.full((3, 3), 1 / 9), prior=prior, method="vadam", progress=False)
    with pytest.raises(ValueError, match="rescale"):
        deconvolve(10 * y, np.full((3, 3), 1 / 9), prior=prior, progress=False)
    with pytest.raises(ValueError, match="restarts"):
        deconvolve(y, np.full((3, 3), 1 / 9), prior="smooth", method="svi", restarts=2,
                   progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="restarts"):
        deconvolve(y, np.full((3, 3), 1 / 9), restarts=0, progress=False)
    with pytest.raises(ValueError, match="own guide"):
        deconvolve(y, np.full((3, 3), 1 / 9), prior=VariationalDIP(sparse(), TINY, QUICK),
                   guide="mean-field", progress=False)  # fmt: skip


def test_blind_dip_uses_the_generated_kernel():
    rng = np.random.default_rng(0)
    y = 0.5 + 0.05 * rng.standard_normal((24, 24))
    result = deconvolve(y, psf_size=5, prior=DeepImagePrior(TINY, QUICK), method="map",
                        seed=0, progress=False)  # fmt: skip
    assert result.psf.shape == (5, 5) and abs(result.psf.sum() - 1) < 1e-5
    assert result.info["guide"] == "map"


def test_a_generated_psf_without_a_deep_image_prior_goes_to_svi():
    from bayesdeconv.psf_priors import GeneratedPSF

    y = 0.5 + 0.05 * np.random.default_rng(0).standard_normal((24, 24))
    result = deconvolve(y, psf=GeneratedPSF(5), prior="sparse", steps=5, progress=False)
    assert result.method == "svi" and result.psf.shape == (5, 5)
    with pytest.raises(ValueError, match="parameter sites"):
        deconvolve(y, psf=GeneratedPSF(5), prior="sparse", method="ivb", progress=False)


@pytest.mark.parametrize("variational", [False, True], ids=["selfdeblur", "vdip"])
def test_noise_precision_follows_the_residual_after_the_ssim_switch(variational):
    """After the SSIM switch the noise precision keeps its Gaussian likelihood (prediction
    held fixed): at the end it sits at its conditional optimum
    :math:`\\lambda^* \\approx N / \\mathbb E_q \\lVert y - k \\ast x \\rVert^2` (a weak prior),
    neither frozen at the switch nor drifting with the normaliser alone."""
    rng = np.random.default_rng(3)
    box = np.full((3, 3), 1 / 9)
    op = ConvolutionOperator(box, (24, 24), boundary="circular", dtype=torch.float64)

    def blur(image):
        return op.forward(torch.as_tensor(image, dtype=torch.float64)).numpy()

    truth = np.clip(0.5 + 0.2 * rng.standard_normal((24, 24)), 0, 1)
    y = blur(truth) + 0.02 * rng.standard_normal((24, 24))
    schedule = DIPSchedule(steps=300, milestones=(200,), ssim_after=60, pretrain=10)
    base = DeepImagePrior(TINY, schedule)
    prior = VariationalDIP(sparse(scale=0.05), TINY, schedule) if variational else base
    model = DeconvolutionModel(op, prior=prior, noise=GaussianNoise())
    result = fit_dip(model, y, seed=0, progress=False)
    assert set(result.info["losses"]) == {"pretrain", "elbo", "ssim"}
    assert len(result.elbo) == 60 and result.n_iter == 310
    draws = result.sample(64, seed=0) if variational else result.mean[None]
    residual = np.mean([((y - blur(d)) ** 2).sum() for d in draws])
    optimum = y.size / residual
    precision = result.hyperparameters["noise_precision"].mean
    assert precision == pytest.approx(optimum, rel=0.25)


def test_selfdeblur_ssim_phase_moves_the_networks_by_the_ssim_loss_alone():
    """In SelfDeblur's SSIM phase the networks' gradient is that of 1 - SSIM exactly (the
    noise precision's likelihood holds the prediction fixed), and the noise precision still
    gets a gradient."""
    from bayesdeconv.infer.dip import _guide, _Losses

    rng = np.random.default_rng(0)
    y = torch.as_tensor(np.clip(0.5 + 0.1 * rng.standard_normal((22, 22)), 0, 1))
    op = ConvolutionOperator(np.full((3, 3), 1 / 9), (22, 22), boundary="valid",
                             dtype=torch.float64)  # fmt: skip
    model = DeconvolutionModel(op, prior=DeepImagePrior(TINY, QUICK), noise=GaussianNoise())
    model.prior.reset(model.latent_shape, seed=0, dtype=model.dtype, device=model.device)
    with pyro.get_param_store().scope():
        guide = _guide(model, y)
        losses = _Losses(model, QUICK, y, ())
        pyro.set_rng_seed(1)
        loss = losses.ssim(model, guide, y)
        pyro.set_rng_seed(1)
        reference = losses.kappa * losses._ssim_term(losses._traces(model, guide, y)[0])
        weights = list(model.prior.generator.parameters())
        ours = torch.autograd.grad(loss, weights, retain_graph=True)
        expected = torch.autograd.grad(reference, weights)
        for a, b in zip(ours, expected, strict=True):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
        store = pyro.get_param_store().named_parameters()
        noise = [v for k, v in store if "noise_precision" in k]  # unconstrained leaves
        assert noise and torch.autograd.grad(loss, noise[0])[0].abs() > 0
    assert losses.kappa == 1.0
