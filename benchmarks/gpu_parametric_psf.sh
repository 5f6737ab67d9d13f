#!/usr/bin/env bash
# One short GPU check of the parametric PSF engines (run when a CUDA device is lent):
# the CUDA tests, then a 256² parametric IVB fit timed on CPU and GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q tests/test_cuda.py -k parametric
python - <<'PY'
import time
import numpy as np
import torch
from bayesdeconv import deconvolve
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.physics.psf.differentiable import gaussian_kernel
from bayesdeconv.psf_priors import GaussianPSF
from skimage import data, transform
x = transform.resize(data.camera() / 255.0, (256, 256), anti_aliasing=True)
op = ConvolutionOperator(gaussian_kernel(25, 2.2, 1.3, 0.7), (232, 232), boundary="valid")
y = op.forward(torch.as_tensor(x)).numpy() + 0.005 * np.random.default_rng(0).standard_normal((232, 232))
for device in ("cpu", "cuda"):
    t = time.perf_counter()
    r = deconvolve(y, GaussianPSF(25), prior="sparse", device=device, progress=False)
    print(device, r.info["psf_map"], f"{time.perf_counter() - t:.2f} s")
PY
