"""The dark- and bright-channel terms of the kernel search's image step (off by default)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.signal import correlate

from bayesdeconv.datasets import piecewise_constant_image
from bayesdeconv.infer.kernel_search import _pull_extremes, search_kernel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import motion_psf

N, S, NOISE = 96, 11, 0.005


def _loop_pull(x: np.ndarray, window: int, threshold: float, dark: bool, bright: bool):
    """The splitting target by explicit loops over the periodic windows centred on each pixel:
    a window whose minimum m has m^2 < threshold sends its arg-min pixel to 0; one whose
    maximum M has (1 - M)^2 < threshold sends its arg-max pixel to 1."""
    h, w = x.shape
    r = window // 2
    z = x.copy()
    to_zero, to_one = [], []
    for i, j in itertools.product(range(h), range(w)):
        rows = [(i + a) % h for a in range(-r, r + 1)]
        cols = [(j + b) % w for b in range(-r, r + 1)]
        patch = x[np.ix_(rows, cols)]
        lo, hi = (
            np.unravel_index(patch.argmin(), patch.shape),
            np.unravel_index(patch.argmax(), patch.shape),
        )
        if dark and patch.min() ** 2 < threshold:
            to_zero.append((rows[lo[0]], cols[lo[1]]))
        if bright and (1 - patch.max()) ** 2 < threshold:
            to_one.append((rows[hi[0]], cols[hi[1]]))
    for q in to_zero:
        z[q] = 0.0
    for q in to_one:
        z[q] = 1.0
    return z, len(set(to_zero)), len(set(to_one))


@pytest.mark.parametrize(("dark", "bright"), [(True, False), (False, True), (True, True)])
def test_splitting_target_matches_explicit_windows(dark, bright):
    rng = np.random.default_rng(7)
    x = rng.uniform(-0.2, 1.2, (9, 11))  # no ties
    threshold = 0.04  # |m| < 0.2: some windows are selected, some are not
    expected, n_zero, n_one = _loop_pull(x, 3, threshold, dark, bright)
    assert (n_zero > 3) is dark and (n_one > 3) is bright  # the test selects something
    got = _pull_extremes(x, 3, threshold, dark, bright)
    np.testing.assert_array_equal(got, expected)
    # a 5-pixel window selects other pixels: the window size is used
    assert not np.array_equal(_pull_extremes(x, 5, threshold, dark, bright), got)


def _ncc(estimate: np.ndarray, truth: np.ndarray) -> float:
    a, b = estimate - estimate.mean(), truth - truth.mean()
    return float(correlate(a, b).max() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.fixture(scope="module")
def case():
    psf = motion_psf(S, 9, 30.0)
    op = ConvolutionOperator(psf, (N, N), boundary="valid")
    truth = piecewise_constant_image(op.latent_shape, seed=1)
    truth = (truth - truth.min()) / (truth.max() - truth.min())  # dark and bright regions
    rng = np.random.default_rng(1)
    y = op.forward(torch.tensor(truth)).numpy() + NOISE * rng.standard_normal((N, N))
    return y, psf


def test_channel_terms_run_stay_on_the_simplex_and_do_not_hurt(case):
    y, psf = case
    plain = search_kernel(y, (S, S))
    found = search_kernel(y, (S, S), dark_channel=1.0, bright_channel=1.0, channel_window=15)
    assert found.shape == (S, S)
    assert (found >= 0).all() and found.sum() == pytest.approx(1.0, abs=1e-12)
    assert not np.array_equal(found, plain)  # the terms change the search
    assert _ncc(found, psf) >= _ncc(plain, psf) - 0.01
    assert _ncc(found, psf) > 0.85  # measured: 0.79 without, 0.93 with the terms
    # off by default: zero weights are the plain search, whatever the window (a short one)
    short = {"iters": 1, "refine_iters": 0, "min_size": 9}
    same = search_kernel(y, (S, S), dark_channel=0.0, channel_window=7, **short)
    np.testing.assert_array_equal(same, search_kernel(y, (S, S), **short))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dark_channel": -1.0}, "dark_channel must be a non-negative"),
        ({"bright_channel": float("nan")}, "bright_channel must be a non-negative"),
        ({"channel_window": 4}, "odd integer >= 3"),
        ({"channel_window": 1}, "odd integer >= 3"),
    ],
)
def test_bad_channel_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        search_kernel(np.zeros((20, 20)), (5, 5), **kwargs)
