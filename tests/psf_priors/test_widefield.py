"""WidefieldPSF: sites, kernels, default priors, errors, and the NA and defocus posteriors of the
collapsed evidence on synthetic widefield data (3-D beads, a 2-D defocused plane)."""

import functools

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from bayesdeconv import deconvolve, sites
from bayesdeconv.infer.collapsed import fit_psf_parameters
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.physics.psf import widefield_born_wolf_kernel, widefield_gaussian_kernel
from bayesdeconv.priors import SmoothPrior
from bayesdeconv.psf_priors import GaussianPSF, WidefieldPSF

STACK = {"wavelength": 0.52, "pixel_size": 0.1, "z_step": 0.25, "refractive_index": 1.33}
PLANE = {"wavelength": 0.52, "pixel_size": 0.1, "refractive_index": 1.33}


def _trace(prior):
    return pyro.poutine.trace(lambda: prior.sample(dtype=torch.float64, device=None)).get_trace()


@pytest.mark.parametrize(
    ("prior", "names", "shape"),
    [
        (WidefieldPSF((7, 11, 11), **STACK), ("numerical_aperture",), (7, 11, 11)),
        (WidefieldPSF(9, **STACK), ("numerical_aperture",), (9, 9, 9)),
        (WidefieldPSF(11, **PLANE), ("numerical_aperture", "defocus"), (11, 11)),
        (WidefieldPSF((9, 11), **PLANE, numerical_aperture=1.0), ("defocus",), (9, 11)),
        (WidefieldPSF(11, **PLANE, model="gaussian"), ("numerical_aperture",), (11, 11)),
        (
            WidefieldPSF((7, 11, 11), **{**STACK, "wavelength": dist.Uniform(0.5, 0.55)}),
            ("numerical_aperture", "wavelength"),
            (7, 11, 11),
        ),
    ],
)
def test_sites_and_shapes(prior, names, shape):
    trace = _trace(prior)
    latent = [n for n, s in trace.nodes.items() if s["type"] == "sample" and not s["is_observed"]]
    assert latent == [sites.psf_parameter(n) for n in names] == list(prior.parameter_sites)
    assert prior.free_parameters == names and prior.parametric
    psf = trace.nodes[sites.PSF]["value"]
    assert prior.size == shape and prior.ndim == len(shape) and tuple(psf.shape) == shape
    assert float(psf.sum()) == pytest.approx(1.0) and float(psf.min()) >= 0
    start = prior.initial_value(dtype=torch.float32, device=None)
    assert start.dtype == torch.float32 and tuple(start.shape) == shape
    resized = prior.resized(tuple(s - 2 for s in shape))
    assert resized.size == tuple(s - 2 for s in shape) and resized.free_parameters == names


def test_kernel_equals_the_physics_functions():
    stack = WidefieldPSF((7, 11, 11), **STACK, defocus=0.25)
    expected = widefield_born_wolf_kernel(
        (7, 11, 11), numerical_aperture=1.1, **STACK, defocus=0.25
    )
    torch.testing.assert_close(stack.kernel(numerical_aperture=1.1), expected)
    plane = WidefieldPSF(11, **PLANE)
    expected = widefield_born_wolf_kernel(11, numerical_aperture=0.9, defocus=0.4, **PLANE)
    torch.testing.assert_close(plane.kernel(numerical_aperture=0.9, defocus=0.4), expected)
    gauss = WidefieldPSF((7, 11, 11), **STACK, model="gaussian")
    expected = widefield_gaussian_kernel((7, 11, 11), numerical_aperture=1.1, **STACK)
    torch.testing.assert_close(gauss.kernel(numerical_aperture=1.1), expected)
    assert stack.fixed_parameters() == {
        "refractive_index": 1.33,
        "wavelength": 0.52,
        "pixel_size": 0.1,
        "z_step": 0.25,
    }
    assert stack.defocus == 0.25 and "defocus=0.25" in repr(stack)
    with pytest.raises(ValueError, match="missing"):
        plane.kernel(numerical_aperture=1.0)


def test_gradients_flow_to_the_parameters():
    na, defocus = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.0, 0.3))
    target = WidefieldPSF(11, **PLANE).kernel(numerical_aperture=1.1, defocus=0.5)
    loss = (WidefieldPSF(11, **PLANE).kernel(numerical_aperture=na, defocus=defocus) - target) ** 2
    loss.sum().backward()
    assert float(na.grad) != 0 and float(defocus.grad) != 0


