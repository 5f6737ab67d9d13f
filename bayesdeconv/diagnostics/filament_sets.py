r"""Generated tubulin-like filament images at the DivBlurring report's settings.

Each image is a :func:`~bayesdeconv.diagnostics.phantoms.filament_scene` without beads (4 to 12
smooth random curves of random width and brightness on a dark background), blurred by a
Gaussian PSF with the *valid* boundary (the scene is generated beyond the frame, so nothing
wraps around: what a camera sees) and corrupted by the setting's noise:

=====================  ==========  ==========================================================
setting                PSF FWHM    noise
=====================  ==========  ==========================================================
``"low-noise"``        3.8 px      Gaussian, std 2 % of the peak (peak 1)
``"high-noise"``       3.0 px      Gaussian, std 10 % of the peak (peak 1)
``"poisson-gaussian"`` 3.0 px      camera: 40 photons at the peak, 2 background, gain 2,
                                   offset 100, read noise 3 (raw units)
=====================  ==========  ==========================================================

The report's pixels are 25 nm, so its FWHMs are 95 nm and 75 nm. Seeds below 10 000 are the
training data of ``scripts/make_vae_prior.py``; the benchmark scores images from seed 10 000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from bayesdeconv.diagnostics.phantoms import filament_scene
from bayesdeconv.likelihoods import GaussianNoise, PoissonGaussianNoise
from bayesdeconv.likelihoods.base import Likelihood
from bayesdeconv.physics.psf import gaussian_psf

__all__ = ["FILAMENT_SETTINGS", "HELD_OUT_SEED", "FilamentSet", "FilamentSetting", "filament_set"]

HELD_OUT_SEED = 10_000
"""First seed of the held-out images (training uses seeds below it)."""


@dataclass(frozen=True)
class FilamentSetting:
    """One imaging setting: PSF width and noise model."""

    name: str
    fwhm: float
    noise: Likelihood
    peak: float = 1.0

    @property
    def psf(self) -> np.ndarray:
        """The Gaussian PSF, normalised, on an odd support of about 7 std."""
        sigma = self.fwhm / (2 * math.sqrt(2 * math.log(2)))
        return gaussian_psf(2 * math.ceil(3.5 * sigma) + 1, sigma)


FILAMENT_SETTINGS = {
    "low-noise": FilamentSetting("low-noise", 3.8, GaussianNoise(precision=1 / 0.02**2)),
    "high-noise": FilamentSetting("high-noise", 3.0, GaussianNoise(precision=1 / 0.10**2)),
    "poisson-gaussian": FilamentSetting(
        "poisson-gaussian", 3.0, PoissonGaussianNoise(2.0, 100.0, 3.0, background=2.0), peak=40.0
    ),
}
"""The settings by name (see the module table)."""


@dataclass(frozen=True)
class FilamentSet:
    """Sharp images, their observations, the PSF and the noise model that made them."""

    sharp: np.ndarray
    observed: np.ndarray
    psf: np.ndarray
    noise: Likelihood
    setting: str


def _scene(shape: tuple[int, int], peak: float, rng: np.random.Generator) -> np.ndarray:
    return filament_scene(
        shape,
        n_filaments=int(rng.integers(4, 13)),
        n_beads=0,
        peak=peak,
        width=float(rng.uniform(0.6, 1.2)),
        background=0.0,
        seed=int(rng.integers(2**31)),
    )


def filament_set(
    setting: str, n: int, shape: tuple[int, int] = (64, 64), *, seed: int = 0
) -> FilamentSet:
    """``n`` generated images of ``shape`` at ``setting`` (a key of
    :data:`FILAMENT_SETTINGS`); image ``i`` is drawn from seed ``seed + i``."""
    if setting not in FILAMENT_SETTINGS:
        raise ValueError(
            f"unknown setting {setting!r}; choose one of {', '.join(FILAMENT_SETTINGS)}"
        )
    spec = FILAMENT_SETTINGS[setting]
    psf = spec.psf
    reach = psf.shape[0] - 1
    sharp, observed = [], []
    for i in range(int(n)):
        rng = np.random.default_rng(seed + i)
        big = _scene((shape[0] + reach, shape[1] + reach), spec.peak, rng)
        half = reach // 2
        sharp.append(big[half : half + shape[0], half : half + shape[1]])
        blurred = np.clip(fftconvolve(big, psf, mode="valid"), 0.0, None)
        observed.append(spec.noise.simulate(blurred, rng=rng))
    return FilamentSet(np.stack(sharp), np.stack(observed), psf, spec.noise, setting)
