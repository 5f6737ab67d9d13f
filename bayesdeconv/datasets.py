"""Small example images shipped with the package.

The archive ``bayesdeconv/data/demo.npz`` is made by ``scripts/make_demo_data.py``. Every case is
a sharp image ``truth`` of size observed + psf − 1 per axis, blurred with ``valid`` geometry (the
observation is ``scipy.signal.convolve(truth, psf, mode="valid")`` plus Gaussian noise), so
``deconvolve(case.observed, case.psf, boundary="valid")`` fits exactly the model that made the
data.

Cases
-----
``"fluorescence"``
    A synthetic fluorescence-like image (spots and filaments on a dark background) blurred with
    an Airy PSF, Gaussian noise of 1 % of the maximum.
``"natural"``
    A crop of scikit-image's ``camera`` photograph (public domain, US Library of Congress) blurred
    with an anisotropic Gaussian PSF, Gaussian noise with standard deviation 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["DEMO_CASES", "DemoCase", "load_demo", "piecewise_constant_image"]

DEMO_CASES: tuple[str, ...] = ("fluorescence", "natural")
_ARCHIVE = "demo.npz"


@dataclass(frozen=True, eq=False)
class DemoCase:
    """One demo image with its ground truth.

    Attributes
    ----------
    name : str
        Case name, one of :data:`DEMO_CASES`.
    observed : numpy.ndarray
        Blurred, noisy image (``float32``, 2-D).
    psf : numpy.ndarray
        The PSF that blurred it (``float64``, non-negative, unit sum, centred at ``s // 2``).
    truth_frame : numpy.ndarray
        The sharp image on the observed field of view (``float32``, the shape of ``observed``);
        the reference for PSNR of a deconvolved image.
    truth : numpy.ndarray
        The sharp image behind the observation (``float32``), larger than ``observed`` by
        ``psf.shape - 1`` pixels per axis (the model's latent grid may be padded further to an
        FFT-friendly size; the extra pixels are unobserved).
    description : str
        Where the image comes from and how it was degraded.
    """

    name: str
    observed: np.ndarray
    psf: np.ndarray
    truth_frame: np.ndarray
    truth: np.ndarray
    description: str


@lru_cache(maxsize=1)
def _load_archive() -> dict[str, np.ndarray]:
    source = resources.files("bayesdeconv").joinpath("data", _ARCHIVE)
    with source.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def load_demo(name: str) -> DemoCase:
    """Load one of the demo cases.

    Parameters
    ----------
    name : str
        One of :data:`DEMO_CASES` (``"fluorescence"`` or ``"natural"``).

    Returns
    -------
    DemoCase
        Fresh copies of the case's arrays (safe to modify).

    Raises
    ------
    ValueError
        If ``name`` is not a demo case.

    Examples
    --------
    >>> from bayesdeconv.datasets import load_demo
    >>> case = load_demo("natural")
    >>> case.observed.shape == case.truth_frame.shape
    True
    """
    if name not in DEMO_CASES:
        raise ValueError(f"unknown demo case {name!r}; choose one of {DEMO_CASES}")
    archive = _load_archive()
    return DemoCase(
        name=name,
        observed=archive[f"{name}_observed"].copy(),
        psf=archive[f"{name}_psf"].copy(),
        truth_frame=archive[f"{name}_truth_frame"].copy(),
        truth=archive[f"{name}_truth"].copy(),
        description=str(archive[f"{name}_description"]),
    )


def piecewise_constant_image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A synthetic piecewise-constant test image on [0, 1]: 14 overlapping rectangles of random
    grey levels on a 0.2 background (the test image of the blind-deconvolution seed comparison)."""
    rng = np.random.default_rng(seed)
    x = np.full(shape, 0.2)
    for _ in range(14):
        a, b = rng.integers(0, shape[0] - 6), rng.integers(0, shape[1] - 6)
        h, w = rng.integers(6, 26, 2)
        x[a : a + h, b : b + w] = rng.random()
    return x
