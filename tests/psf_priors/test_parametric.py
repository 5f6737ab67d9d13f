"""Parametric PSF priors: sites, kernels, gradients, priors, errors and a joint SVI fit."""

import functools
import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from bayesdeconv import sites
from bayesdeconv.datasets import piecewise_constant_image
from bayesdeconv.infer.engines import IVBEngine, SVIEngine, VadamEngine
from bayesdeconv.infer.svi import fit_svi
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.physics.psf.differentiable import defocus_kernel, gaussian_kernel, motion_kernel
from bayesdeconv.priors import SmoothPrior, piecewise
from bayesdeconv.psf_priors import DefocusPSF, GaussianPSF, LinearMotionPSF, ParametricPSFPrior
from bayesdeconv.registry import PSF_PRIORS


def _trace(prior):
    return pyro.poutine.trace(lambda: prior.sample(dtype=torch.float64, device=None)).get_trace()


@pytest.mark.parametrize(
    ("prior", "names"),
    [
        (GaussianPSF(9), ("sigma_x", "sigma_y", "theta")),
        (GaussianPSF(9, isotropic=True), ("sigma",)),
        (GaussianPSF(9, sigma_x=1.0, theta=0.0), ("sigma_y",)),
        (DefocusPSF((7, 9)), ("radius",)),
        (LinearMotionPSF(11, angle=0.3), ("length",)),
    ],
)
def test_sites_and_shapes(prior, names):
    trace = _trace(prior)
    latent = [n for n, s in trace.nodes.items() if s["type"] == "sample" and not s["is_observed"]]
    assert latent == [sites.psf_parameter(n) for n in names] == list(prior.parameter_sites)
    assert prior.free_parameters == names and set(prior.parameter_priors()) == set(names)
    psf = trace.nodes[sites.PSF]["value"]
    assert trace.nodes[sites.PSF]["infer"].get("_deterministic")
    assert tuple(psf.shape) == prior.size and float(psf.sum()) == pytest.approx(1.0)
    assert float(psf.min()) >= 0 and prior.parametric
    assert torch.equal(prior.project(psf), psf)
    start = prior.initial_value(dtype=torch.float32, device=None)
    assert start.dtype == torch.float32 and tuple(start.shape) == prior.size
    assert set(prior.initial_sites(dtype=torch.float64, device=None)) == set(prior.parameter_sites)
    assert prior.resized((5, 5)).size == (5, 5) and prior.resized((5, 5)).free_parameters == names
    with pytest.raises(NotImplementedError, match="svi"):
        prior.minimise_quadratic(None, None, None, 1)


def test_kernel_equals_the_physics_function():
    g = GaussianPSF(9)
    expected = gaussian_kernel(9, 1.2, 0.7, 0.4)
    torch.testing.assert_close(g.kernel(sigma_x=1.2, sigma_y=0.7, theta=0.4), expected)
    iso = GaussianPSF(9, isotropic=True)
    torch.testing.assert_close(iso.kernel(sigma=1.3), gaussian_kernel(9, 1.3))
    torch.testing.assert_close(DefocusPSF(9).kernel(radius=2.5), defocus_kernel(9, 2.5))
    motion = LinearMotionPSF(11, angle=0.3)
    torch.testing.assert_close(motion.kernel(length=4.0), motion_kernel(11, 4.0, 0.3))
    with pytest.raises(ValueError, match="missing"):
        g.kernel(sigma_x=1.0)
    with pytest.raises(ValueError, match="unknown"):
        iso.kernel(sigma=1.0, radius=2.0)


def test_gradients_flow_to_the_parameters():
    target = gaussian_kernel(9, 1.5, 1.0, 0.6)
    values = {
        n: torch.tensor(v, requires_grad=True)
        for n, v in {"sigma_x": 1.2, "sigma_y": 1.3, "theta": 0.2}.items()
    }
    loss = ((GaussianPSF(9).kernel(**values) - target) ** 2).sum()
    loss.backward()
    assert all(v.grad is not None and float(v.grad.abs()) > 0 for v in values.values())
    for prior, name, value in ((DefocusPSF(9), "radius", 2.3), (LinearMotionPSF(9), "length", 3.3)):
        param = torch.tensor(value, requires_grad=True)
        others = {"angle": 0.4} if name == "length" else {}
        (prior.kernel(**{name: param}, **others) ** 2).sum().backward()
        assert param.grad is not None and math.isfinite(float(param.grad))


