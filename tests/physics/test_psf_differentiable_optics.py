"""The differentiable widefield PSFs (:mod:`bayesdeconv.physics.psf.differentiable_optics`) and
:func:`~bayesdeconv.physics.psf.bessel.bessel_j0`: the numpy models, gradients, conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import j0, j1

from bayesdeconv.physics.psf import (
    psf_centroid,
    widefield_born_wolf_kernel,
    widefield_gaussian_kernel,
    widefield_gaussian_kernel_3d,
    widefield_psf_3d,
)
from bayesdeconv.physics.psf.bessel import bessel_j0

F64 = torch.float64
OPTICS = {"wavelength": 0.52, "numerical_aperture": 1.2, "refractive_index": 1.33}
WIDEFIELD = {**OPTICS, "pixel_size": 0.08, "z_step": 0.2}
PLANE = {**OPTICS, "pixel_size": 0.08}


def param(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=F64, requires_grad=True)


def test_bessel_j0_matches_scipy_and_its_gradient_is_minus_j1():
    for high in (1.0, 30.0, 100.0, 300.0):
        x = torch.linspace(-high, high, 20001, dtype=F64)
        np.testing.assert_allclose(bessel_j0(x).numpy(), j0(x.numpy()), rtol=0, atol=1e-14)
    x = torch.tensor([0.0, 1e-6, 0.3, 2.4048, 7.0, 33.3, -5.0, 120.0], dtype=F64)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(bessel_j0(x).sum(), x)
    np.testing.assert_allclose(grad.numpy(), -j1(x.detach().numpy()), rtol=0, atol=1e-14)
    assert bessel_j0(torch.zeros(0, dtype=F64)).shape == (0,)
    assert bessel_j0(torch.ones(2, 3, dtype=torch.float32)).dtype == torch.float32


@pytest.mark.parametrize(
    ("shape", "optics"),
    [
        ((9, 17, 15), WIDEFIELD),
        ((5, 5, 5), WIDEFIELD),
        ((21, 33, 33), {**WIDEFIELD, "pixel_size": 0.05, "z_step": 0.1}),
        ((11, 15, 15), {**WIDEFIELD, "numerical_aperture": 0.5, "refractive_index": 1.0}),
    ],
)
def test_born_wolf_matches_numpy(shape, optics):
    kernel = widefield_born_wolf_kernel(shape, **optics)
    expected = widefield_psf_3d(shape, **optics, model="born_wolf")
    assert kernel.dtype == F64 and tuple(kernel.shape) == shape
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(kernel.numpy(), expected, rtol=0, atol=1e-10 * expected.max())
    assert psf_centroid(kernel) == pytest.approx([s // 2 for s in shape], abs=1e-9)
    fine = widefield_born_wolf_kernel(shape, **optics, n_quad=400)
    np.testing.assert_allclose(fine.numpy(), kernel.numpy(), rtol=0, atol=1e-12)


def test_a_plane_is_the_normalised_stack_plane_at_its_distance_from_focus():
    stack = widefield_born_wolf_kernel((9, 17, 17), **WIDEFIELD)
    for plane, distance in ((4, 0.0), (6, 0.4), (2, 0.4), (8, 0.8)):
        expected = stack[plane] / stack[plane].sum()
        for sign in (1.0, -1.0):  # even in the defocus
            kernel = widefield_born_wolf_kernel((17, 17), **PLANE, defocus=sign * distance)
            torch.testing.assert_close(kernel, expected, rtol=0, atol=1e-14)
    # defocus broadens the plane: the central pixel drops
    focus = widefield_born_wolf_kernel(17, **PLANE)
    assert float(widefield_born_wolf_kernel(17, **PLANE, defocus=0.5)[8, 8]) < float(focus[8, 8])


def test_a_3d_defocus_shifts_the_focus_along_z():
    base = widefield_born_wolf_kernel((15, 9, 9), **WIDEFIELD)
    shifted = widefield_born_wolf_kernel((15, 9, 9), **WIDEFIELD, defocus=2 * WIDEFIELD["z_step"])
    # up to normalisation, plane i of the shifted stack is plane i - 2 of the centred one
    a, b = shifted[2:], base[:-2]
    torch.testing.assert_close(a / a.sum(), b / b.sum(), rtol=0, atol=1e-14)
    assert int(shifted.sum(dim=(1, 2)).argmax()) == 7 + 2


def test_gaussian_model_in_2d_and_3d():
    for shape in ((9, 17, 15), (5, 5, 5)):
        kernel = widefield_gaussian_kernel(shape, **WIDEFIELD)
        np.testing.assert_allclose(kernel.numpy(), widefield_psf_3d(shape, **WIDEFIELD), atol=1e-15)
        torch.testing.assert_close(kernel, widefield_gaussian_kernel_3d(shape, **WIDEFIELD))
    stack = widefield_gaussian_kernel((9, 17, 17), **WIDEFIELD)
    plane = widefield_gaussian_kernel((17, 17), **PLANE)
    for i in (0, 4, 7):  # every normalised plane is the same lateral Gaussian
        torch.testing.assert_close(plane, stack[i] / stack[i].sum(), rtol=0, atol=1e-15)
    assert widefield_gaussian_kernel(7, **PLANE).shape == (7, 7)
    assert widefield_gaussian_kernel(7, **WIDEFIELD).shape == (7, 7, 7)


def test_float32_and_tensor_parameters():
    na = torch.tensor(1.1, dtype=torch.float32)
    kernel = widefield_born_wolf_kernel((5, 9, 9), **{**WIDEFIELD, "numerical_aperture": na})
    assert kernel.dtype == F64
    k32 = widefield_born_wolf_kernel((5, 9, 9), **WIDEFIELD, dtype=torch.float32)
    assert k32.dtype == torch.float32
    reference = widefield_born_wolf_kernel((5, 9, 9), **WIDEFIELD)
    np.testing.assert_allclose(k32.numpy(), reference.numpy(), rtol=0, atol=1e-6)
    # a float32 NA one ulp above n (the top of a float32 prior) is accepted
    edge = torch.tensor(1.33, dtype=torch.float32)
    widefield_born_wolf_kernel(9, **{**PLANE, "numerical_aperture": edge})


def test_gradcheck_born_wolf_3d_and_2d():
    def stack(lam, na, n, dxy, dz, d):
        return widefield_born_wolf_kernel(
            (5, 7, 7),
            wavelength=lam,
            numerical_aperture=na,
            refractive_index=n,
            pixel_size=dxy,
            z_step=dz,
            defocus=d,
        )

    def plane(lam, na, n, dxy, d):
        return widefield_born_wolf_kernel(
            (9, 9),
            wavelength=lam,
            numerical_aperture=na,
            refractive_index=n,
            pixel_size=dxy,
            defocus=d,
        )

    optics = (param(0.52), param(1.1), param(1.33), param(0.08))
    assert torch.autograd.gradcheck(stack, (*optics, param(0.2), param(0.15)))
    assert torch.autograd.gradcheck(plane, (*optics, param(0.7)))
    assert torch.autograd.gradcheck(plane, (*optics, param(0.0)))


def test_gradcheck_gaussian_2d():
    def plane(lam, na, n, dxy):
        return widefield_gaussian_kernel(
            (7, 7), wavelength=lam, numerical_aperture=na, refractive_index=n, pixel_size=dxy
        )

    assert torch.autograd.gradcheck(plane, (param(0.52), param(1.1), param(1.33), param(0.08)))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: widefield_born_wolf_kernel((9, 9, 8), **WIDEFIELD), "odd"),
        (lambda: widefield_born_wolf_kernel((9,), **WIDEFIELD), "2 or 3"),
        (lambda: widefield_born_wolf_kernel((3, 9, 9, 9), **WIDEFIELD), "2 or 3"),
        (lambda: widefield_born_wolf_kernel("9", **WIDEFIELD), "2 or 3"),
        (lambda: widefield_born_wolf_kernel((5, 9, 9), **PLANE), "needs z_step"),
        (lambda: widefield_born_wolf_kernel((9, 9), **WIDEFIELD), "3-D size"),
        (
            lambda: widefield_born_wolf_kernel(9, **{**PLANE, "numerical_aperture": 1.4}),
            "cannot exceed",
        ),
        (lambda: widefield_born_wolf_kernel(9, **{**WIDEFIELD, "z_step": 0.0}), "z_step"),
        (lambda: widefield_born_wolf_kernel(9, **PLANE, defocus=float("nan")), "defocus"),
        (lambda: widefield_born_wolf_kernel(9, **PLANE, n_quad=0), "n_quad"),
        (lambda: widefield_born_wolf_kernel(9, **{**PLANE, "wavelength": -1.0}), "wavelength"),
        (lambda: widefield_gaussian_kernel((9, 9), **WIDEFIELD), "3-D size"),
        (
            lambda: widefield_gaussian_kernel(9, **{**WIDEFIELD, "numerical_aperture": 2.0}),
            "cannot exceed",
        ),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
