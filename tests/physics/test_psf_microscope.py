"""The fixed widefield PSF on a stack's voxel grid (:func:`widefield_psf`)."""

from __future__ import annotations

import numpy as np
import pytest

from bayesdeconv.physics.psf import airy_psf, widefield_psf, widefield_psf_3d, widefield_support
from bayesdeconv.physics.psf.microscope import MAX_SUPPORT

OPTICS = {"wavelength": 0.52, "numerical_aperture": 1.4, "refractive_index": 1.518}


def test_support_from_the_optics_is_odd_and_anisotropic():
    shape = widefield_support((0.125, 0.022, 0.022), **OPTICS)
    assert all(s % 2 == 1 for s in shape) and shape[1] == shape[2]
    # z: 3 axial FWHMs of 1.77 n lambda / NA^2 over 0.125 um planes
    fwhm_z = 1.77 * 1.518 * 0.52 / 1.4**2
    assert shape[0] == 2 * int(np.ceil(1.5 * fwhm_z / 0.125)) + 1
    # laterally at least 3 Airy radii, and the outermost plane's blur cone
    assert shape[1] // 2 >= 3 * 0.61 * 0.52 / 1.4 / 0.022
    assert shape[1] // 2 >= 1.5 * fwhm_z * 1.4 / 1.518 / 0.022


def test_3d_psf_matches_the_generator_on_the_anisotropic_grid():
    voxel = (0.3, 0.1, 0.1)
    h = widefield_psf(voxel, **OPTICS)
    assert h.shape == widefield_support(voxel, **OPTICS)
    ref = widefield_psf_3d(h.shape, **OPTICS, pixel_size=0.1, z_step=0.3, model="born_wolf")
    np.testing.assert_allclose(h, ref)
    assert h.sum() == pytest.approx(1.0)
    assert np.unravel_index(h.argmax(), h.shape) == tuple(s // 2 for s in h.shape)


def test_2d_psf_is_the_in_focus_airy_pattern():
    h = widefield_psf((0.1, 0.1), **OPTICS, shape=(21, 21))
    ref = airy_psf(21, wavelength=0.52, numerical_aperture=1.4, pixel_size=0.1, oversample=1)
    np.testing.assert_allclose(h, ref, atol=1e-6)


def test_shape_and_max_shape():
    assert widefield_psf((0.3, 0.1, 0.1), **OPTICS, shape=(5, 9, 9)).shape == (5, 9, 9)
    full = widefield_support((0.125, 0.022, 0.022), **OPTICS)
    cut = widefield_psf((0.125, 0.022, 0.022), **OPTICS, max_shape=(8, 40, 41)).shape
    assert cut == (min(full[0], 7), min(full[1], 39), min(full[2], 41))


def test_gaussian_model():
    h = widefield_psf((0.3, 0.1, 0.1), **OPTICS, model="gaussian")
    assert h.shape == widefield_support((0.3, 0.1, 0.1), **OPTICS)


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_voxel_size_must_be_positive(bad: float):
    with pytest.raises(ValueError, match="voxel_size"):
        widefield_psf((bad, 0.1, 0.1), **OPTICS)
    with pytest.raises(ValueError, match="voxel_size"):
        widefield_psf((0.3, bad, bad), **OPTICS)


def test_anisotropic_lateral_pixels_refused():
    with pytest.raises(ValueError, match="anisotropic lateral pixels"):
        widefield_psf((0.3, 0.1, 0.12), **OPTICS)
    widefield_psf((0.3, 0.1, 0.10001), **OPTICS)  # rounding of the resolution tags is fine


def test_voxel_size_in_another_unit_than_the_wavelength():
    # voxel size in millimetres, wavelength in micrometres: a support of thousands of voxels
    with pytest.raises(ValueError, match="unit of the wavelength"):
        widefield_support((0.0003, 0.0001, 0.0001), **OPTICS)
    assert max(widefield_support((0.3, 0.1, 0.1), **OPTICS)) < MAX_SUPPORT


def test_bad_voxel_size_length():
    with pytest.raises(ValueError, match=r"\(dz, dy, dx\)"):
        widefield_psf((0.1,), **OPTICS)


# A PSF with more (or fewer) axes than the image: deconvolve says so, naming both shapes.


def test_deconvolve_refuses_a_3d_psf_for_a_2d_image():
    from bayesdeconv import deconvolve

    psf = widefield_psf((0.3, 0.1, 0.1), **OPTICS, shape=(5, 7, 7))
    with pytest.raises(ValueError, match=r"3-D \(shape \(5, 7, 7\)\).*2-D \(shape \(16, 16\)\)"):
        deconvolve(np.ones((16, 16)), psf, progress=False)


def test_deconvolve_refuses_a_2d_psf_for_a_stack_and_says_how():
    from bayesdeconv import deconvolve

    psf = widefield_psf((0.1, 0.1), **OPTICS, shape=(7, 7))
    with pytest.raises(ValueError, match=r"2-D \(shape \(7, 7\)\).*3-D.*needs a 3-D PSF") as info:
        deconvolve(np.ones((6, 16, 16)), psf, progress=False)
    assert "\n" not in str(info.value)
