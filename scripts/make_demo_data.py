"""Create ``bayesdeconv/data/demo.npz``, the two small test cases behind ``bayesdeconv demo``.

Run once from the repository root (needs scikit-image, a test-only dependency)::

    python scripts/make_demo_data.py

Each case is stored under the keys ``<case>_truth``, ``<case>_truth_frame``,
``<case>_observed``, ``<case>_psf`` and ``<case>_description``:

``truth``
    The sharp image on the latent grid (``float32``), larger than the observation by
    ``psf.shape - 1`` pixels per axis.
``observed``
    ``scipy.signal.convolve(truth, psf, mode="valid") + noise`` (``float32``), which is the
    package's ``boundary="valid"`` forward model.
``truth_frame``
    ``truth`` cropped to the observed field of view (``float32``), the reference for PSNR.
``psf``
    The PSF (``float64``, non-negative, unit sum, centred at ``s // 2``).
``description``
    One line describing the case and where its data come from.

The output is deterministic: every random draw uses a fixed seed.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from scipy.signal import convolve

from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.physics.psf import airy_psf, anisotropic_gaussian_psf

OBSERVED_SHAPE = (96, 96)
OUTPUT = Path(__file__).resolve().parents[1] / "bayesdeconv" / "data" / "demo.npz"
MAX_BYTES = 300_000


def _latent_shape(psf: np.ndarray) -> tuple[int, int]:
    """Latent grid for a ``valid`` blur that yields :data:`OBSERVED_SHAPE`."""
    return tuple(n + s - 1 for n, s in zip(OBSERVED_SHAPE, psf.shape, strict=True))


def fluorescence_truth(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Gaussian spots and curved filaments of varying brightness on a dark background.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(h, w)``.
    rng : numpy.random.Generator
        Source of the random positions, sizes and brightnesses.

    Returns
    -------
    numpy.ndarray
        Float64 image with values in ``[0, 1]``.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    image = np.zeros(shape, dtype=np.float64)
    # Point-like and slightly extended spots (vesicles, puncta).
    for _ in range(30):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        sigma = rng.uniform(0.7, 2.2)
        amp = rng.uniform(0.2, 1.0)
        image += amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    # Filaments: smooth random curves drawn as chains of narrow Gaussians.
    for _ in range(6):
        y0, x0 = rng.uniform(0, h), rng.uniform(0, w)
        angle = rng.uniform(0, 2 * np.pi)
        curvature = rng.uniform(-0.05, 0.05)
        width = rng.uniform(0.6, 1.1)
        amp = rng.uniform(0.15, 0.5)
        for step in range(int(rng.integers(40, 90))):
            angle += curvature
            y0 += 0.8 * np.sin(angle)
            x0 += 0.8 * np.cos(angle)
            image += (0.8 * amp) * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * width**2))
            if step and not (0 <= y0 < h and 0 <= x0 < w):
                break
    image /= image.max()
    image += 0.02  # weak autofluorescence background
    return image / image.max()


def make_fluorescence() -> dict[str, object]:
    """Case (a): synthetic fluorescence image blurred by an Airy PSF, 1 % Gaussian noise."""
    rng = np.random.default_rng(20240601)
    # 520 nm emission, NA 1.2, 65 nm pixels: first Airy zero at ~4 pixels.
    psf = airy_psf(13, wavelength=0.52, numerical_aperture=1.2, pixel_size=0.065)
    truth = fluorescence_truth(_latent_shape(psf), rng)
    blurred = convolve(truth, psf, mode="valid")
    sigma = 0.01 * float(blurred.max())
    observed = blurred + sigma * rng.standard_normal(blurred.shape)
    description = (
        "fluorescence: synthetic 96x96 fluorescence-like image (30 Gaussian spots and 6 "
        "filaments of varying brightness on a dark background, seed 20240601), blurred with a "
        "13x13 Airy PSF (wavelength 0.52 um, NA 1.2, pixel 0.065 um, 'valid' geometry), "
        f"Gaussian noise sigma = 1% of the blurred maximum ({sigma:.4g})"
    )
    return {"truth": truth, "observed": observed, "psf": psf, "description": description}


def make_natural() -> dict[str, object]:
    """Case (b): crop of scikit-image's ``camera`` photograph, anisotropic Gaussian blur."""
    from skimage import data

    rng = np.random.default_rng(20240602)
    psf = anisotropic_gaussian_psf(13, 2.0, 1.0, theta=0.5)
    h, w = _latent_shape(psf)
    camera = data.camera().astype(np.float64) / 255.0
    # A window around the photographer's head and camera: edges and smooth regions.
    top, left = 60, 190
    truth = camera[top : top + h, left : left + w]
    blurred = convolve(truth, psf, mode="valid")
    observed = blurred + 0.01 * rng.standard_normal(blurred.shape)
    description = (
        f"natural: {h}x{w} crop (rows {top}-{top + h - 1}, columns {left}-{left + w - 1}) of "
        "scikit-image's 512x512 'camera' image, a public-domain photograph from the US Library "
        "of Congress, scaled to [0, 1], blurred with a 13x13 anisotropic Gaussian PSF "
        "(sigma_x=2, sigma_y=1, theta=0.5 rad, 'valid' geometry) to a 96x96 observation, "
        "Gaussian noise sigma = 0.01"
    )
    return {"truth": truth, "observed": observed, "psf": psf, "description": description}


def _check(case: dict[str, object]) -> np.ndarray:
    """Verify the case against the package's operator; return ``truth_frame``."""
    truth, psf = case["truth"], case["psf"]
    op = ConvolutionOperator(psf, OBSERVED_SHAPE, boundary="valid")
    assert op.latent_shape == truth.shape, (op.latent_shape, truth.shape)
    forward = op.forward(torch.as_tensor(truth)).numpy()
    reference = convolve(truth, psf, mode="valid")
    np.testing.assert_allclose(forward, reference, atol=1e-10)
    assert abs(psf.sum() - 1) < 1e-12 and psf.min() >= 0
    return truth[op.frame]


def main() -> None:
    """Build both cases, check them and write the compressed archive."""
    arrays: dict[str, np.ndarray] = {}
    for name, make in (("fluorescence", make_fluorescence), ("natural", make_natural)):
        case = make()
        frame = _check(case)
        arrays[f"{name}_truth"] = np.asarray(case["truth"], dtype=np.float32)
        arrays[f"{name}_truth_frame"] = np.asarray(frame, dtype=np.float32)
        arrays[f"{name}_observed"] = np.asarray(case["observed"], dtype=np.float32)
        arrays[f"{name}_psf"] = np.asarray(case["psf"], dtype=np.float64)
        arrays[f"{name}_description"] = np.array(case["description"])
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    size = buffer.getbuffer().nbytes
    if size > MAX_BYTES:
        raise SystemExit(f"demo data is {size} bytes, more than {MAX_BYTES}")
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(buffer.getvalue())
    print(f"wrote {OUTPUT} ({size} bytes)")


if __name__ == "__main__":
    main()
