"""The PSF support estimated for blind deconvolution (``psf_size=None``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import fftconvolve

import bayesdeconv.api as api
import bayesdeconv.infer.kernel_size as kernel_size
from bayesdeconv import deconvolve
from bayesdeconv.infer.kernel_size import default_max_size, estimate_psf_size, kernel_extent
from bayesdeconv.physics.psf import motion_psf

transform = pytest.importorskip("skimage.transform")
skdata = pytest.importorskip("skimage.data")

N, NOISE = 128, 0.005


@pytest.fixture(scope="module")
def sharp() -> np.ndarray:
    """A natural image (the camera man), downsampled to (N + 30)^2 on [0, 1]."""
    camera = skdata.camera().astype(np.float64) / 255.0
    return transform.resize(camera, (N + 30, N + 30), anti_aliasing=True)


def _blurred(sharp: np.ndarray, psf: np.ndarray, seed: int = 0) -> np.ndarray:
    y = fftconvolve(sharp, psf, mode="valid")[:N, :N]
    return y + NOISE * np.random.default_rng(seed).standard_normal(y.shape)


def _true_extent(psf: np.ndarray) -> int:
    return max(kernel_extent(psf, floor=1e-9))  # every non-zero entry


@pytest.fixture(scope="module")
def cases(sharp) -> dict[int, tuple[np.ndarray, int, tuple[int, int]]]:
    """Motion blurs of 9 and 15 pixels: image, true extent and estimated support."""
    out = {}
    for length, angle in ((9, 0.5), (15, 2.0)):
        psf = motion_psf(None, length, angle)
        y = _blurred(sharp, psf)
        out[length] = (y, _true_extent(psf), estimate_psf_size(y))
    return out


@pytest.mark.parametrize("length", [9, 15])
def test_support_holds_the_kernel_and_is_not_much_larger(cases, length):
    _, extent, size = cases[length]
    assert size[0] == size[1] and size[0] % 2 == 1
    assert extent + 2 <= size[0] <= extent + 10  # a pixel free on each side, at most +10


def test_longer_blur_gets_a_larger_support(cases):
    assert cases[15][2][0] >= cases[9][2][0] + 4


def test_pilot_grows_while_the_kernel_fills_it(monkeypatch):
    pilots = []

    def search(image, psf_size, **kwargs):  # a 13-pixel kernel, clipped by smaller supports
        pilots.append(psf_size[0])
        kernel, side = np.zeros(psf_size), min(psf_size[0], 13)
        start = (psf_size[0] - side) // 2
        kernel[start : start + side, start : start + side] = 1.0 / side**2
        return kernel

    monkeypatch.setattr(kernel_size, "search_kernel", search)
    image = np.zeros((128, 128))
    assert estimate_psf_size(image, pilot_size=7) == (19, 19)  # 13 + 6
    assert pilots == [7, 9, 13, 19]  # odd sizes nearest sqrt(2) times the last; 13 + 4 <= 19
    pilots.clear()
    assert estimate_psf_size(image, pilot_size=7, margin=3) == (17, 17)  # 16, up to odd
    pilots.clear()
    with pytest.warns(UserWarning, match="fills the largest support"):
        assert estimate_psf_size(image, max_size=11) == (11, 11)
    assert pilots == [11]
    pilots.clear()
    assert estimate_psf_size(image, pilot_size=15) == (19, 19) and pilots == [15, 21]


def test_kernel_filling_the_largest_support_warns(cases):
    y, _, _ = cases[15]
    with pytest.warns(UserWarning, match="fills the largest support"):
        assert estimate_psf_size(y, max_size=9) == (9, 9)


def test_missing_pixels_are_ignored(cases):
    y, extent, _ = cases[9]
    mask = np.ones(y.shape, dtype=bool)
    mask[40:70, 30:60] = False
    y = np.where(mask, y, np.nan)
    size = estimate_psf_size(y, mask=mask)
    assert extent + 2 <= size[0] <= extent + 10


def test_kernel_extent():
    kernel = np.zeros((9, 9))
    kernel[2, 3:7] = 1.0  # a 1 x 4 bar
    kernel[6, 4] = 0.02  # faint: counts only below a 2 % floor
    assert kernel_extent(kernel) == (1, 4)
    assert kernel_extent(kernel, floor=0.01) == (5, 4)


def test_default_max_size():
    assert default_max_size((128, 128)) == 25
    assert default_max_size((255, 300)) == 51
    assert default_max_size((2000, 3000)) == kernel_size.MAX_SIZE
    assert default_max_size((16, 16)) == 3


@pytest.mark.parametrize(
    ("image", "kwargs", "match"),
    [
        (np.zeros((4, 32, 32)), {}, "2-D"),
        (np.zeros((10, 64)), {}, "too small"),
        (np.full((32, 32), np.nan), {}, "NaN"),
        (np.zeros((32, 32)), {"mask": np.ones((16, 16), bool)}, "mask shape"),
        (np.zeros((32, 32)), {"mask": np.zeros((32, 32), bool)}, "no pixel"),
        (np.zeros((32, 32)), {"max_size": 8}, "odd"),
        (np.zeros((32, 32)), {"max_size": 33}, "at most the image"),
        (np.zeros((32, 32)), {"max_size": 2}, "at least 3"),
        (np.zeros((64, 64)), {"max_size": 9, "pilot_size": 11}, "pilot_size"),
        (np.zeros((64, 64)), {"pilot_size": 4}, "odd"),
        (np.zeros((64, 64)), {"margin": -1}, "margin"),
        (np.zeros((64, 64)), {"floor": 1.0}, "floor"),
        (np.zeros((9, 9)), {}, "too small"),
    ],
)
def test_bad_input(image, kwargs, match):
    with pytest.raises(ValueError, match=match):
        estimate_psf_size(image, **kwargs)


def test_kernel_extent_bad_input():
    with pytest.raises(ValueError, match="not all zero"):
        kernel_extent(np.zeros((5, 5)))


# -- deconvolve(psf=None) without psf_size -------------------------------------------------------
@pytest.fixture(scope="module")
def small(sharp) -> np.ndarray:
    """An 80 x 80 crop blurred by a 5-pixel motion (quick blind fits)."""
    return _blurred(sharp, motion_psf(None, 5, 0.8))[32:112, 32:112]


def test_deconvolve_estimates_and_records_the_support(small, monkeypatch):
    calls = []

    def spy(image, **kwargs):
        calls.append((image, kwargs))
        return estimate_psf_size(image, **kwargs)

    monkeypatch.setattr(api, "estimate_psf_size", spy)
    result = deconvolve(small, psf_init="pyramid", steps=1, progress=False)
    ((image, kwargs),) = calls
    np.testing.assert_array_equal(image, small)
    size = estimate_psf_size(image, **kwargs)  # deterministic: the same support again
    assert result.info["psf_size"] == size and result.info["psf_size_estimated"] is True
    assert result.psf.shape == size and 5 + 2 <= size[0] <= 5 + 10


def test_deconvolve_passes_the_mask(small, monkeypatch):
    seen = {}

    def spy(image, *, mask=None, **kwargs):
        seen["mask"], seen["image"] = mask, image
        return (5, 5)

    monkeypatch.setattr(api, "estimate_psf_size", spy)
    mask = np.ones(small.shape, dtype=bool)
    mask[10:20, 10:20] = False
    observed = np.where(mask, small, np.nan)
    result = deconvolve(observed, mask=mask, psf_init="pyramid", steps=1, progress=False)
    np.testing.assert_array_equal(seen["mask"], mask)
    assert np.isfinite(seen["image"]).all()
    assert result.info["psf_size"] == (5, 5) and result.psf.shape == (5, 5)


def test_explicit_or_initial_psf_gives_the_support(small, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the support was given; nothing to estimate")

    monkeypatch.setattr(api, "estimate_psf_size", refuse)
    result = deconvolve(small, psf_size=7, psf_init="pyramid", steps=1, progress=False)
    assert result.info["psf_size"] == (7, 7) and result.info["psf_size_estimated"] is False
    start = motion_psf(9, 5, 0.8)
    result = deconvolve(small, psf_init=start, steps=1, progress=False)
    assert result.psf.shape == (9, 9) and result.info["psf_size"] == (9, 9)
    with pytest.raises(ValueError, match="psf_init has shape"):
        deconvolve(small, psf_size=7, psf_init=start, progress=False)


def test_bad_blind_options_fail_before_the_estimate(small, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("estimated before the options were checked")

    monkeypatch.setattr(api, "estimate_psf_size", refuse)
    with pytest.raises(ValueError, match="sparse-gradient prior"):
        deconvolve(small, prior="smooth", progress=False)
    with pytest.raises(ValueError, match="method='ivb' or 'gibbs' only"):
        deconvolve(small, method="svi", psf_update="elbo", progress=False)
