"""Poisson (photon-counting) noise with an optional constant background."""

from __future__ import annotations

import math

import numpy as np
import pyro.distributions as dist
import torch

from bayesdeconv.likelihoods.base import CountLikelihood

__all__ = ["PoissonNoise"]


class PoissonNoise(CountLikelihood):
    """:math:`y \\sim \\mathrm{Poisson}(A x + b)` per pixel, in photon counts.

    Parameters
    ----------
    background : float
        Known constant background :math:`b \\ge 0` (dark counts, offset-corrected stray light).
    floor : float
        The rate is clamped to at least ``floor`` so that a latent image that strays negative
        (Gaussian priors do not forbid it) still has a finite likelihood.

    Notes
    -----
    Not conjugate with Gaussian image priors (use the SVI engine); conjugate with the Gamma
    intensity prior (``prior="gamma"``: closed-form VB, :mod:`bayesdeconv.infer.poisson_vb`).
    """

    name = "poisson"

    def __init__(self, *, background: float = 0.0, floor: float = 1e-6) -> None:
        background, floor = float(background), float(floor)
        if not math.isfinite(background) or background < 0:
            raise ValueError(f"background must be finite and non-negative, got {background}")
        if not math.isfinite(floor) or floor <= 0:
            raise ValueError(f"floor must be positive, got {floor}")
        self.background = background
        self.floor = floor

    def rate(self, mean: torch.Tensor) -> torch.Tensor:
        """:math:`\\max(Ax + b, \\text{floor})`."""
        return (mean + self.background).clamp_min(self.floor)

    def distribution(self, mean: torch.Tensor, parameters: dict | None = None, ndim: int = 2):
        """:math:`p(y\\mid Ax)` per pixel (Poisson has no parameters of its own)."""
        return dist.Poisson(self.rate(mean), validate_args=False)

    def check_observed(self, observed: np.ndarray) -> None:
        """Counts cannot be negative."""
        if np.any(np.asarray(observed) < 0):
            raise ValueError(
                "Poisson noise needs non-negative counts, but the image has negative values; "
                "subtract less background or use noise='gaussian'"
            )

    def simulate(self, mean: np.ndarray, *, rng: np.random.Generator, precision=None):
        """Draw counts :math:`y \\sim \\mathrm{Poisson}(\\text{mean} + b)`."""
        mean = np.asarray(mean, dtype=float)
        if np.any(mean < 0):
            raise ValueError("a Poisson rate cannot be negative")
        return rng.poisson(mean + self.background).astype(float)

    def __repr__(self) -> str:
        return f"PoissonNoise(background={self.background})"
