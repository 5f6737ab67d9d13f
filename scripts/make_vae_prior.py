"""Train the VAE image prior shipped in ``bayesdeconv/data/vae_filaments.npz``.

Run once from the repository root::

    python scripts/make_vae_prior.py

DivBlurring (:func:`bayesdeconv.training.fit_vae` with the PSF) on noisy, blurred images
only: 2000 generated filament images of 64² (:func:`bayesdeconv.diagnostics.filament_sets.
filament_set`, setting ``"low-noise"``: Gaussian PSF FWHM 3.8 px on 13×13 pixels, Gaussian
noise 2 % of the peak, peak 1; seeds 0–1999, the benchmark scores seeds from 10 000), the
default network (width 16, depth 2, 16 latent channels, about 30k weights), 30 epochs of
batch 32, Adam 3e-3 decaying to 3e-4, KL annealing over 5 epochs. Seeded; about 15 minutes on
two CPU cores. The shipped file was made before ``fit_vae`` reseeded every epoch from the seed
(for exact resumes): a rerun now gives a model of the same training but other random draws.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bayesdeconv.diagnostics.filament_sets import filament_set
from bayesdeconv.priors.vae_files import SHIPPED
from bayesdeconv.training import fit_vae

DATA = Path(__file__).resolve().parents[1] / "bayesdeconv" / "data"
SETTING = "low-noise"
IMAGES, SHAPE, EPOCHS, LEARNING_RATE = 2000, (64, 64), 30, 3e-3


def main() -> None:
    torch.manual_seed(0)
    data = filament_set(SETTING, IMAGES, SHAPE, seed=0)
    start = time.perf_counter()
    prior = fit_vae(
        data.observed,
        data.psf,
        noise=data.noise,
        patch=SHAPE[0],
        epochs=EPOCHS,
        lr=LEARNING_RATE,
        seed=0,
        checkpoint=DATA / (SHIPPED + ".checkpoint.npz"),
        resume=True,
        description=(
            f"DivBlurring on {IMAGES} generated {SHAPE[0]}x{SHAPE[1]} filament images "
            f"(diagnostics.filament_sets '{SETTING}': Gaussian PSF FWHM 3.8 px, Gaussian noise "
            "2 % of the peak 1); scripts/make_vae_prior.py"
        ),
    )
    path = prior.save(DATA / SHIPPED)
    (DATA / (SHIPPED + ".checkpoint.npz")).unlink(missing_ok=True)
    last = prior.training["history"][-1]
    print(
        f"{path.name}: held-out loss {last['held_out']:.4f} per pixel after {last['epoch']} "
        f"epochs, {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
