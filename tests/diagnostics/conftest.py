"""Fixtures for the diagnostics tests: small real IVB results."""

from __future__ import annotations

import numpy as np
import pytest

from bayesdeconv import Result, deconvolve
from bayesdeconv.physics.psf import gaussian_psf


@pytest.fixture(scope="session")
def ivb_result() -> Result:
    """A real (small) IVB fit with the 'valid' boundary."""
    image = np.random.default_rng(0).random((24, 20))
    return deconvolve(image, gaussian_psf(5, 1.0), progress=False)


@pytest.fixture(scope="session")
def big_result() -> Result:
    """A real 200x200 IVB fit of a structured scene (circular boundary: fast Fourier posterior)."""
    y, x = np.mgrid[:200, :200]
    noise = 0.02 * np.random.default_rng(1).standard_normal((200, 200))
    image = 0.5 + 0.4 * np.sin(2 * np.pi * x / 25) * np.cos(2 * np.pi * y / 30) + noise
    return deconvolve(image, gaussian_psf(5, 1.0), boundary="circular", progress=False)
