"""Tests for :mod:`bayesdeconv.physics.psf.checks`: argument checks, check_psf, psf_centroid."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from psf_helpers import OPTICS

from bayesdeconv.physics.psf import (
    airy_psf,
    anisotropic_gaussian_psf,
    check_psf,
    gaussian_psf,
    motion_psf,
    psf_centroid,
    widefield_psf_3d,
)


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
