r"""Generated training and held-out sets for learned priors: photographs and widefield volumes.

Both sets are blurred *circularly* (:math:`y = k \circledast x + n` on a periodic grid), so the
circulant model of the Wiener engines is exact and every PSNR difference comes from the prior:

* :func:`photograph_set` — grayscale crops of the scikit-image sample photographs (a test
  extra; no download), blurred by Gaussian and linear-motion PSFs, Gaussian noise;
* :func:`widefield_set` — :func:`~bayesdeconv.diagnostics.phantoms.filament_scene` volumes
  (filaments and beads) blurred by the Born–Wolf widefield PSF on an anisotropic voxel grid,
  Gaussian noise, scaled so the brightest voxel is 1.

``scripts/make_learned_wiener.py`` trains the shipped filter banks on one part of these sets
(``TRAIN_PHOTOGRAPHS``, seeds below 1000); ``benchmarks/bench_learned_wiener.py`` scores on the
other (``HELD_OUT_PHOTOGRAPHS``, seeds from 1000).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bayesdeconv.diagnostics.phantoms import filament_scene
from bayesdeconv.physics.convolution import psf_to_otf
from bayesdeconv.physics.psf import gaussian_psf, motion_psf, widefield_psf

__all__ = [
    "HELD_OUT_PHOTOGRAPHS",
    "TRAIN_PHOTOGRAPHS",
    "TrainingSet",
    "circular_blur",
    "photograph",
    "photograph_psfs",
    "photograph_set",
    "widefield_psf_set",
    "widefield_set",
]

TRAIN_PHOTOGRAPHS = (
    "astronaut", "coffee", "chelsea", "rocket", "coins", "moon",
    "brick", "grass", "gravel", "clock", "immunohistochemistry", "page",
)  # fmt: skip
"""scikit-image sample images the shipped 2-D bank is trained on."""

HELD_OUT_PHOTOGRAPHS = ("camera", "cell", "hubble_deep_field", "retina")
"""scikit-image sample images kept for scoring (never seen in training)."""

VOXEL_SIZE = (0.2, 0.1, 0.1)
"""µm, (z, y, x) of the generated widefield volumes."""


@dataclass(frozen=True)
class TrainingSet:
    """Sharp images, their blurred noisy observations and the PSF of each."""

    sharp: list[np.ndarray]
    blurred: list[np.ndarray]
    psfs: list[np.ndarray]
    noise_std: float


def circular_blur(image: np.ndarray, psf: np.ndarray, noise_std: float, rng) -> np.ndarray:
    """:math:`k \\circledast x + n` on the periodic grid of ``image``, :math:`n \\sim
    \\mathcal N(0, \\sigma^2)`."""
    x = torch.as_tensor(image, dtype=torch.float64)
    otf = psf_to_otf(torch.as_tensor(psf, dtype=torch.float64), x.shape)
    blurred = torch.fft.irfftn(torch.fft.rfftn(x) * otf, s=x.shape).numpy()
    return blurred + noise_std * rng.standard_normal(image.shape)


def photograph(name: str) -> np.ndarray:
    """A scikit-image sample image as grayscale float64 in [0, 1]."""
    try:
        import skimage.data
        from skimage.color import rgb2gray
    except ImportError as error:  # pragma: no cover - scikit-image is a test extra
        raise ImportError(
            "the photograph sets need scikit-image (pip install scikit-image)"
        ) from error
    image = getattr(skimage.data, name)()
    if image.ndim == 3:
        image = rgb2gray(image[..., :3])
    else:
        image = image / 255.0
    return np.asarray(image, dtype=np.float64)


def photograph_psfs() -> list[np.ndarray]:
    """Gaussian PSFs of std 1, 1.6 and 2.4 px and linear motion of 9 px at 30° and 15 px at
    120° (all 15×15 or their own odd size)."""
    return [gaussian_psf(15, s) for s in (1.0, 1.6, 2.4)] + [
        motion_psf(None, 9.0, 30.0),
        motion_psf(None, 15.0, 120.0),
    ]


def photograph_set(
    names: Sequence[str] = TRAIN_PHOTOGRAPHS,
    *,
    size: int = 128,
    per_image: int = 2,
    psfs: Sequence[np.ndarray] | None = None,
    noise_std: float = 0.01,
    seed: int = 0,
) -> TrainingSet:
    """Random ``size``² crops of the named photographs, blurred (PSFs in turn) and noisy."""
    rng = np.random.default_rng(seed)
    psfs = photograph_psfs() if psfs is None else list(psfs)
    sharp, blurred, used = [], [], []
    for name in names:
        image = photograph(name)
        h, w = image.shape
        if min(h, w) < size:
            raise ValueError(f"photograph {name!r} is smaller than {size} px")
        for _ in range(per_image):
            i, j = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
            crop = image[i : i + size, j : j + size]
            psf = psfs[len(sharp) % len(psfs)]
            sharp.append(crop)
            blurred.append(circular_blur(crop, psf, noise_std, rng))
            used.append(psf)
    return TrainingSet(sharp, blurred, used, noise_std)


def widefield_psf_set() -> list[np.ndarray]:
    """Born–Wolf widefield PSFs on the :data:`VOXEL_SIZE` grid: 520 nm at NA 1.4 (oil), 600 nm
    at NA 1.2 (water), 450 nm at NA 1.3 (glycerol)."""
    settings = ((0.52, 1.4, 1.515), (0.60, 1.2, 1.33), (0.45, 1.3, 1.45))
    return [
        widefield_psf(VOXEL_SIZE, wavelength=wl, numerical_aperture=na, refractive_index=n,
                      max_shape=(15, 21, 21))
        for wl, na, n in settings
    ]  # fmt: skip


def widefield_set(
    count: int,
    *,
    shape: tuple[int, int, int] = (24, 64, 64),
    psfs: Sequence[np.ndarray] | None = None,
    noise_std: float = 0.01,
    seed: int = 0,
) -> TrainingSet:
    """``count`` filament-and-bead volumes (peak 1), widefield-blurred (PSFs in turn), noisy."""
    rng = np.random.default_rng(seed)
    psfs = widefield_psf_set() if psfs is None else list(psfs)
    sharp, blurred, used = [], [], []
    for i in range(count):
        scene = filament_scene(shape, n_filaments=8, n_beads=6, peak=1.0, width=1.0,
                               background=0.02, seed=seed * 1000 + i)  # fmt: skip
        psf = psfs[i % len(psfs)]
        sharp.append(scene)
        blurred.append(circular_blur(scene, psf, noise_std, rng))
        used.append(psf)
    return TrainingSet(sharp, blurred, used, noise_std)
