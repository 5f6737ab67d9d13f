"""Train the two learned Wiener filter banks shipped in ``bayesdeconv/data/``.

Run once from the repository root (needs scikit-image, a test-only dependency)::

    python scripts/make_learned_wiener.py

Both banks are trained by the **evidence of blurred images alone** (no sharp images), on the
training parts of :mod:`bayesdeconv.diagnostics.training_sets`, blurred circularly (so
``periodic=False``); the scoring sets of ``benchmarks/bench_learned_wiener.py`` are disjoint.

``learned_wiener_2d.npz``
    24 DCT-initialised 5×5 filters; 24 crops of 128² from 12 scikit-image photographs
    (``TRAIN_PHOTOGRAPHS``), Gaussian (std 1, 1.6, 2.4 px) and motion (9 px, 15 px) blur,
    noise std 0.01; 400 Adam steps (learning rate 0.02).
``learned_wiener_3d.npz``
    26 DCT-initialised 3×3×3 filters; 12 generated filament-and-bead volumes of 24×64×64 voxels
    (0.2 × 0.1 × 0.1 µm), Born–Wolf widefield blur (three objectives), noise std 0.01 of the
    peak; 400 Adam steps (learning rate 0.02).

Deterministic (fixed seeds); about half a minute on two CPU cores.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bayesdeconv.diagnostics import training_sets
from bayesdeconv.training import train_wiener

DATA = Path(__file__).resolve().parents[1] / "bayesdeconv" / "data"
STEPS = 400
LEARNING_RATE = 0.02


def main() -> None:
    torch.manual_seed(0)
    photos = training_sets.photograph_set(seed=0)
    volumes = training_sets.widefield_set(12, seed=0)
    banks = {
        "learned_wiener_2d.npz": (photos, 5, "24 5x5 filters, evidence-trained on 24 blurred "
                                  "128^2 crops of scikit-image photographs (Gaussian and motion "
                                  "blur, noise 0.01); scripts/make_learned_wiener.py"),
        "learned_wiener_3d.npz": (volumes, 3, "26 3x3x3 filters, evidence-trained on 12 blurred "
                                  "24x64x64 filament volumes (Born-Wolf widefield, voxel 0.2 x "
                                  "0.1 x 0.1 um, noise 0.01 of peak); "
                                  "scripts/make_learned_wiener.py"),
    }  # fmt: skip
    for name, (data, support, description) in banks.items():
        start = time.perf_counter()
        training = train_wiener(
            data.blurred,
            data.psfs,
            support=support,
            steps=STEPS,
            learning_rate=LEARNING_RATE,
            periodic=False,
            description=description,
        )
        training.prior.save(DATA / name)
        print(
            f"{name}: log evidence per pixel {training.history[0]:.4f} -> "
            f"{training.history[-1]:.4f} in {time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    main()
