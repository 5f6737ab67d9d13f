"""Tests for :mod:`bayesdeconv.physics.psf`."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.special import j1

from bayesdeconv.physics.psf import (
    airy_psf,
    anisotropic_gaussian_psf,
    check_psf,
    gaussian_psf,
    motion_psf,
    psf_centroid,
    widefield_gaussian_sigmas,
    widefield_psf_3d,
)

OPTICS = {"wavelength": 0.5, "numerical_aperture": 0.8, "refractive_index": 1.33}


def moments(psf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (index coordinates) and covariance matrix of a normalised array."""
    grids = np.meshgrid(*(np.arange(s, dtype=float) for s in psf.shape), indexing="ij")
    p = psf / psf.sum()
    mean = np.array([(g * p).sum() for g in grids])
    d = [g - m for g, m in zip(grids, mean, strict=True)]
    cov = np.array([[(a * b * p).sum() for b in d] for a in d])
    return mean, cov


def centre(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s // 2 for s in shape)


def assert_valid(psf: np.ndarray, shape: tuple[int, ...]) -> None:
    assert isinstance(psf, np.ndarray)
    assert psf.dtype == np.float64
    assert psf.shape == shape
    assert np.all(np.isfinite(psf))
    assert psf.min() >= 0.0
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)


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


# ---------------------------------------------------------------------------
# argument validation of the generators
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gaussian_psf(9, 0.0), "sigma must be positive"),
        (lambda: gaussian_psf(9, -1.0), "sigma must be positive"),
        (lambda: gaussian_psf(9, float("nan")), "sigma must be finite"),
        (lambda: gaussian_psf(0, 1.0), "size must be an integer >= 1"),
        (lambda: gaussian_psf((5, 0), 1.0), r"size\[1\] must be an integer >= 1"),
        (lambda: gaussian_psf((5, 5, 5), 1.0), "size must have 2 entries"),
        (lambda: gaussian_psf(5.5, 1.0), "size must be an integer or a sequence"),
        (lambda: anisotropic_gaussian_psf(9, 1.0, 0.0), "sigma_y must be positive"),
        (lambda: anisotropic_gaussian_psf(9, 1.0, 1.0, np.inf), "theta must be finite"),
        (lambda: motion_psf(9, -1.0), "length must be >= 0"),
        (lambda: motion_psf(9, float("nan")), "length must be finite"),
        (lambda: motion_psf(9, 3.0, float("nan")), "angle must be finite"),
        (
            lambda: airy_psf(9, wavelength=-0.5, numerical_aperture=1.0, pixel_size=0.1),
            "wavelength must be positive",
        ),
        (
            lambda: airy_psf(
                9, wavelength=0.5, numerical_aperture=1.0, pixel_size=0.1, oversample=0
            ),
            "oversample must be an integer >= 1",
        ),
        (
            lambda: widefield_psf_3d(
                9,
                wavelength=0.5,
                numerical_aperture=1.4,
                refractive_index=1.33,
                pixel_size=0.1,
                z_step=0.2,
            ),
            "cannot exceed refractive_index",
        ),
        (
            lambda: widefield_psf_3d(9, **OPTICS, pixel_size=0.1, z_step=0.0),
            "z_step must be positive",
        ),
        (
            lambda: widefield_psf_3d((9, 9), **OPTICS, pixel_size=0.1, z_step=0.2),
            "shape must have 3 entries",
        ),
        (
            lambda: widefield_psf_3d(9, **OPTICS, pixel_size=0.1, z_step=0.2, model="x"),
            "model must be",
        ),
    ],
)
def test_generator_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------
# check_psf / psf_centroid
# ---------------------------------------------------------------------------
def test_psf_centroid_values():
    k = np.zeros((5, 7))
    k[1, 2] = 1.0
    k[3, 6] = 3.0
    assert psf_centroid(k) == pytest.approx((2.5, 5.0))
    with pytest.raises(ValueError, match="positive sum"):
        psf_centroid(np.zeros((3, 3)))