def test_default_priors():
    stack = WidefieldPSF((7, 11, 11), **STACK)
    (na,) = stack.parameter_priors().values()
    assert (float(na.low), float(na.high)) == (0.2, 1.33) and na.low.dtype == torch.float64
    oil = WidefieldPSF((7, 11, 11), **{**STACK, "refractive_index": None})
    assert oil.fixed_parameters()["refractive_index"] == 1.515
    assert float(oil.parameter_priors()["numerical_aperture"].high) == 1.5
    air = WidefieldPSF(9, **{**PLANE, "refractive_index": 1.0})
    assert float(air.parameter_priors()["numerical_aperture"].high) == 1.0
    # the defocus prior keeps the geometric blur radius d NA / n inside the support
    plane = WidefieldPSF(21, **PLANE)
    assert float(plane.parameter_priors()["defocus"].high) == pytest.approx(10 * 0.1)
    known = WidefieldPSF(21, **PLANE, numerical_aperture=0.665)
    assert float(known.parameter_priors()["defocus"].high) == pytest.approx(2.0)
    mean = stack.initial_parameters()["numerical_aperture"]
    assert mean == pytest.approx((0.2 + 1.33) / 2)
    assert WidefieldPSF((7, 11, 11), **STACK, numerical_aperture=1.0).free_parameters == ()
    # an uncertain immersion index: the default NA prior stops at its lowest value
    index = WidefieldPSF(9, **{**PLANE, "refractive_index": dist.Uniform(1.3, 1.52)})
    assert float(index.parameter_priors()["numerical_aperture"].high) == pytest.approx(1.3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": (7, 11, 11), **PLANE}, "needs z_step"),
        ({"size": (11, 11), **STACK}, "3-D size"),
        ({"size": (7, 11, 11, 3), **STACK}, "2 or 3"),
        ({"size": (7, 10, 11), **STACK}, "odd"),
        ({"size": 11, **PLANE, "wavelength": None}, "needs wavelength"),
        ({"size": 11, **PLANE, "pixel_size": None}, "needs pixel_size"),
        ({"size": 11, **PLANE, "numerical_aperture": 1.4}, "cannot exceed"),
        ({"size": 11, **PLANE, "numerical_aperture": dist.Uniform(0.5, 1.4)}, "cannot exceed"),
        ({"size": 11, **PLANE, "numerical_aperture": dist.LogNormal(0.0, 0.1)}, "bounded support"),
        ({"size": 11, **PLANE, "numerical_aperture": dist.Uniform(0.0, 1.0)}, "support"),
        (
            {
                **PLANE,
                "size": 11,
                "refractive_index": dist.Uniform(1.3, 1.5),
                "numerical_aperture": 1.4,
            },
            "cannot exceed",
        ),
        ({"size": 11, **PLANE, "refractive_index": 0.9}, "at least 1"),
        ({"size": 11, **PLANE, "refractive_index": dist.LogNormal(0.3, 0.1)}, "at least 1"),
        ({"size": 11, **PLANE, "defocus": -0.5}, "defocus"),
        ({"size": 11, **PLANE, "wavelength": -0.5}, "wavelength"),
        ({"size": 11, **PLANE, "wavelength": "green"}, "number"),
        ({"size": 11, **PLANE, "model": "gaussian", "defocus": 0.3}, "no defocus"),
        ({"size": 11, **PLANE, "model": "vectorial"}, "model"),
        ({"size": 11, **PLANE, "n_quad": 0}, "n_quad"),
        ({"size": (7, 11, 11), **STACK, "defocus": dist.Normal(0.0, 1.0)}, "not a prior"),
        ({"size": (7, 11, 11), **STACK, "defocus": float("inf")}, "finite"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WidefieldPSF(**kwargs)


def test_fixed_numbers_and_bounded_priors_are_accepted():
    na_index = WidefieldPSF(
        9,
        **{**PLANE, "refractive_index": dist.Uniform(1.33, 1.52)},
        numerical_aperture=dist.Uniform(0.8, 1.3),
        defocus=0.0,
    )
    assert na_index.free_parameters == ("numerical_aperture", "refractive_index")
    assert WidefieldPSF(9, **PLANE, model="gaussian", defocus=0.0).free_parameters == (
        "numerical_aperture",
    )
    # a float32 Uniform whose top rounds one ulp above n is fine
    WidefieldPSF(9, **PLANE, numerical_aperture=dist.Uniform(0.8, 1.33))
    assert WidefieldPSF((5, 9, 9), **STACK, defocus=-0.3).defocus == -0.3
    assert WidefieldPSF(9, **PLANE) is not None and GaussianPSF(9).ndim == 2


# --------------------------------------------------------------------------------------------
# oracles: the collapsed-evidence posterior on synthetic widefield data
# --------------------------------------------------------------------------------------------


def _beads(shape, count, rng) -> torch.Tensor:
    x = np.zeros(shape)
    x[tuple(rng.integers(0, s, count) for s in shape)] = rng.uniform(0.5, 1.0, count)
    return torch.as_tensor(x)


def _observe(x: torch.Tensor, psf: torch.Tensor, rng) -> torch.Tensor:
    """Circular blur and Gaussian noise of 1 % of the blurred range."""
    blurred = ConvolutionOperator(psf.numpy(), tuple(x.shape), boundary="circular")(x)
    noise = 0.01 * float(blurred.max() - blurred.min())
    return blurred + noise * torch.as_tensor(rng.standard_normal(tuple(x.shape)))


def test_the_na_of_a_3d_bead_stack_is_recovered_with_an_interval():
    """16 x 32 x 32 stack of 40 beads, Born & Wolf NA 1.0 in water; the default prior
    U(0.2, 1.33). Measured: mean 0.998, 90 % interval (0.993, 1.003)."""
    rng = np.random.default_rng(0)
    prior = WidefieldPSF((15, 25, 25), **STACK)
    y = _observe(_beads((16, 32, 32), 40, rng), prior.kernel(numerical_aperture=1.0), rng)
    post = fit_psf_parameters(
        y,
        lambda **params: prior.kernel(**params),
        prior.parameter_priors(),
        SmoothPrior(epsilon=0.01),
        num_samples=100,
        warmup=100,
        n_image_draws=2,
    )
    na = post.psf_parameters["numerical_aperture"]
    low, high = post.interval("numerical_aperture", 0.9)
    assert low < 1.0 < high
    assert na.mean() == pytest.approx(1.0, rel=0.02)
    assert high - low < 0.05


def test_the_defocus_of_a_2d_plane_is_recovered_with_an_interval():
    """64 x 64 draw of the smooth prior imaged 0.6 µm from focus (NA 1.0 known, water); the
    default prior U(0, 1.596). Measured: mean 0.596, 90 % interval (0.569, 0.622)."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    smooth = SmoothPrior(epsilon=0.01)
    x = smooth.distribution(torch.tensor(1.0, dtype=torch.float64), (64, 64)).sample()
    prior = WidefieldPSF(25, **PLANE, numerical_aperture=1.0)
    assert float(prior.parameter_priors()["defocus"].high) == pytest.approx(12 * 0.1 * 1.33)
    y = _observe(x, prior.kernel(defocus=0.6), rng)
    post = fit_psf_parameters(
        y,
        lambda **params: prior.kernel(**params),
        prior.parameter_priors(),
        smooth,
        num_samples=100,
        warmup=100,
        n_image_draws=2,
    )
    defocus = post.psf_parameters["defocus"]
    low, high = post.interval("defocus", 0.9)
    assert low < 0.6 < high
    assert defocus.mean() == pytest.approx(0.6, rel=0.05)


@functools.lru_cache(maxsize=1)
def _deconvolved_stack():
    rng = np.random.default_rng(1)
    prior = WidefieldPSF((9, 15, 15), **STACK)
    y = _observe(_beads((12, 24, 24), 30, rng), prior.kernel(numerical_aperture=1.0), rng)
    return deconvolve(y.numpy(), psf=prior, boundary="circular", steps=60, seed=0, progress=False)


def test_deconvolve_fits_a_3d_widefield_psf_with_the_evidence_engine():
    result = _deconvolved_stack()
    assert result.method == "evidence" and result.blind
    na = result.psf_parameters["psf_numerical_aperture"]
    assert len(na.values) == 60 and na.mean == pytest.approx(1.0, rel=0.03)  # measured 1.010
    assert result.psf.shape == (9, 15, 15) and result.psf.sum() == pytest.approx(1.0, abs=1e-9)
    assert result.mean.shape == result.std.shape == (12, 24, 24)
    assert np.isfinite(result.mean).all() and (result.std > 0).all()
    assert result.sample(2, seed=1).shape == (2, 12, 24, 24)
