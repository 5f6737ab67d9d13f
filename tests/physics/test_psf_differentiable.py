"""Tests for :mod:`bayesdeconv.physics.psf.differentiable` (torch PSF generators)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import j1, jv

from bayesdeconv.physics.psf import (
    airy_kernel,
    airy_psf,
    anisotropic_gaussian_psf,
    defocus_kernel,
    gaussian_kernel,
    gaussian_psf,
    motion_kernel,
    motion_psf,
    psf_centroid,
    widefield_gaussian_kernel_3d,
    widefield_psf_3d,
)
from bayesdeconv.physics.psf.bessel import jinc

F64 = torch.float64
AIRY = {"wavelength": 0.5, "numerical_aperture": 1.0, "pixel_size": 0.05}
WIDEFIELD = {
    "wavelength": 0.52,
    "numerical_aperture": 1.2,
    "refractive_index": 1.33,
    "pixel_size": 0.08,
    "z_step": 0.2,
}


def param(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=F64, requires_grad=True)


def assert_psf(kernel: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert isinstance(kernel, torch.Tensor) and kernel.dtype == F64
    assert tuple(kernel.shape) == shape
    assert float(kernel.min()) >= 0.0
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------------------------
# (a) equality with the numpy generators
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "sigma"), [(15, 2.0), ((21, 17), 0.7), (9, 4.5)])
def test_gaussian_matches_numpy(size, sigma):
    torch_kernel = gaussian_kernel(size, sigma)
    np.testing.assert_allclose(torch_kernel.numpy(), gaussian_psf(size, sigma), rtol=0, atol=1e-10)


@pytest.mark.parametrize("theta", [0.0, 0.5, -1.2, math.pi / 2, 3.0])
def test_anisotropic_gaussian_matches_numpy(theta):
    kernel = gaussian_kernel((21, 17), 3.0, 1.2, theta)
    expected = anisotropic_gaussian_psf((21, 17), 3.0, 1.2, theta)
    np.testing.assert_allclose(kernel.numpy(), expected, rtol=0, atol=1e-10)


def test_widefield_gaussian_3d_matches_numpy():
    for shape in [(9, 17, 15), (5, 5, 5)]:
        kernel = widefield_gaussian_kernel_3d(shape, **WIDEFIELD)
        assert_psf(kernel, shape)
        np.testing.assert_allclose(kernel.numpy(), widefield_psf_3d(shape, **WIDEFIELD), atol=1e-10)
    assert widefield_gaussian_kernel_3d(7, **WIDEFIELD).shape == (7, 7, 7)


@pytest.mark.parametrize("oversample", [1, 2, 3])
@pytest.mark.parametrize(
    ("size", "optics"),
    [
        (33, AIRY),
        ((41, 31), {"wavelength": 0.52, "numerical_aperture": 1.4, "pixel_size": 0.03}),
        (15, {"wavelength": 0.6, "numerical_aperture": 0.3, "pixel_size": 0.4}),
    ],
)
def test_airy_matches_numpy(size, optics, oversample):
    kernel = airy_kernel(size, **optics, oversample=oversample)
    expected = airy_psf(size, **optics, oversample=oversample)
    np.testing.assert_allclose(kernel.numpy(), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize(("length", "angle"), [(9.0, 0.0), (7.3, 0.4), (12.6, 2.2), (1.0, 1.0)])
def test_motion_matches_numpy_with_the_same_samples(length, angle):
    kernel = motion_kernel(25, length, angle, samples=max(2, math.ceil(32 * length)))
    np.testing.assert_allclose(kernel.numpy(), motion_psf(25, length, angle), rtol=0, atol=1e-10)


def test_jinc_matches_scipy():
    v = torch.linspace(0.0, 300.0, 30001, dtype=F64)
    vn = v.numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(vn == 0, 1.0, 2.0 * j1(vn) / vn)
    np.testing.assert_allclose(jinc(v).numpy(), expected, rtol=0, atol=1e-13)
    # derivative: d/dv [2 J1(v) / v] = -2 J2(v) / v
    x = torch.tensor(
        [1e-5, 5e-4, 0.03, 0.07, 0.7, 3.8317, 11.0, 57.3], dtype=F64, requires_grad=True
    )
    (grad,) = torch.autograd.grad(jinc(x).sum(), x)
    xn = x.detach().numpy()
    np.testing.assert_allclose(grad.numpy(), -2.0 * jv(2, xn) / xn, rtol=1e-9, atol=1e-14)


# --------------------------------------------------------------------------------------------
# defining properties (motion, defocus) and conventions
# --------------------------------------------------------------------------------------------


def test_outputs_are_normalised_and_centred():
    kernels = {
        (15, 15): gaussian_kernel(15, 1.7, 0.9, 0.3),
        (21, 21): defocus_kernel(21, 6.2),
        (19, 23): motion_kernel((19, 23), 8.4, 0.6),
        (17, 17): airy_kernel(17, **AIRY),
    }
    for shape, kernel in kernels.items():
        assert_psf(kernel, shape)
        centroid = psf_centroid(kernel)
        assert centroid == pytest.approx([s // 2 for s in shape], abs=1e-9)
    assert_psf(widefield_gaussian_kernel_3d((5, 9, 7), **WIDEFIELD), (5, 9, 7))


def test_motion_unit_sum_and_angle_plus_pi():
    for length, angle in [(6.0, 0.3), (10.7, 1.9), (3.2, -2.5)]:
        kernel = motion_kernel(21, length, angle)
        assert_psf(kernel, (21, 21))
        flipped = motion_kernel(21, length, angle + math.pi)
        np.testing.assert_allclose(kernel.numpy(), flipped.numpy(), rtol=0, atol=1e-12)
        # a segment through the centre is point-symmetric
        np.testing.assert_allclose(kernel.numpy(), kernel.flip(0, 1).numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("length", [4.0, 7.0, 9.5, 14.0])
def test_horizontal_motion_spans_its_length(length):
    kernel = motion_kernel(31, length, 0.0).numpy()
    rows = np.flatnonzero(kernel.sum(axis=1) > 1e-12)
    assert rows.tolist() == [15]
    cols = np.flatnonzero(kernel[15] > 1e-12)
    span = cols[-1] - cols[0] + 1
    assert length <= span <= length + 2
    x = np.arange(31) - 15
    second_moment = float((kernel[15] * x * x).sum())
    assert length**2 / 12 <= second_moment <= length**2 / 12 + 0.25


def test_motion_is_continuous_in_length_and_short_motion_is_delta():
    a = motion_kernel(15, 5.0, 0.8)
    b = motion_kernel(15, 5.0 + 1e-7, 0.8)
    assert float((a - b).abs().max()) < 1e-6
    delta = motion_kernel(9, 0.0, 0.3)
    assert float(delta[4, 4]) == 1.0 and float(delta.sum()) == 1.0


@pytest.mark.parametrize("radius", [12.0, 20.0, 27.3])
def test_defocus_second_moment(radius):
    size = 2 * math.ceil(radius) + 5
    kernel = defocus_kernel(size, radius).numpy()
    y, x = np.mgrid[:size, :size] - size // 2
    second_moment = float((kernel * (x * x + y * y)).sum())
    assert second_moment == pytest.approx(radius**2 / 2, rel=1e-2)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-15)
    np.testing.assert_allclose(kernel, kernel[::-1], atol=1e-15)


def test_defocus_edge_is_a_ramp():
    kernel = defocus_kernel(11, 3.3)
    inner = float(kernel[5, 5])
    assert float(kernel[5, 7]) == pytest.approx(inner)  # rho = 2 < R - 1/2
    assert float(kernel[5, 8]) == pytest.approx(inner * 0.8)  # rho = 3: on the ramp
    assert float(kernel[5, 9]) == 0.0  # rho = 4 > R + 1/2
    assert float(kernel[3, 8]) == pytest.approx(inner * (3.8 - math.sqrt(13)))  # on the ramp
    assert float(defocus_kernel(5, 0.2)[2, 2]) == 1.0  # a tiny disk is a delta


def test_tensor_parameters_float32_and_device():
    sigma = torch.tensor(1.5, dtype=torch.float32)
    kernel = gaussian_kernel(7, sigma)
    assert kernel.dtype == F64 and kernel.device == sigma.device
    np.testing.assert_allclose(kernel.numpy(), gaussian_kernel(7, 1.5).numpy(), atol=1e-7)
    k32 = defocus_kernel(9, 2.5, dtype=torch.float32, device="cpu")
    assert k32.dtype == torch.float32
    assert float(k32.sum()) == pytest.approx(1.0, abs=1e-6)


def test_gradients_reach_tensor_parameters():
    length, angle = param(6.3), param(0.37)
    loss = (motion_kernel(15, length, angle) ** 2).sum()
    loss.backward()
    assert length.grad is not None and torch.isfinite(length.grad) and float(length.grad) != 0.0
    assert angle.grad is not None and torch.isfinite(angle.grad)


# --------------------------------------------------------------------------------------------
# (b) gradcheck in float64 w.r.t. every continuous parameter
# --------------------------------------------------------------------------------------------


def test_gradcheck_gaussian():
    def isotropic(s):
        return gaussian_kernel(9, s)

    def anisotropic(sx, sy, th):
        return gaussian_kernel((9, 7), sx, sy, th)

    assert torch.autograd.gradcheck(isotropic, (param(1.3),))
    assert torch.autograd.gradcheck(anisotropic, (param(1.8), param(0.9), param(0.4)))


def test_gradcheck_defocus():
    assert torch.autograd.gradcheck(lambda r: defocus_kernel(11, r), (param(3.3),))


def test_gradcheck_motion():
    def kernel(length, angle):
        return motion_kernel(13, length, angle, samples=97)

    assert torch.autograd.gradcheck(kernel, (param(6.3), param(0.37)))
    assert torch.autograd.gradcheck(kernel, (param(4.1), param(2.05)))


def test_gradcheck_airy():
    def kernel(lam, na, dx):
        return airy_kernel(9, wavelength=lam, numerical_aperture=na, pixel_size=dx)

    assert torch.autograd.gradcheck(kernel, (param(0.55), param(0.9), param(0.12)))


def test_gradcheck_widefield_3d():
    def kernel(lam, na, n, dxy, dz):
        return widefield_gaussian_kernel_3d(
            (5, 7, 7),
            wavelength=lam,
            numerical_aperture=na,
            refractive_index=n,
            pixel_size=dxy,
            z_step=dz,
        )

    inputs = (param(0.52), param(1.2), param(1.33), param(0.08), param(0.2))
    assert torch.autograd.gradcheck(kernel, inputs)


# --------------------------------------------------------------------------------------------
# (c) bad arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gaussian_kernel(8, 1.0), "odd"),
        (lambda: gaussian_kernel((9, 6), 1.0), "odd"),
        (lambda: gaussian_kernel(0, 1.0), "size"),
        (lambda: gaussian_kernel((9, 9, 9), 1.0), "2 entries"),
        (lambda: gaussian_kernel("9", 1.0), "size"),
        (lambda: gaussian_kernel(9, 0.0), "sigma_x must be positive"),
        (lambda: gaussian_kernel(9, -1.0), "sigma_x must be positive"),
        (lambda: gaussian_kernel(9, float("nan")), "sigma_x must be finite"),
        (lambda: gaussian_kernel(9, 1.0, -2.0), "sigma_y must be positive"),
        (lambda: gaussian_kernel(9, 1.0, 1.0, float("inf")), "theta must be finite"),
        (lambda: gaussian_kernel(9, "1.0"), "sigma_x must be a real number"),
        (lambda: gaussian_kernel(9, True), "sigma_x must be a real number"),
        (lambda: gaussian_kernel(9, torch.tensor([1.0, 2.0])), "0-d"),
        (lambda: gaussian_kernel(9, torch.tensor(1.0 + 1.0j)), "0-d"),
        (lambda: gaussian_kernel(9, torch.tensor(-1.0)), "sigma_x must be positive"),
        (lambda: gaussian_kernel(9, 1.0, dtype=torch.int64), "dtype"),
        (lambda: defocus_kernel(9, 0.0), "radius must be positive"),
        (lambda: defocus_kernel(10, 2.0), "odd"),
        (lambda: motion_kernel(9, -1.0), "length must be >= 0"),
        (lambda: motion_kernel(9, 3.0, float("nan")), "angle must be finite"),
        (lambda: motion_kernel(9, 3.0, samples=0), "samples"),
        (lambda: motion_kernel(9, 3.0, samples=2.5), "samples"),
        (lambda: motion_kernel(9, 1e6, 0.3, samples=2), "no mass"),
        (lambda: airy_kernel(9, **{**AIRY, "wavelength": 0.0}), "wavelength must be positive"),
        (lambda: airy_kernel(9, **{**AIRY, "numerical_aperture": -1}), "numerical_aperture"),
        (lambda: airy_kernel(9, **{**AIRY, "pixel_size": float("inf")}), "pixel_size"),
        (lambda: airy_kernel(9, **AIRY, oversample=0), "oversample"),
        (lambda: airy_kernel(8, **AIRY), "odd"),
        (lambda: widefield_gaussian_kernel_3d((5, 6, 7), **WIDEFIELD), "odd"),
        (lambda: widefield_gaussian_kernel_3d((5, 7), **WIDEFIELD), "3 entries"),
        (
            lambda: widefield_gaussian_kernel_3d(5, **{**WIDEFIELD, "numerical_aperture": 1.5}),
            "cannot exceed",
        ),
        (lambda: widefield_gaussian_kernel_3d(5, **{**WIDEFIELD, "z_step": 0}), "z_step"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