def test_check_psf_accepts_valid_and_returns_copy():
    k = gaussian_psf(9, 1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = check_psf(k, image_shape=(64, 64))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, k)
    assert out is not k and not np.shares_memory(out, k)
    out3 = check_psf(widefield_psf_3d(5, **OPTICS, pixel_size=0.1, z_step=0.2))
    assert out3.shape == (5, 5, 5)


def test_check_psf_integer_and_float32_input():
    k = np.zeros((3, 3), dtype=np.int64)
    k[1, 1] = 1
    out = check_psf(k)
    assert out.dtype == np.float64 and out[1, 1] == 1.0
    out32 = check_psf(gaussian_psf(7, 1.0).astype(np.float32))
    assert out32.dtype == np.float64


def test_check_psf_nan_inf():
    k = gaussian_psf(5, 1.0)
    k[0, 0] = np.nan
    with pytest.raises(ValueError, match="psf contains NaN or Inf values"):
        check_psf(k)
    k[0, 0] = np.inf
    with pytest.raises(ValueError, match="kernel contains NaN or Inf values"):
        check_psf(k, name="kernel")


def test_check_psf_negative():
    k = gaussian_psf(5, 1.0)
    k[0, 0] = -1e-3
    with pytest.raises(ValueError, match="negative values"):
        check_psf(k, normalise=True)
    # tiny round-off negatives are tolerated and clipped
    k = np.zeros((5, 5))
    k[2, 2] = 1.0
    k[0, 0] = -1e-15
    out = check_psf(k)
    assert out.min() >= 0.0


def test_check_psf_zero_sum():
    with pytest.raises(ValueError, match="positive sum"):
        check_psf(np.zeros((3, 3)), normalise=True)


def test_check_psf_not_normalised_and_normalise():
    rng = np.random.default_rng(0)
    k = gaussian_psf(7, 1.2) * 3.7 + 1e-3 * rng.random((7, 7))
    with pytest.raises(ValueError, match=r"not normalised \(sum=3\.7.*normalise=True"):
        check_psf(k)
    out = check_psf(k, normalise=True)
    assert out.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(out, k / k.sum())
    # within rtol is accepted as is
    near = gaussian_psf(7, 1.2) * (1 + 5e-4)
    np.testing.assert_array_equal(check_psf(near), near)
    with pytest.raises(ValueError, match="not normalised"):
        check_psf(near, rtol=1e-4)


@pytest.mark.parametrize(
    ("arr", "match"),
    [
        (np.ones(5) / 5, "2-D or 3-D"),
        (np.ones((2, 2, 2, 2)) / 16, "2-D or 3-D"),
        (np.full((2, 2), 0.25 + 0j), "real numbers"),
        (np.ones((2, 2), dtype=bool), "real numbers"),
        (np.array([["a", "b"]]), "real numbers"),
        (np.ones((0, 3)), "empty"),
    ],
)
def test_check_psf_bad_arrays(arr, match):
    with pytest.raises(ValueError, match=match):
        check_psf(arr)


def test_check_psf_image_shape():
    k = gaussian_psf((9, 5), 1.0)
    check_psf(k, image_shape=(9, 5))
    with pytest.raises(ValueError, match="dimensionality must match"):
        check_psf(k, image_shape=(4, 32, 32))
    with pytest.raises(
        ValueError, match=r"psf of shape \(9, 5\) is larger than the image of shape \(8, 32\)"
    ):
        check_psf(k, image_shape=(8, 32))


def test_check_psf_torch_input():
    torch = pytest.importorskip("torch")
    k = gaussian_psf(9, 1.5)
    t = torch.tensor(k, dtype=torch.float32, requires_grad=True)
    out = check_psf(t)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, k, rtol=1e-6)
    out16 = check_psf(torch.tensor(k).to(torch.bfloat16), normalise=True)
    assert out16.dtype == np.float64 and out16.sum() == pytest.approx(1.0)


def test_check_psf_off_centre_warning():
    k = np.roll(gaussian_psf(15, 1.5), shift=(2, -1), axis=(0, 1))
    with pytest.warns(UserWarning, match="not centred"):
        check_psf(k)
    # 1 pixel off is below the 1.5-pixel threshold
    slight = np.roll(gaussian_psf(15, 1.5), shift=1, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_psf(slight)
