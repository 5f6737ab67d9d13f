"""CUDA paths: the same answers on the GPU as on the CPU (skipped without a CUDA device)."""

import numpy as np
import pytest
import torch

from bayesdeconv import deconvolve
from bayesdeconv.datasets import load_demo

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("boundary", ["circular", "valid"])
def test_ivb_on_cuda_matches_cpu(boundary):
    case = load_demo("natural")
    cpu = deconvolve(case.observed, case.psf, boundary=boundary, progress=False)
    gpu = deconvolve(case.observed, case.psf, boundary=boundary, device="cuda", progress=False)
    np.testing.assert_allclose(gpu.mean, cpu.mean, atol=1e-6)
    # the std map's draws share their CPU-drawn noise; only the CG rounding differs
    np.testing.assert_allclose(gpu.std, cpu.std, rtol=1e-4)


def test_svi_on_cuda_restores_the_image():
    case = load_demo("natural")
    result = deconvolve(
        case.observed, case.psf, method="svi", steps=500, seed=0, device="cuda", progress=False
    )
    truth = case.truth_frame
    assert np.mean((result.mean - truth) ** 2) < np.mean((case.observed - truth) ** 2)
    assert result.sample(2, seed=0).shape == (2, *case.observed.shape)


def test_vadam_on_cuda_restores_the_image():
    case = load_demo("natural")
    result = deconvolve(
        case.observed, case.psf, method="vadam", steps=500, seed=0, device="cuda", progress=False
    )
    truth = case.truth_frame
    assert np.mean((result.mean - truth) ** 2) < np.mean((case.observed - truth) ** 2)


@pytest.mark.parametrize("psf_update", ["closed-form", "vadam"])
def test_blind_ivb_on_cuda_matches_cpu(psf_update):
    case = load_demo("natural")
    options = {
        "psf_size": case.psf.shape[0],
        "psf_covariance": "diagonal",
        "psf_update": psf_update,
        "steps": 5,
        "seed": 0,
        "progress": False,
    }
    gpu = deconvolve(case.observed, device="cuda", **options)
    assert gpu.psf.min() >= 0 and gpu.psf.sum() == pytest.approx(1.0, abs=1e-5)
    if psf_update == "closed-form":  # deterministic; Vadam draws from the device's generator
        cpu = deconvolve(case.observed, **options)
        np.testing.assert_allclose(gpu.psf, cpu.psf, atol=1e-3)


@pytest.mark.parametrize("prior", ["smooth", "sparse"])
def test_parametric_psf_on_cuda_matches_cpu(prior):
    """The evidence engine (smooth) and parametric IVB (sparse) on the GPU."""
    from bayesdeconv.psf_priors import GaussianPSF

    case = load_demo("natural")
    options = {"prior": prior, "boundary": "circular", "seed": 0, "progress": False}
    if prior == "smooth":
        options["steps"] = 30
    cpu = deconvolve(case.observed, GaussianPSF(13), **options)
    gpu = deconvolve(case.observed, GaussianPSF(13), device="cuda", **options)
    for name, draws in cpu.psf_parameters.items():
        assert gpu.psf_parameters[name].mean == pytest.approx(draws.mean, rel=0.02, abs=0.02)
    assert gpu.psf.sum() == pytest.approx(1.0, abs=1e-6)


def test_poisson_vb_on_cuda_matches_cpu():
    rng = np.random.default_rng(0)
    psf = np.stack([np.full((5, 5), w / 25) for w in (0.25, 0.5, 0.25)])
    counts = rng.poisson(20.0, size=(8, 32, 32)).astype(float)
    cpu = deconvolve(counts, psf, noise="poisson", steps=20, progress=False)
    gpu = deconvolve(counts, psf, noise="poisson", steps=20, device="cuda", progress=False)
    np.testing.assert_allclose(gpu.mean, cpu.mean, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(gpu.std, cpu.std, rtol=1e-3, atol=1e-3)


def test_learned_wiener_on_cuda_matches_cpu():
    case = load_demo("natural")
    options = {"prior": "learned-wiener", "boundary": "circular", "progress": False}
    cpu = deconvolve(case.observed, case.psf, **options)
    gpu = deconvolve(case.observed, case.psf, device="cuda", **options)
    np.testing.assert_allclose(gpu.mean, cpu.mean, atol=1e-6)



def test_vae_prior_trains_and_deconvolves_on_cuda(tmp_path):
    from bayesdeconv.diagnostics.filament_sets import filament_set
    from bayesdeconv.priors import NetworkShape, VAEImagePrior
    from bayesdeconv.training import fit_vae

    data = filament_set("low-noise", 16, (32, 32), seed=0)
    network = NetworkShape(width=4, latent_channels=2)
    prior = fit_vae(data.observed, data.psf, network=network, patch=32, epochs=2,
                    device="cuda", progress=False)  # fmt: skip
    history = prior.training["history"]
    assert history[-1]["held_out"] < history[0]["held_out"]
    assert next(prior.decoder.parameters()).is_cuda
    result = deconvolve(data.observed[0], data.psf, prior=prior, noise=data.noise, steps=20,
                        seed=0, device="cuda", progress=False)  # fmt: skip
    assert np.isfinite(result.mean).all() and result.std.min() > 0
    loaded = VAEImagePrior.load(prior.save(tmp_path / "model.npz"))
    assert not next(loaded.decoder.parameters()).is_cuda


@pytest.mark.parametrize("prior", ["dip", "vdip-sparse"])
def test_deep_image_priors_run_on_cuda(prior):
    from bayesdeconv.priors import DeepImagePrior, DIPSchedule, GeneratorShape, VariationalDIP
    from bayesdeconv.priors import sparse as sparse_prior

    rng = np.random.default_rng(0)
    y = 0.5 + 0.05 * rng.standard_normal((40, 40))
    shape = GeneratorShape(width=8, depth=3, skip=4, input_channels=4)
    schedule = DIPSchedule(steps=30, milestones=(20,), ssim_after=15, pretrain=5)
    obj = (DeepImagePrior(shape, schedule) if prior == "dip"
           else VariationalDIP(sparse_prior(), shape, schedule))  # fmt: skip
    result = deconvolve(y, psf_size=5, prior=obj, seed=0, device="cuda", progress=False)
    assert result.psf.shape == (5, 5) and np.isfinite(result.mean).all()
    assert DeepImagePrior().settings("cuda")[0].width == 128  # the published network on a GPU
