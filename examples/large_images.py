"""Large images and batches: a stack deconvolved tile by tile into OME-Zarr, then a batch.

Writes into a temporary folder: a filament stack as OME-Zarr (read back lazily, as a large
acquisition would be), its tiled posterior (``deconvolve_tiles`` → ``to_ome_zarr``), and a
batch of three images through ``deconvolve_batch`` (in this process; pass ``workers=`` or
``client=`` for a Dask cluster). ``BAYESDECONV_SMOKE=1`` makes everything smaller.
"""

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from bayesdeconv.diagnostics.phantoms import filament_scene
from bayesdeconv.io import read_ome_zarr, write_ome_zarr
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.tiling import deconvolve_batch, deconvolve_tiles

SMOKE = os.environ.get("BAYESDECONV_SMOKE", "") not in ("", "0")
shape = (8, 96, 96) if SMOKE else (16, 256, 256)
g = gaussian_psf(7, 1.2)[3]
psf = np.einsum("i,j,k->ijk", g[1:-1], g, g)
psf /= psf.sum()

rng = np.random.default_rng(0)
scene = filament_scene(shape, peak=1.0, seed=0) + 0.1
blurred = ConvolutionOperator(psf, shape).forward(torch.as_tensor(scene)).numpy()
observed = blurred + 0.01 * rng.standard_normal(shape)

with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp)
    write_ome_zarr(folder / "stack.ome.zarr", {"data": observed}, voxel_size=(0.3, 0.1, 0.1))
    stack = read_ome_zarr(folder / "stack.ome.zarr")  # a lazy Dask array
    tiled = deconvolve_tiles(stack.array, psf, tile=48 if SMOKE else 128, std="family")
    print("tiles:", tiled.layout)
    print("shared precisions:", {k: round(v, 3) for k, v in tiled.hyperparameters.items()})
    out = tiled.to_ome_zarr(folder / "restored.ome.zarr", voxel_size=stack.voxel_size)
    mean = np.asarray(read_ome_zarr(out).array)
    error = [float(np.sqrt(np.mean((a - scene) ** 2))) for a in (observed, mean)]
    print(f"RMS error: observed {error[0]:.4f}, tiled posterior mean {error[1]:.4f}")

    images = {f"plane{i}": observed[i] for i in range(3)}
    report = deconvolve_batch(images, psf[psf.shape[0] // 2] / psf[psf.shape[0] // 2].sum(),
                              folder / "batch", client="sync", std="family")  # fmt: skip
    print("batch:", report)
    print("batch outputs:", sorted(p.name for p in (folder / "batch").iterdir()))
