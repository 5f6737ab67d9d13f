#!/usr/bin/env bash
# One short GPU check of the 3-D Poisson engine (run when a CUDA device is lent): the CUDA
# tests, then default fits of 64x256x256 and 64x512x512 Poisson stacks timed on CPU and GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q tests/test_cuda.py -k poisson
python - <<'PY'
import time
import numpy as np
import torch
from bayesdeconv import deconvolve
from bayesdeconv.diagnostics.phantoms import filament_scene
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.physics.psf import widefield_psf_3d
psf = widefield_psf_3d((21, 31, 31), wavelength=0.52, numerical_aperture=1.3,
                       refractive_index=1.518, pixel_size=0.1, z_step=0.3, model="born_wolf")
psf /= psf.sum()
rng = np.random.default_rng(0)
for shape in ((64, 256, 256), (64, 512, 512)):
    truth = filament_scene(shape, n_filaments=shape[1] // 4, n_beads=30, peak=100.0, seed=0)
    y = rng.poisson(ConvolutionOperator(psf, shape).forward(torch.as_tensor(truth)).numpy())
    for device in ("cuda", "cpu") if shape[1] == 256 else ("cuda",):
        t = time.perf_counter()
        r = deconvolve(y.astype(float), psf, noise="poisson", device=device, progress=False)
        if device == "cuda":
            torch.cuda.synchronize()
        print(shape, device, f"{time.perf_counter() - t:.2f} s", r.n_iter, "sweeps", flush=True)
PY
