"""The extreme-channel prior: its factor and subgradient against explicit loops over the
windows, its Pyro sites, the engines that fit it and those that refuse it, its arguments."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyro
import pytest
import torch
from pyro.infer.autoguide.initialization import InitMessenger, init_to_value

from bayesdeconv import deconvolve, sites
from bayesdeconv.api import image_prior
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.priors import (
    BLIND_SPARSE_SCALE,
    ExtremeChannelPrior,
    GaussianScaleMixturePrior,
    SmoothPrior,
    sparse,
)
from bayesdeconv.priors.extreme_channel import bright_channel, dark_channel
from bayesdeconv.registry import IMAGE_PRIORS


def _windows(shape: tuple[int, ...], window: int):
    """Every valid window as a tuple of slices (anchored at its first corner)."""
    starts = itertools.product(*(range(n - window + 1) for n in shape))
    return [tuple(slice(s, s + window) for s in start) for start in starts]


def _loop_factor_and_gradient(x: np.ndarray, window: int, dark: float, bright: float):
    """``log phi(x)`` and its gradient by explicit loops: per window, the arg-min pixel carries
    ``-dark * sign(min)`` and the arg-max pixel ``bright * sign(1 - max)``."""
    value, grad = 0.0, np.zeros_like(x)
    for box in _windows(x.shape, window):
        patch = x[box]
        lo, hi = patch.min(), patch.max()
        value -= dark * abs(lo) + bright * abs(1.0 - hi)
        offset = tuple(s.start for s in box)
        arg_lo = np.add(np.unravel_index(patch.argmin(), patch.shape), offset)
        arg_hi = np.add(np.unravel_index(patch.argmax(), patch.shape), offset)
        grad[tuple(arg_lo)] -= dark * np.sign(lo)
        grad[tuple(arg_hi)] += bright * np.sign(1.0 - hi)
    return value, grad


@pytest.mark.parametrize(
    ("shape", "window", "dark", "bright"),
    [((9, 11), 3, 1.7, 0.6), ((10, 8), 5, 0.4, 2.3), ((6, 7, 5), 3, 1.3, 0.8)],
)
def test_factor_and_subgradient_match_explicit_windows(shape, window, dark, bright):
    rng = np.random.default_rng(sum(shape) + window)
    x = rng.uniform(-0.4, 1.4, shape)  # both signs of D and of 1 - B occur; no ties
    expected_value, expected_grad = _loop_factor_and_gradient(x, window, dark, bright)
    prior = ExtremeChannelPrior(window=window, dark_weight=dark, bright_weight=bright)
    xt = torch.tensor(x, requires_grad=True)
    value = prior.log_factor(xt, len(shape))
    value.backward()
    assert float(value.detach()) == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), expected_grad, rtol=0, atol=1e-12)
    # the channels themselves, on the valid windows only
    lows = [x[box].min() for box in _windows(shape, window)]
    highs = [x[box].max() for box in _windows(shape, window)]
    valid = tuple(n - window + 1 for n in shape)
    np.testing.assert_array_equal(dark_channel(torch.tensor(x), window).numpy().ravel(), lows)
    np.testing.assert_array_equal(bright_channel(torch.tensor(x), window).numpy().ravel(), highs)
    assert tuple(dark_channel(torch.tensor(x), window).shape) == valid


def test_factor_of_a_batch_is_the_factor_of_each_image():
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.uniform(0, 1, (2, 3, 8, 9)))
    prior = ExtremeChannelPrior(window=3, dark_weight=2.0, bright_weight=0.5)
    batched = prior.log_factor(x, 2)
    assert batched.shape == (2, 3)
    for i, j in itertools.product(range(2), range(3)):
        assert float(batched[i, j]) == pytest.approx(float(prior.log_factor(x[i, j], 2)), 1e-12)
    # one weight at zero switches its term off; a black-and-white image with a white pixel in
    # every window and a black one in every window has factor 0
    assert float(ExtremeChannelPrior(dark_weight=0, bright_weight=0).log_factor(x[0, 0], 2)) == 0
    board = torch.tensor(np.indices((8, 9)).sum(0) % 2, dtype=torch.float64)
    assert float(prior.log_factor(board, 2)) == 0.0


def _traced(model, latent_shape, *args):
    start = init_to_value(values={sites.IMAGE: torch.full(latent_shape, 0.5, dtype=torch.float64)})
    return pyro.poutine.trace(InitMessenger(start)(model)).get_trace(*args)


@pytest.mark.parametrize("integrate", [True, False])
def test_trace_holds_the_base_sites_and_the_factor(integrate):
    base = sparse(integrate=integrate)
    prior = ExtremeChannelPrior(base, window=3, dark_weight=1.5, bright_weight=0.5)
    op = ConvolutionOperator(gaussian_psf(3, 0.8), (8, 9), boundary="valid")
    model = DeconvolutionModel(op, prior=prior, noise=GaussianNoise())
    plain = DeconvolutionModel(op, prior=base, noise=GaussianNoise())
    y = torch.zeros(8, 9, dtype=torch.float64)
    trace = _traced(model, op.latent_shape, y)
    names = {name for name, node in trace.nodes.items() if node["type"] == "sample"}
    base_names = {
        name
        for name, node in _traced(plain, op.latent_shape, y).nodes.items()
        if node["type"] == "sample"
    }
    assert names == base_names | {sites.EXTREME_CHANNEL}
    assert (sites.GRADIENT_PRECISION in names) is not integrate
    trace.compute_log_prob()
    x = trace.nodes[sites.IMAGE]["value"]
    factor = float(trace.nodes[sites.EXTREME_CHANNEL]["log_prob_sum"])
    assert factor == pytest.approx(float(prior.log_factor(x, 2)), 1e-12)
    assert factor == pytest.approx(-0.5 * 2 * math.prod(n - 2 for n in op.latent_shape))


def test_hooks_are_the_base_s():
    smooth = SmoothPrior()
    prior = ExtremeChannelPrior(smooth, window=3)
    assert prior.hyperparameters() == smooth.hyperparameters()
    image = torch.rand(8, 8, dtype=torch.float64)
    assert prior.initial_values(image).keys() == smooth.initial_values(image).keys()
    fixed = prior.with_hyperparameters({sites.IMAGE_PRECISION: 4.0})
    assert isinstance(fixed, ExtremeChannelPrior) and fixed.window == 3
    assert fixed.hyperparameters()[sites.IMAGE_PRECISION].value == 4.0
    assert not fixed.hyperparameters()[sites.IMAGE_PRECISION].learned
    uncollapsed = ExtremeChannelPrior(sparse(integrate=False))
    assert sites.GRADIENT_PRECISION in uncollapsed.initial_values(image)
    assert not isinstance(prior, GaussianScaleMixturePrior)  # no closed-form capability


def test_registered_with_the_blind_scale():
    assert "extreme-channel" in IMAGE_PRIORS and "extreme-channel" not in IMAGE_PRIORS.planned
    known, blind = image_prior("extreme-channel"), image_prior("extreme-channel", blind=True)
    assert isinstance(known, ExtremeChannelPrior) and isinstance(blind, ExtremeChannelPrior)
    assert known.base.scale == pytest.approx(sparse().scale)
    assert blind.base.scale == pytest.approx(BLIND_SPARSE_SCALE)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    psf = gaussian_psf(5, 1.0)
    truth = np.zeros((24, 24))
    truth[6:14, 5:17] = 0.9
    truth[15:21, 9:20] = 0.4
    op = ConvolutionOperator(psf, (24, 24), boundary="circular")
    y = op.forward(torch.tensor(truth)).numpy() + 0.01 * rng.standard_normal((24, 24))
    return y, psf, truth


@pytest.mark.parametrize("method", ["svi", "map", None])
def test_tracing_engines_fit_it(problem, method):
    y, psf, truth = problem
    result = deconvolve(
        y, psf, prior="extreme-channel", method=method, boundary="circular", steps=300, seed=0,
        progress=False,
    )  # fmt: skip
    assert result.method == (method or "svi")
    assert np.isfinite(result.mean).all()
    assert np.mean((result.mean - truth) ** 2) < np.mean((y - truth) ** 2)


@pytest.mark.parametrize(("method", "reason"), [("ivb", "circulant"), ("gibbs", "scale-mixture")])
def test_closed_form_engines_refuse_it(problem, method, reason):
    y, psf, _ = problem
    with pytest.raises(ValueError, match=reason) as error:
        deconvolve(y, psf, prior="extreme-channel", method=method, progress=False)
    assert "ExtremeChannelPrior" in str(error.value)
    assert f"method={method!r} cannot fit this model" in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"window": 4}, ValueError, "odd integer >= 3"),
        ({"window": 1}, ValueError, "odd integer >= 3"),
        ({"window": 5.0}, ValueError, "odd integer >= 3"),
        ({"window": True}, ValueError, "odd integer >= 3"),
        ({"dark_weight": -1.0}, ValueError, "dark_weight must be a non-negative"),
        ({"bright_weight": math.nan}, ValueError, "bright_weight must be a non-negative"),
        ({"bright_weight": math.inf}, ValueError, "bright_weight"),
        ({"dark_weight": "1"}, ValueError, "dark_weight"),
        ({"base": "sparse"}, TypeError, "base must be an ImagePrior"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    base = kwargs.pop("base", None)
    with pytest.raises(error, match=match):
        ExtremeChannelPrior(base, **kwargs)


def test_window_larger_than_the_image_is_refused():
    op = ConvolutionOperator(np.ones((1, 1)), (6, 20), boundary="circular")
    with pytest.raises(ValueError, match="window \\(7 pixels\\) is larger than the latent grid"):
        DeconvolutionModel(op, prior=ExtremeChannelPrior(window=7), noise=GaussianNoise())
    with pytest.raises(ValueError, match="2-D and 3-D"):
        dark_channel(torch.zeros(10), 3)
