"""The deep image prior's components: generators, the generated PSF, the SSIM loss."""

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine

from bayesdeconv import sites
from bayesdeconv.infer.ssim import ssim
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.priors import (
    DeepImagePrior,
    DIPSchedule,
    GeneratorShape,
    NetworkPrior,
    VariationalDIP,
    sparse,
)
from bayesdeconv.priors.dip import CPU_NETWORK, CPU_SCHEDULE, PUBLISHED_SCHEDULE
from bayesdeconv.priors.dip_networks import KernelGenerator, SkipGenerator
from bayesdeconv.psf_priors import GeneratedPSF

TINY = GeneratorShape(width=4, depth=2, skip=2, input_channels=2)


@pytest.mark.parametrize("shape", [(16, 16), (21, 18), (33, 40)])
def test_skip_generator_keeps_the_grid(shape):
    out = SkipGenerator(TINY, out_channels=2)(torch.rand(1, 2, *shape))
    assert out.shape == (1, 2, *shape)


def test_generator_shape_checks():
    with pytest.raises(ValueError, match="width"):
        GeneratorShape(width=0)
    with pytest.raises(ValueError, match="skip"):
        GeneratorShape(skip=-1)
    assert GeneratorShape(depth=5).smallest_image() == 33


def test_kernel_generator_is_on_the_simplex():
    k = KernelGenerator((5, 7))(torch.rand(200))
    assert k.shape == (5, 7)
    assert (k > 0).all() and abs(float(k.detach().sum()) - 1) < 1e-6


def test_deep_image_prior_emits_a_deterministic_image_in_the_unit_interval():
    prior = DeepImagePrior(TINY, seed=3)
    with pyro.get_param_store().scope():
        trace = poutine.trace(prior.sample).get_trace((12, 14), dtype=torch.float32, device=None)
    node = trace.nodes[sites.IMAGE]
    assert node["infer"].get("_deterministic")
    x = node["value"]
    assert x.shape == (12, 14) and (x > 0).all() and (x < 1).all()
    latent = [n for n, v in trace.nodes.items() if v["type"] == "sample" and
              not v["infer"].get("_deterministic")]  # fmt: skip
    assert latent == []


def test_reset_is_seeded():
    a, b = DeepImagePrior(TINY), DeepImagePrior(TINY)
    a.reset((16, 16), seed=5)
    b.reset((16, 16), seed=5)
    assert torch.equal(a.generator(a.input), b.generator(b.input))
    b.reset((16, 16), seed=6)
    assert not torch.allclose(a.generator(a.input), b.generator(b.input))


def test_presets_follow_the_device():
    prior = DeepImagePrior()
    assert prior.settings("cpu") == (CPU_NETWORK, CPU_SCHEDULE)
    assert prior.settings("cuda")[1] == PUBLISHED_SCHEDULE
    assert DeepImagePrior.published().settings("cpu")[1] == PUBLISHED_SCHEDULE
    assert isinstance(prior, NetworkPrior) and not prior.variational
    assert VariationalDIP(sparse()).variational


def test_schedule_scaling_and_checks():
    s = PUBLISHED_SCHEDULE.scaled(500)
    assert s.steps == 500 and s.milestones == (200, 300, 400) and s.ssim_after == 100
    assert CPU_SCHEDULE.steps == 600 and CPU_SCHEDULE.ssim_after == 120
    with pytest.raises(ValueError, match="steps"):
        DIPSchedule(steps=0)
    with pytest.raises(ValueError, match="pretrain_weight"):
        DIPSchedule(pretrain_weight=2.0)


def _model(prior, shape=(24, 24), psf=None):
    k = np.full((3, 3), 1 / 9)
    op = ConvolutionOperator(k, shape, boundary="valid", dtype=torch.float32)
    return DeconvolutionModel(op, prior=prior, noise=GaussianNoise(), psf_prior=psf)


def test_models_refuse_what_the_generator_cannot_do():
    with pytest.raises(ValueError, match="at least 33"):
        _model(DeepImagePrior(GeneratorShape(depth=5)), shape=(24, 24))
    op = ConvolutionOperator(np.full((3, 3, 3), 1 / 27), (8, 8, 8), dtype=torch.float32)
    with pytest.raises(ValueError, match="2-D"):
        DeconvolutionModel(op, prior=DeepImagePrior(TINY), noise=GaussianNoise())
    with pytest.raises(TypeError, match="density"):
        VariationalDIP(DeepImagePrior(TINY))


def test_generated_psf_is_a_deterministic_site_on_the_simplex():
    psf = GeneratedPSF(5, seed=1)
    with pyro.get_param_store().scope():
        trace = poutine.trace(psf.sample).get_trace(dtype=torch.float32, device=None)
        names = list(pyro.get_param_store().keys())
    node = trace.nodes[sites.PSF]
    assert node["infer"].get("_deterministic")
    assert node["value"].shape == (5, 5) and abs(float(node["value"].detach().sum()) - 1) < 1e-6
    assert names and all(n.startswith("dip_psf$$$") for n in names)
    assert psf.parametric and psf.initial_sites(dtype=torch.float32, device=None) == {}
    assert psf.resized((7, 7)).size == (7, 7)
    with pytest.raises(ValueError, match="odd"):
        GeneratedPSF(4)


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = rng.random((40, 33))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    ours = float(ssim(torch.as_tensor(a), torch.as_tensor(b), data_range=1.0))
    theirs = structural_similarity(
        a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ours == pytest.approx(theirs, abs=1e-6)
    assert float(ssim(torch.as_tensor(a), torch.as_tensor(a))) == pytest.approx(1.0)


def test_ssim_gradient_and_mask():
    a = torch.rand(20, 20, dtype=torch.float64, requires_grad=True)
    b = torch.rand(20, 20, dtype=torch.float64)
    ssim(a, b).backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    mask = torch.ones(20, 20, dtype=torch.bool)
    assert float(ssim(a, b, mask=mask)) == pytest.approx(float(ssim(a, b)))
    with pytest.raises(ValueError, match="11"):
        ssim(torch.rand(8, 8), torch.rand(8, 8))


def test_masked_ssim_ignores_unobserved_pixels():
    """Values under a zero mask never enter: changing them leaves the SSIM as it was."""
    rng = np.random.default_rng(1)
    a = torch.as_tensor(rng.random((30, 30)))
    b = torch.as_tensor(np.clip(a.numpy() + 0.05 * rng.standard_normal((30, 30)), 0, 1))
    mask = torch.ones(30, 30, dtype=torch.bool)
    mask[10:18, 5:25] = False
    value = float(ssim(a, b, mask=mask))
    a2, b2 = a.clone(), b.clone()
    a2[~mask], b2[~mask] = 0.0, 1.0  # zero-filled prediction, saturated observation
    assert float(ssim(a2, b2, mask=mask)) == pytest.approx(value, abs=1e-12)
    assert float(ssim(a2, b2)) < value - 0.05  # unmasked, the hole counts
    # on a fully observed region the masked value is the plain SSIM of close images
    assert value == pytest.approx(float(ssim(a, b)), abs=0.05)
