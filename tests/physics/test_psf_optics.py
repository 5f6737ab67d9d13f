"""Tests for :mod:`bayesdeconv.physics.psf.optics` (Airy and 3-D widefield PSFs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from psf_helpers import OPTICS, assert_valid, centre, moments
from scipy.special import j1

from bayesdeconv.physics.psf import airy_psf, widefield_gaussian_sigmas, widefield_psf_3d


# ---------------------------------------------------------------------------
# airy
# ---------------------------------------------------------------------------
def test_airy_basic():
    k = airy_psf(33, wavelength=0.5, numerical_aperture=1.0, pixel_size=0.05)
    assert_valid(k, (33, 33))
    assert np.unravel_index(k.argmax(), k.shape) == (16, 16)
    np.testing.assert_allclose(k, np.flip(k), atol=1e-15)
    np.testing.assert_allclose(k, k.T, atol=1e-15)
    even = airy_psf((20, 24), wavelength=0.5, numerical_aperture=1.0, pixel_size=0.05)
    assert np.unravel_index(even.argmax(), even.shape) == (10, 12)


def test_airy_point_samples_match_formula():
    lam, na, dx = 0.6, 0.9, 0.07
    k = airy_psf(15, wavelength=lam, numerical_aperture=na, pixel_size=dx, oversample=1)
    y, x = np.mgrid[-7:8, -7:8]
    v = 2 * np.pi * na * np.hypot(x, y) * dx / lam
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = (2 * j1(v) / v) ** 2
    ref[7, 7] = 1.0
    np.testing.assert_allclose(k, ref / ref.sum(), rtol=1e-10)


@pytest.mark.parametrize("oversample", [1, 3])
def test_airy_first_zero(oversample):
    lam, na, dx = 0.5, 0.5, 0.01
    k = airy_psf(141, wavelength=lam, numerical_aperture=na, pixel_size=dx, oversample=oversample)
    profile = k[70, 70:]
    r_min = int(np.argmin(profile[30:90])) + 30
    assert abs(r_min - 0.61 * lam / na / dx) <= 1.0
    assert profile[r_min] < 1e-3 * profile[0]


# ---------------------------------------------------------------------------
# 3-D widefield
# ---------------------------------------------------------------------------
def test_widefield_sigmas_formulas():
    sz, sxy = widefield_gaussian_sigmas(**OPTICS)
    lam, na, n = OPTICS["wavelength"], OPTICS["numerical_aperture"], OPTICS["refractive_index"]
    assert sxy == pytest.approx(0.2251 * lam / na, rel=1e-3)
    assert sz == pytest.approx(0.7797 * lam * n / na**2, rel=1e-3)


def test_widefield_gaussian_moments():
    dxy, dz = 0.06, 0.25
    sz, sxy = widefield_gaussian_sigmas(**OPTICS)
    shape = (2 * math.ceil(5 * sz / dz) + 1, 2 * math.ceil(5 * sxy / dxy) + 1, 27)
    h = widefield_psf_3d(shape, **OPTICS, pixel_size=dxy, z_step=dz)
    assert_valid(h, shape)
    assert np.unravel_index(h.argmax(), shape) == centre(shape)
    mean, cov = moments(h)
    np.testing.assert_allclose(mean, centre(shape), atol=1e-9)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), [sz / dz, sxy / dxy, sxy / dxy], rtol=0.02)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=1e-9)


@pytest.fixture(scope="module")
def born_wolf() -> np.ndarray:
    return widefield_psf_3d((21, 33, 33), **OPTICS, pixel_size=0.05, z_step=0.1, model="born_wolf")


def test_born_wolf_basic(born_wolf):
    assert_valid(born_wolf, (21, 33, 33))
    assert np.unravel_index(born_wolf.argmax(), born_wolf.shape) == (10, 16, 16)
    peaks = born_wolf.max(axis=(1, 2))
    assert int(np.argmax(peaks)) == 10
    assert np.all(np.diff(peaks[10:15]) < 0)  # decreasing away from focus (before any zero)


def test_born_wolf_symmetric_in_z_and_laterally(born_wolf):
    np.testing.assert_allclose(born_wolf, born_wolf[::-1], rtol=1e-10, atol=1e-18)
    np.testing.assert_allclose(born_wolf, np.flip(born_wolf, axis=(1, 2)), rtol=1e-10)
    np.testing.assert_allclose(born_wolf, born_wolf.transpose(0, 2, 1), rtol=1e-10)


def test_born_wolf_in_focus_is_airy(born_wolf):
    plane = born_wolf[10] / born_wolf[10].sum()
    airy = airy_psf(
        (33, 33),
        wavelength=OPTICS["wavelength"],
        numerical_aperture=OPTICS["numerical_aperture"],
        pixel_size=0.05,
        oversample=1,
    )
    np.testing.assert_allclose(plane, airy, atol=1e-8 * airy.max())


def test_born_wolf_on_axis_sinc(born_wolf):
    lam, na, n = OPTICS["wavelength"], OPTICS["numerical_aperture"], OPTICS["refractive_index"]
    z = (np.arange(21) - 10) * 0.1
    u4 = (2 * np.pi / lam) * na**2 * z / (4 * n)
    expected = np.sinc(u4 / np.pi) ** 2  # [sin(u/4) / (u/4)]^2
    axis = born_wolf[:, 16, 16]
    np.testing.assert_allclose(axis / axis[10], expected, rtol=1e-8, atol=1e-12)


def test_born_wolf_quadrature_converged(born_wolf):
    fine = widefield_psf_3d(
        (21, 33, 33), **OPTICS, pixel_size=0.05, z_step=0.1, model="born_wolf", n_quad=512
    )
    np.testing.assert_allclose(born_wolf, fine, rtol=1e-8, atol=1e-14)


def test_widefield_even_shape_centred():
    shape = (8, 10, 12)
    for model in ("gaussian", "born_wolf"):
        h = widefield_psf_3d(shape, **OPTICS, pixel_size=0.08, z_step=0.2, model=model)
        assert_valid(h, shape)
        assert np.unravel_index(h.argmax(), shape) == (4, 5, 6)
