"""Tests for :mod:`bayesdeconv.physics.psf.gaussian`."""

from __future__ import annotations

import math

import numpy as np
import pytest
from psf_helpers import assert_valid, centre, moments

from bayesdeconv.physics.psf import anisotropic_gaussian_psf, gaussian_psf, psf_centroid


# ---------------------------------------------------------------------------
# gaussian
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(41, 41), (40, 41), (10, 12), (1, 7)])
def test_gaussian_shape_centre(shape):
    k = gaussian_psf(shape, 2.0)
    assert_valid(k, shape)
    assert np.unravel_index(k.argmax(), shape) == centre(shape)


def test_gaussian_int_size_and_symmetry():
    k = gaussian_psf(15, sigma=1.7)
    assert_valid(k, (15, 15))
    np.testing.assert_allclose(k, np.flip(k), atol=1e-17)
    np.testing.assert_allclose(k, k.T, atol=1e-17)
    np.testing.assert_allclose(psf_centroid(k), (7.0, 7.0), atol=1e-12)


def test_gaussian_default_size():
    assert gaussian_psf(None, 1.2).shape == (9, 9)  # 2 * ceil(3.6) + 1
    assert gaussian_psf(None, 2.0).shape == (13, 13)


@pytest.mark.parametrize("sigma", [1.5, 2.5, 4.0])
def test_gaussian_second_moments(sigma):
    k = gaussian_psf(2 * math.ceil(6 * sigma) + 1, sigma)
    mean, cov = moments(k)
    np.testing.assert_allclose(mean, centre(k.shape), atol=1e-9)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), [sigma, sigma], rtol=0.02)
    assert abs(cov[0, 1]) < 1e-9


def test_gaussian_matches_formula():
    k = gaussian_psf(7, 1.3)
    y, x = np.mgrid[-3:4, -3:4]
    ref = np.exp(-(x**2 + y**2) / (2 * 1.3**2))
    np.testing.assert_allclose(k, ref / ref.sum(), rtol=1e-12)


# ---------------------------------------------------------------------------
# anisotropic gaussian
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("theta", [0.0, 0.4, -1.1, 2.5])
def test_anisotropic_covariance(theta):
    sx, sy = 3.0, 1.6
    k = anisotropic_gaussian_psf(45, sx, sy, theta=theta)
    assert_valid(k, (45, 45))
    assert np.unravel_index(k.argmax(), k.shape) == (22, 22)
    mean, cov_yx = moments(k)
    np.testing.assert_allclose(mean, (22, 22), atol=1e-9)
    # moments() works in (y, x) order; reorder to (x, y).
    cov_xy = cov_yx[::-1, ::-1]
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    expected = rot @ np.diag([sx**2, sy**2]) @ rot.T
    np.testing.assert_allclose(cov_xy, expected, rtol=0.02, atol=0.03)


def test_anisotropic_direction_convention():
    # theta = pi / 4: the long axis runs along +x towards +y (row index), i.e. the main diagonal.
    k = anisotropic_gaussian_psf(21, 4.0, 1.0, theta=math.pi / 4)
    assert k[14, 14] > 100 * k[6, 14]
    assert k[14, 14] > 100 * k[14, 6]
    np.testing.assert_allclose(k, k.T, rtol=1e-12)


def test_anisotropic_theta_half_pi_swaps():
    a = anisotropic_gaussian_psf((31, 25), 3.0, 1.5, theta=math.pi / 2)
    b = anisotropic_gaussian_psf((31, 25), 1.5, 3.0, theta=0.0)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-15)


def test_anisotropic_equal_sigmas_is_isotropic():
    np.testing.assert_allclose(
        anisotropic_gaussian_psf(17, 2.0, 2.0, theta=0.7), gaussian_psf(17, 2.0), rtol=1e-12
    )


def test_anisotropic_default_size_covers_ellipse():
    k = anisotropic_gaussian_psf(None, 3.0, 1.0)
    assert k.shape == (7, 19)
    assert all(s % 2 == 1 for s in k.shape)