def test_priors_are_respected_and_angles_are_periodic():
    pyro.set_rng_seed(0)
    prior = GaussianPSF(9, sigma_x=dist.LogNormal(0.2, 0.3))
    draws = [_trace(prior) for _ in range(200)]
    sx = torch.stack([t.nodes["psf_sigma_x"]["value"] for t in draws])
    theta = torch.stack([t.nodes["psf_theta"]["value"] for t in draws])
    sy = torch.stack([t.nodes["psf_sigma_y"]["value"] for t in draws])
    assert float(sx.min()) > 0 and 0 <= float(theta.min()) and float(theta.max()) < math.pi
    assert 0.3 <= float(sy.min()) and float(sy.max()) <= 9 / 4
    base = prior.kernel(sigma_x=1.4, sigma_y=0.8, theta=0.5)
    torch.testing.assert_close(prior.kernel(sigma_x=1.4, sigma_y=0.8, theta=0.5 + math.pi), base)
    torch.testing.assert_close(
        prior.kernel(sigma_x=0.8, sigma_y=1.4, theta=0.5 + math.pi / 2), base
    )
    assert prior.wrap("theta", 0.5 + 3 * math.pi) == pytest.approx(0.5)
    assert prior.wrap("sigma_x", 7.0) == 7.0
    motion = LinearMotionPSF(9)
    torch.testing.assert_close(
        motion.kernel(length=4.0, angle=0.3 + math.pi), motion.kernel(length=4.0, angle=0.3)
    )
    # a real-valued angle prior is fine: the kernel is periodic
    LinearMotionPSF(9, angle=dist.Normal(0.0, 2.0))


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: GaussianPSF(8), "odd"),
        (lambda: GaussianPSF((9, 9, 9)), "odd"),
        (lambda: GaussianPSF(9, sigma_x=-1.0), "sigma_x"),
        (lambda: GaussianPSF(9, sigma_x=dist.Uniform(-1.0, 2.0)), "support"),
        (lambda: GaussianPSF(9, sigma_x=dist.Uniform(0.0, 2.0)), "support"),
        (lambda: GaussianPSF(9, sigma_x=dist.Normal(1.0, 0.2)), "support"),
        (lambda: GaussianPSF(9, isotropic=True, sigma=dist.Normal(1.0, 0.1).expand([2])), "scalar"),
        (lambda: GaussianPSF(9, isotropic=True, theta=0.3), "isotropic"),
        (lambda: DefocusPSF(9, radius=0.0), "radius"),
        (lambda: LinearMotionPSF(9, length=-0.5), "length"),
        (lambda: LinearMotionPSF(9, length="long"), "number"),
    ],
)
def test_bad_input_is_a_clear_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_fixed_values_and_positive_priors_are_accepted():
    assert GaussianPSF(9, isotropic=True, sigma=1.0).parameter_sites == ()
    assert LinearMotionPSF(9, length=0.0, angle=1.0).free_parameters == ()
    for ok in (dist.LogNormal(0.0, 0.5), dist.Gamma(2.0, 2.0), dist.HalfNormal(1.0)):
        assert GaussianPSF(9, isotropic=True, sigma=ok).free_parameters == ("sigma",)


def test_registry_and_engine_support():
    for name, cls in (
        ("gaussian", GaussianPSF),
        ("defocus", DefocusPSF),
        ("motion", LinearMotionPSF),
    ):
        built = PSF_PRIORS.build(name, size=(9, 9))
        assert isinstance(built, cls) and isinstance(built, ParametricPSFPrior)
    psf_prior = GaussianPSF(9, isotropic=True)
    op = ConvolutionOperator(
        psf_prior.initial_value(dtype=torch.float64, device=None).numpy(),
        (24, 24),
        boundary="valid",
    )
    for prior in (SmoothPrior(), piecewise()):
        model = DeconvolutionModel(op, prior=prior, noise=GaussianNoise(), psf_prior=psf_prior)
        reason = IVBEngine().supports(model)
        if isinstance(prior, SmoothPrior):  # IVB fits parametric PSFs under scale mixtures only
            assert "scale-mixture" in reason
        else:
            assert reason is None
        assert "svi" in VadamEngine().supports(model)
        assert SVIEngine().supports(model) is None


@pytest.mark.parametrize("boundary", ["circular", "valid"])
def test_joint_svi_runs_with_either_boundary(boundary):
    x = piecewise_constant_image((24, 24), seed=1)
    y = (
        ConvolutionOperator(gaussian_psf(7, 1.2), (24, 24), boundary="circular")
        .forward(torch.as_tensor(x))
        .numpy()
    )
    psf_prior = GaussianPSF(7)
    op = ConvolutionOperator(
        psf_prior.initial_value(dtype=torch.float32, device=None).numpy(),
        (24, 24),
        boundary=boundary,
        dtype=torch.float32,
    )
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=GaussianNoise(), psf_prior=psf_prior)
    result = fit_svi(model, y, steps=30, seed=0, progress=False)
    assert set(result.psf_parameters) == {"psf_sigma_x", "psf_sigma_y", "psf_theta"}
    assert result.psf.shape == (7, 7) and result.psf.sum() == pytest.approx(1.0, abs=1e-5)
    assert result.blind and np.isfinite(result.mean).all()


@functools.lru_cache(maxsize=1)
def _svi_sigma_fit():
    """48² scene, isotropic Gaussian sigma = 1.6, 1 % noise, circular; joint SVI fit."""
    truth = 1.6
    x = piecewise_constant_image((48, 48), seed=0)
    clean = (
        ConvolutionOperator(gaussian_psf(9, truth), (48, 48), boundary="circular")
        .forward(torch.as_tensor(x))
        .numpy()
    )
    y = clean + 0.01 * np.ptp(x) * np.random.default_rng(0).standard_normal(clean.shape)
    psf_prior = GaussianPSF(9, isotropic=True)
    op = ConvolutionOperator(
        psf_prior.initial_value(dtype=torch.float32, device=None).numpy(),
        (48, 48),
        boundary="circular",
        dtype=torch.float32,
    )
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=GaussianNoise(), psf_prior=psf_prior)
    result = fit_svi(model, y, steps=3000, lr=0.05, lr_decay=1.0, tol=0, seed=0, progress=False)
    return truth, result.psf_parameters["psf_sigma"]


def test_svi_recovers_a_gaussian_blur_width():
    """Oracle: SVI's posterior mean of sigma is within 10 % of the truth."""
    truth, sigma = _svi_sigma_fit()
    assert sigma.mean == pytest.approx(truth, rel=0.10)


@pytest.mark.xfail(
    strict=True,
    reason="known defect (docs/limitations.md): the mean-field guide treats sigma and the image "
    "as independent, so its 90 % interval of sigma is far too narrow; the collapsed-evidence "
    "NUTS fit (infer.fit_psf_parameters) covers",
)
def test_svi_interval_of_the_blur_width_contains_the_truth():
    truth, sigma = _svi_sigma_fit()
    low, high = np.quantile(sigma.values, [0.05, 0.95])
    assert low <= truth <= high
