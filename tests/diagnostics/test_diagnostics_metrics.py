"""Tests for :mod:`bayesdeconv.diagnostics.metrics` on analytically known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayesdeconv.diagnostics import coverage, isnr, psnr, rmse


@pytest.fixture
def reference() -> np.ndarray:
    # range exactly 1 (0 ... 1)
    return np.linspace(0.0, 1.0, 64).reshape(8, 8)


def _pm(shape, amplitude):
    """A +-amplitude checkerboard: its mean square is exactly amplitude**2."""
    signs = np.where(np.indices(shape).sum(axis=0) % 2 == 0, 1.0, -1.0)
    return amplitude * signs


def test_psnr_of_identical_images_is_infinite(reference):
    assert psnr(reference, reference) == math.inf


def test_psnr_known_noise(reference):
    noisy = reference + _pm(reference.shape, 0.1)  # MSE = 0.01, range 1 -> 20 dB
    assert psnr(noisy, reference) == pytest.approx(20.0, abs=1e-10)
    assert psnr(noisy, reference, data_range=2.0) == pytest.approx(
        10 * math.log10(4 / 0.01), abs=1e-10
    )
    # the default range is the reference's, not the estimate's
    assert psnr(noisy * 3, reference) < psnr(noisy, reference)


def test_psnr_3d_and_lists():
    ref = np.zeros((2, 3, 4))
    ref[0, 0, 0] = 2.0
    est = ref.copy()
    est[1, 2, 3] = 0.2  # MSE = 0.04 / 24
    assert psnr(est, ref) == pytest.approx(10 * math.log10(4 / (0.04 / 24)))
    assert psnr([0.0, 1.0], [0.0, 1.0]) == math.inf


def test_psnr_errors(reference):
    with pytest.raises(ValueError, match="shape"):
        psnr(reference[:4], reference)
    with pytest.raises(ValueError, match="range"):
        psnr(np.ones((3, 3)), np.full((3, 3), 0.5))
    with pytest.raises(ValueError, match="data_range"):
        psnr(reference, reference, data_range=0.0)
    with pytest.raises(ValueError, match="data_range"):
        psnr(reference, reference, data_range=-1.0)


def test_rmse(reference):
    assert rmse(reference + _pm(reference.shape, 0.3), reference) == pytest.approx(0.3)
    assert rmse(reference, reference) == 0.0
    with pytest.raises(ValueError, match="shape"):
        rmse(reference, reference.T[:, :4])


def test_isnr(reference):
    observed = reference + _pm(reference.shape, 0.2)
    restored = reference + _pm(reference.shape, 0.1)
    # error energy quartered -> 10 log10(4) dB
    assert isnr(restored, observed, reference) == pytest.approx(10 * math.log10(4.0))
    assert isnr(observed, observed, reference) == pytest.approx(0.0, abs=1e-12)
    assert isnr(observed, restored, reference) == pytest.approx(-10 * math.log10(4.0))
    assert isnr(reference, observed, reference) == math.inf
    with pytest.raises(ValueError, match="undefined"):
        isnr(observed, reference, reference)
    with pytest.raises(ValueError, match="shape"):
        isnr(observed, observed[:3], reference)


def test_coverage_counts():
    ref = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    lower = np.array([-1.0, 1.0, 2.5, 2.0, 5.0])  # bounds are inclusive
    upper = np.array([1.0, 1.5, 3.0, 3.0, 6.0])
    assert coverage(ref, lower, upper) == pytest.approx(3 / 5)
    assert coverage(ref, ref, ref) == 1.0
    assert coverage(ref, ref + 1, ref + 2) == 0.0
    nan_upper = upper.copy()
    nan_upper[0] = np.nan
    assert coverage(ref, lower, nan_upper) == pytest.approx(2 / 5)


def test_coverage_errors():
    ref = np.zeros(4)
    with pytest.raises(ValueError, match="lower > upper"):
        coverage(ref, np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        coverage(ref, np.zeros(3), np.ones(3))


def test_coverage_of_calibrated_gaussian_intervals():
    rng = np.random.default_rng(0)
    mean = rng.random((100, 100))
    std = 0.1 + rng.random((100, 100))
    truth = mean + std * rng.standard_normal(mean.shape)
    z = 1.6448536269514722  # 90 % two-sided
    c = coverage(truth, mean - z * std, mean + z * std)
    assert abs(c - 0.9) < 0.01  # binomial sd is 0.003
    assert coverage(truth, mean - 0.5 * z * std, mean + 0.5 * z * std) < 0.65
