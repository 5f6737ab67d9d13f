"""Helpers shared by the engines: input conversion, starting values, samplers."""

from __future__ import annotations

import math

import numpy as np
import torch

from bayesdeconv.models.deconvolution import DeconvolutionModel

__all__ = ["as_observed", "estimate_noise_std", "initial_image", "to_numpy"]


def to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def as_observed(model: DeconvolutionModel, observed) -> torch.Tensor:
    """The observation as a tensor of the model's dtype/device, shape-checked, finite."""
    y = torch.as_tensor(observed).to(dtype=model.dtype, device=model.device)
    if tuple(y.shape) != model.operator.observed_shape:
        raise ValueError(
            f"observed image shape {tuple(y.shape)} does not match the model's "
            f"{model.operator.observed_shape}"
        )
    check = y if model.mask is None else y[model.mask]
    if not bool(torch.isfinite(check).all()):
        raise ValueError("the observed image contains NaN or Inf values")
    if model.mask is not None:
        y = torch.where(model.mask, y, torch.zeros_like(y))
    return y


def estimate_noise_std(image: np.ndarray | torch.Tensor) -> float:
    """Immerkær's fast noise estimate, averaged over 2-D slices.

    :math:`\\hat\\sigma = \\sqrt{\\pi/2}\\, \\frac{1}{6 (H-2)(W-2)} \\sum |y * N|` with the
    Laplacian-difference mask :math:`N = [[1,-2,1],[-2,4,-2],[1,-2,1]]`.

    References
    ----------
    .. [1] J. Immerkær, "Fast noise variance estimation", CVIU 64(2), 1996.
    """
    y = torch.as_tensor(image, dtype=torch.float64)
    y = y.reshape(-1, *y.shape[-2:])
    if min(y.shape[-2:]) < 3:
        return float(y.std()) if y.numel() > 1 else 1.0
    lap = (
        y[:, :-2, :-2]
        - 2 * y[:, :-2, 1:-1]
        + y[:, :-2, 2:]
        - 2 * y[:, 1:-1, :-2]
        + 4 * y[:, 1:-1, 1:-1]
        - 2 * y[:, 1:-1, 2:]
        + y[:, 2:, :-2]
        - 2 * y[:, 2:, 1:-1]
        + y[:, 2:, 2:]
    )
    sigma = math.sqrt(math.pi / 2) * float(lap.abs().mean()) / 6
    scale = float(y.std())
    return max(sigma, 1e-3 * scale, 1e-8)


def initial_image(model: DeconvolutionModel, observed: torch.Tensor) -> torch.Tensor:
    """The observation extended to the latent grid by edge replication (holes by the mean)."""
    op = model.operator
    y = observed
    if model.mask is not None:
        fill = observed[model.mask].mean()
        y = torch.where(model.mask, observed, fill)
    if op.boundary == "circular":
        return y.clone()
    pad: list[int] = []
    for sl, n in zip(reversed(op.frame), reversed(op.latent_shape), strict=True):
        pad += [sl.start, n - sl.stop]
    return torch.nn.functional.pad(y[None, None], pad, mode="replicate")[0, 0]
