"""Additive Gaussian noise with a fixed precision or a Gamma hyper-prior on it."""

from __future__ import annotations

import math

import numpy as np
import pyro.distributions as dist
import torch

from bayesdeconv.priors.hyper import GammaPrior

__all__ = ["GaussianNoise"]


class GaussianNoise:
    """:math:`y = A x + n`, :math:`n \\sim \\mathcal N(0, \\gamma^{-1} I)`.

    Parameters
    ----------
    precision : float or GammaPrior
        A fixed noise precision :math:`\\gamma = 1/\\sigma^2` or its Gamma hyper-prior (learned).
        Default: a vague ``GammaPrior()``.

    Notes
    -----
    Conjugate with Gaussian image priors and with a Gamma prior on :math:`\\gamma`: given
    :math:`\\mathbb E\\|M(y - Ax)\\|^2` over the :math:`N_{obs}` observed pixels,
    :math:`q(\\gamma) = \\mathrm{Gamma}(a_0 + N_{obs}/2,\\ b_0 + \\mathbb E\\|M(y-Ax)\\|^2/2)`.
    """

    name = "gaussian"
    conjugate = True

    def __init__(self, *, precision: float | GammaPrior | None = None) -> None:
        if precision is None:
            precision = GammaPrior()
        if not isinstance(precision, GammaPrior):
            precision = float(precision)
            if not math.isfinite(precision) or precision <= 0:
                raise ValueError(f"noise precision must be positive and finite, got {precision}")
        self.precision = precision

    @property
    def learned(self) -> bool:
        """Whether :math:`\\gamma` has a hyper-prior (else it is held fixed)."""
        return isinstance(self.precision, GammaPrior)

    def distribution(self, mean: torch.Tensor, precision: torch.Tensor, ndim: int):
        """:math:`p(y \\mid Ax, \\gamma)` per pixel (batch shape of ``precision`` broadcast)."""
        scale = precision.rsqrt().reshape(precision.shape + (1,) * ndim)
        return dist.Normal(mean, scale)

    def simulate(self, mean: np.ndarray, *, precision: float, rng: np.random.Generator):
        """Draw :math:`y = \\text{mean} + \\gamma^{-1/2} z`."""
        mean = np.asarray(mean, dtype=float)
        return mean + rng.standard_normal(mean.shape) / math.sqrt(precision)

    def log_prob(self, y, mean, *, precision: float, mask=None) -> float:
        """:math:`\\log p(y\\mid Ax,\\gamma)` summed over observed pixels."""
        y, mean = torch.as_tensor(y, dtype=torch.float64), torch.as_tensor(mean).double()
        lp = dist.Normal(mean, math.sqrt(1.0 / precision)).log_prob(y)
        if mask is not None:
            lp = lp * torch.as_tensor(mask, dtype=torch.float64)
        return float(lp.sum())

    def __repr__(self) -> str:
        return f"GaussianNoise(precision={self.precision!r})"
