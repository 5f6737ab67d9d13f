"""Coarse-to-fine schedule of blind IVB (``psf_init="pyramid"``): resampling and PSF rescaling."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["downsample", "initial_psf", "pyramid_schedule", "recentre", "rescale_psf"]


def initial_psf(size: tuple[int, ...], dtype, device) -> torch.Tensor:
    """A small centred Gaussian (std 0.6 px): close to no blur, but not a delta."""
    grids = torch.meshgrid(
        *[torch.arange(s, dtype=dtype, device=device) - s // 2 for s in size], indexing="ij"
    )
    psf = torch.exp(-sum(g**2 for g in grids) / (2 * 0.6**2))
    return psf / psf.sum()


def downsample(image: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Anti-aliased bilinear resampling of a 2-D image to ``shape``."""
    out = F.interpolate(
        image[None, None], size=shape, mode="bilinear", align_corners=False, antialias=True
    )
    return out[0, 0]


def rescale_psf(
    psf: torch.Tensor, factors: tuple[float, ...], size: tuple[int, ...]
) -> torch.Tensor:
    """The PSF magnified by ``factors`` about its centre, :math:`p'(u) \\propto p(u / f)`,
    sampled bilinearly on a centred support of ``size`` and renormalised (2-D).

    Between pyramid levels the blur scales with the image, not with the PSF support (whose
    sizes are rounded to odd integers), so the magnification is the image's.
    """
    old = psf.shape
    axes = [
        (torch.arange(n, dtype=psf.dtype, device=psf.device) - n // 2) / f + o // 2
        for n, f, o in zip(size, factors, old, strict=True)
    ]
    rows, cols = torch.meshgrid(*axes, indexing="ij")
    grid = torch.stack([2 * cols / (old[1] - 1) - 1, 2 * rows / (old[0] - 1) - 1], dim=-1)
    out = F.grid_sample(
        psf[None, None], grid[None], mode="bilinear", padding_mode="zeros", align_corners=True
    )[0, 0].clamp(min=0)
    return out / out.sum()


def recentre(psf: torch.Tensor) -> torch.Tensor:
    """Shift a PSF by whole pixels so its centroid is nearest the centre of its support."""
    grids = torch.meshgrid(
        *[torch.arange(s, dtype=psf.dtype, device=psf.device) for s in psf.shape], indexing="ij"
    )
    total = psf.sum()
    shifts = [
        int(round(float((g * psf).sum() / total))) - s // 2
        for g, s in zip(grids, psf.shape, strict=True)
    ]
    out = psf
    for axis, shift in enumerate(shifts):
        if shift:
            out = torch.roll(out, -shift, dims=axis)
            index = [slice(None)] * psf.ndim
            index[axis] = slice(-shift, None) if shift > 0 else slice(0, -shift)
            out[tuple(index)] = 0
    return out / out.sum()


def pyramid_schedule(shape: tuple[int, ...], size: tuple[int, ...], min_size: int = 3):
    """(image shape, PSF size) per level, coarse to fine, in steps of sqrt(2)."""
    levels = []
    factor = 1.0
    while True:
        psf = tuple(max(min_size, 2 * int(round(s * factor / 2 - 0.5)) + 1) for s in size)
        img = tuple(max(2 * p, int(round(n * factor))) for n, p in zip(shape, psf, strict=True))
        levels.append((img, psf))
        if all(p <= min_size for p in psf):
            break
        factor /= math.sqrt(2)
    return levels[::-1]
