"""Tests for :mod:`bayesdeconv.diagnostics.levin` (shift-tolerant scoring of the Levin 2009
set) and for the data loading of ``benchmarks/levin.py``."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from scipy.signal import correlate2d

pytest.importorskip("skimage")

from bayesdeconv.diagnostics import levin  # noqa: E402  (scoring)

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "levin.py"
_spec = importlib.util.spec_from_file_location("levin_benchmark", _PATH)
levin_data = importlib.util.module_from_spec(_spec)  # data loading
sys.modules[_spec.name] = levin_data  # dataclasses need the module registered
_spec.loader.exec_module(levin_data)


def _data_root() -> Path | None:
    try:
        return levin_data.find_root()
    except FileNotFoundError:
        return None


ROOT = _data_root()
needs_data = pytest.mark.skipif(ROOT is None, reason="Levin 2009 data folder not found")


@pytest.fixture(scope="module")
def case11():
    if ROOT is None:
        pytest.skip("Levin 2009 data folder not found")
    return levin_data.load_case(1, 1)


@pytest.fixture(scope="module")
def sharp_image() -> np.ndarray:
    """A Levin sharp image if available, else a smooth random image in [0, 1]."""
    if ROOT is not None:
        return levin_data.load_case(1, 1).sharp
    rng = np.random.default_rng(0)
    img = ndimage.gaussian_filter(rng.random((255, 255)), 3)
    return (img - img.min()) / (img.max() - img.min())


@needs_data
def test_load_all() -> None:
    cases = levin_data.load_all()
    assert len(cases) == 32
    assert [c.name for c in cases[:2]] == ["im1_k1", "im1_k2"]
    assert cases[-1].name == "im4_k8"
    for c in cases:
        for img in (c.sharp, c.blurred):
            assert img.shape == (255, 255) and img.dtype == np.float64
            assert 0.0 <= img.min() and img.max() <= 1.0
        kh, kw = c.kernel.shape
        assert kh % 2 == 1 and kw % 2 == 1
        assert c.kernel.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_array_equal(c.psf, c.kernel[::-1, ::-1])
    assert cases[3].kernel.shape == (27, 27)  # kernel 4


def test_find_root_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="Levin"):
        levin_data.find_root(tmp_path / "nope")
    monkeypatch.setenv(levin_data.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=levin_data.ENV_VAR):
        levin_data.find_root()
    with pytest.raises(ValueError):
        levin_data.load_case(5, 1, root=tmp_path)
    if ROOT is not None:
        monkeypatch.setenv(levin_data.ENV_VAR, str(ROOT))
        assert levin_data.find_root() == ROOT
        assert levin_data.load_case(2, 3, root=ROOT).name == "im2_k3"


def test_align_recovers_subpixel_shift(sharp_image: np.ndarray) -> None:
    moved = ndimage.shift(sharp_image, (1.3, -2.6), order=3, mode="nearest")
    shifted, (dy, dx) = levin.align(moved, sharp_image)
    assert abs(dy + 1.3) < 0.1 and abs(dx - 2.6) < 0.1
    assert shifted.shape == sharp_image.shape
    assert levin.score(moved, sharp_image)["psnr"] > 40.0


def test_align_respects_max_shift(sharp_image: np.ndarray) -> None:
    moved = ndimage.shift(sharp_image, (4.0, 0.0), order=3, mode="nearest")
    _, (dy, dx) = levin.align(moved, sharp_image, max_shift=2.5)
    assert abs(dy) <= 2.5 and abs(dx) <= 2.5


def test_score_self_and_blurred(case11) -> None:
    self_score = levin.score(case11.sharp, case11.sharp)
    assert self_score["psnr"] > 60.0
    assert self_score["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert self_score["shift"] == (0.0, 0.0)
    blurred = levin.score(case11.blurred, case11.sharp)
    assert 15.0 < blurred["psnr"] < 35.0
    assert 0.0 < blurred["ssim"] < 1.0
    assert blurred["mse"] == pytest.approx(10 ** (-blurred["psnr"] / 10))


def test_error_ratio(sharp_image: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    reference = sharp_image + 0.01 * rng.standard_normal(sharp_image.shape)
    noisier = sharp_image + 0.03 * rng.standard_normal(sharp_image.shape)
    assert levin.error_ratio(reference, reference, sharp_image) == pytest.approx(1.0)
    ratio = levin.error_ratio(noisier, reference, sharp_image)
    assert ratio > 1.0 and ratio == pytest.approx(9.0, rel=0.2)
    with pytest.raises(ValueError):
        levin.error_ratio(reference[:-1], reference, sharp_image)
    with pytest.raises(ValueError):
        levin.error_ratio(reference, reference, sharp_image[:, :-2])


def test_summarise() -> None:
    rows = [
        {"psnr": 30.0, "ssim": 0.9, "error_ratio": 1.5, "seconds": 1.0},
        {"psnr": 20.0, "ssim": 0.7, "error_ratio": 4.0, "seconds": 3.0},
        {"psnr": 25.0, "ssim": 0.8, "error_ratio": 3.0, "seconds": 2.0},
    ]
    s = levin.summarise(rows)
    assert s["n"] == 3
    assert s["psnr_mean"] == pytest.approx(25.0)
    assert s["ssim_mean"] == pytest.approx(0.8)
    assert s["success_rate"] == pytest.approx(2 / 3)
    assert s["error_ratio_median"] == pytest.approx(3.0)
    assert s["error_ratio_max"] == pytest.approx(4.0)
    assert s["error_ratio_mean"] == pytest.approx(8.5 / 3)
    assert s["error_ratio_gmean"] == pytest.approx(18.0 ** (1 / 3))  # (1.5 * 4 * 3) ** (1/3)
    assert s["seconds_mean"] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        levin.summarise([])


def _best_reblur_psnr(case, kernel: np.ndarray) -> float:
    """Best-integer-shift PSNR (0..255 scale) of 'valid' correlation of sharp with ``kernel``."""
    x, y = case.sharp * 255, case.blurred * 255
    kh, kw = kernel.shape
    v = correlate2d(x, kernel, mode="valid")
    assert v.shape == (256 - kh, 256 - kw)
    best = 0.0
    for dy in range(-5, 6):
        for dx in range(-5, 6):
            window = y[kh // 2 + dy :, kw // 2 + dx :][: v.shape[0], : v.shape[1]]
            best = max(best, 10 * math.log10(255**2 / np.mean((window - v) ** 2)))
    return best


def test_reblur_orientation(case11) -> None:
    """README check: 'valid' correlation with f reproduces the blurred image at an integer shift."""
    assert _best_reblur_psnr(case11, case11.kernel) > 34.0
    # for the asymmetric kernel 4, correlation with f fits far better than correlation with psf
    case = levin_data.load_case(1, 4)
    corr, conv = _best_reblur_psnr(case, case.kernel), _best_reblur_psnr(case, case.psf)
    assert corr > 34.0 and corr > conv + 5.0
