"""crop_psf: the centred box that keeps a PSF's energy."""

import numpy as np
import pytest

from bayesdeconv.physics.psf import crop_psf, gaussian_psf, widefield_psf_3d


def test_crop_keeps_the_energy_asked_for_and_stays_centred():
    psf = widefield_psf_3d((31, 63, 63), wavelength=0.52, numerical_aperture=1.2,
                           refractive_index=1.515, pixel_size=0.1, z_step=0.25)  # fmt: skip
    for energy in (0.9, 0.99, 0.999):
        cropped, dropped = crop_psf(psf, energy)
        assert dropped <= 1 - energy + 1e-11  # the radii search tolerates 1e-12 per axis
        assert all(s % 2 == 1 for s in cropped.shape) and cropped.size < psf.size
        assert cropped.sum() == pytest.approx(1.0)
        c = tuple(s // 2 for s in cropped.shape)
        assert cropped[c] == cropped.max()  # the peak stays at s // 2
    tight, _ = crop_psf(psf, 0.9)
    loose, _ = crop_psf(psf, 0.999)
    assert all(a <= b for a, b in zip(tight.shape, loose.shape, strict=True))


def test_crop_of_a_compact_psf_on_a_large_grid_drops_nothing():
    small = gaussian_psf(9, 1.0)
    big = np.zeros((41, 41))
    big[16:25, 16:25] = small
    cropped, dropped = crop_psf(big, 1.0)
    assert cropped.shape == (9, 9) and dropped == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(cropped, small / small.sum())


@pytest.mark.parametrize(
    ("psf", "energy", "match"),
    [
        (np.ones((3, 3)), 0.0, "energy"),
        (np.ones((3, 3)), 1.5, "energy"),
        (-np.ones((3, 3)), 0.9, "non-negative"),
        (np.zeros((3, 3)), 0.9, "zero"),
    ],
)
def test_bad_input(psf, energy, match):
    with pytest.raises(ValueError, match=match):
        crop_psf(psf, energy)


def test_an_even_psf_gives_an_odd_centred_box():
    psf = np.zeros((32, 64))
    psf[12:21, 28:37] = gaussian_psf(9, 1.0)  # centred at (16, 32) = s // 2
    cropped, dropped = crop_psf(psf, 1.0)
    assert cropped.shape == (9, 9) and dropped == pytest.approx(0.0, abs=1e-15)
    whole, _ = crop_psf(np.ones((4, 6)), 1.0)  # no box holds all: the largest centred one
    assert whole.shape == (3, 5)
