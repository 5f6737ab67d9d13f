"""Tests for :mod:`bayesdeconv.physics.psf.motion`."""

from __future__ import annotations

import math

import numpy as np
import pytest
from psf_helpers import assert_valid, moments

from bayesdeconv.physics.psf import motion_psf


# ---------------------------------------------------------------------------
# motion
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("angle", [0.0, 0.3, math.pi / 4, 2.0])
def test_motion_moments(angle):
    length = 15.0
    k = motion_psf(31, length, angle)
    assert_valid(k, (31, 31))
    mean, cov_yx = moments(k)
    np.testing.assert_allclose(mean, (15, 15), atol=1e-6)
    cov_xy = cov_yx[::-1, ::-1]
    u = np.array([math.cos(angle), math.sin(angle)])
    v = np.array([-math.sin(angle), math.cos(angle)])
    along = u @ cov_xy @ u
    across = v @ cov_xy @ v
    assert abs(along - length**2 / 12) < 0.3
    assert across < 0.3


def test_motion_horizontal_is_one_row():
    k = motion_psf(21, 9.0, 0.0)
    assert k[10].sum() == pytest.approx(1.0, abs=1e-12)
    # box of width 9 on [-4.5, 4.5] convolved with the unit tent, sampled at integers
    expected = np.zeros(21)
    expected[5:16] = np.array([1, 7] + [8] * 7 + [7, 1]) / 72
    np.testing.assert_allclose(k[10], expected, atol=1e-12)


def test_motion_vertical_is_one_column():
    k = motion_psf(21, 9.0, math.pi / 2)
    assert k[:, 10].sum() == pytest.approx(1.0, abs=1e-12)


def test_motion_direction_convention():
    # angle pi/4 goes from +x towards +y (increasing row): mass on the main diagonal.
    k = motion_psf(21, 12.0, math.pi / 4)
    assert k[13, 13] > 0.05
    assert k[7, 13] < 1e-12


def test_motion_angle_pi_same_segment():
    np.testing.assert_allclose(
        motion_psf(25, 11.0, 0.3), motion_psf(25, 11.0, 0.3 + math.pi), atol=1e-12
    )


@pytest.mark.parametrize("length", [0.0, 0.5, 0.99])
def test_motion_short_is_delta(length):
    k = motion_psf((5, 6), length)
    expected = np.zeros((5, 6))
    expected[2, 3] = 1.0
    np.testing.assert_array_equal(k, expected)


def test_motion_default_size_and_truncation_warning():
    k = motion_psf(None, 10.0, 0.0)
    assert k.shape == (13, 13)
    with pytest.warns(UserWarning, match="does not fit"):
        t = motion_psf(7, 20.0, 0.0)
    assert t.sum() == pytest.approx(1.0)
