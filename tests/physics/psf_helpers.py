"""Shared helpers of the PSF tests: moments, the centre index, validity checks."""

from __future__ import annotations

import numpy as np
import pytest

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
