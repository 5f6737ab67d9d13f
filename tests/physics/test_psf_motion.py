"""Tests for :mod:`bayesdeconv.physics.psf.motion`."""

from __future__ import annotations

import math

import numpy as np
import pytest
from psf_helpers import assert_valid, moments

from bayesdeconv.physics.psf import camera_shake_psf, motion_psf


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


@pytest.mark.parametrize("size", [11, 17, 31])
def test_camera_shake_psf_is_a_normalised_kernel_filling_its_support(size: int) -> None:
    k = camera_shake_psf(size, seed=size)
    assert k.shape == (size, size) and k.dtype == np.float64
    assert k.min() >= 0.0 and k.sum() == pytest.approx(1.0, abs=1e-12)
    ys, xs = np.nonzero(k)
    # the longer axis of the path spans size - 3 pixels (plus one of bilinear splatting)
    assert max(np.ptp(ys), np.ptp(xs)) in (size - 3, size - 2)
    assert min(ys.min(), xs.min()) >= 1 and max(ys.max(), xs.max()) <= size - 2
    # bounding box centred on the centre pixel (to within the splat)
    assert abs((ys.min() + ys.max()) / 2 - size // 2) <= 1.0
    assert abs((xs.min() + xs.max()) / 2 - size // 2) <= 1.0


def test_camera_shake_psf_is_reproducible_and_seed_dependent() -> None:
    assert np.array_equal(camera_shake_psf(17, seed=4), camera_shake_psf(17, seed=4))
    assert not np.allclose(camera_shake_psf(17, seed=4), camera_shake_psf(17, seed=5))


def test_camera_shake_psf_without_turning_is_a_straight_line() -> None:
    """Limit: no turning and no dwell is uniform motion along a line (:func:`motion_psf`)."""
    k = camera_shake_psf(21, seed=0, turning=0.0, dwell=0.0)
    ys, xs = np.nonzero(k > 1e-12)
    # all mass on a line: the second moments' matrix has rank one (to splatting accuracy)
    w = k[ys, xs]
    cov = np.cov(np.stack([ys, xs]), aweights=w)
    eig = np.linalg.eigvalsh(cov)
    assert eig[0] < 0.3 and eig[1] > 15.0
    # the mass along the line is uniform: both halves hold the same exposure
    centre = np.array([10.0, 10.0])
    direction = np.linalg.eigh(cov)[1][:, 1]
    side = (np.stack([ys, xs], axis=1) - centre) @ direction
    assert w[side > 0].sum() == pytest.approx(w[side < 0].sum(), abs=0.05)


@pytest.mark.parametrize("bad", [4, 10, 3.0, True, -5])
def test_camera_shake_psf_rejects_bad_sizes(bad) -> None:
    with pytest.raises(ValueError, match="odd integer"):
        camera_shake_psf(bad)


def test_camera_shake_psf_rejects_negative_turning() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        camera_shake_psf(11, turning=-1.0)
