"""Additive Gaussian noise with a fixed precision or a Gamma hyper-prior on it."""

from __future__ import annotations

import math

import numpy as np
import pyro.distributions as dist
import torch

from bayesdeconv import sites
from bayesdeconv.likelihoods.base import ConjugateGaussianLikelihood
from bayesdeconv.priors.hyper import FixedPrecision, GammaPrior, as_precision

__all__ = ["GaussianNoise"]


class GaussianNoise(ConjugateGaussianLikelihood):
    """:math:`y = A x + n`, :math:`n \\sim \\mathcal N(0, \\gamma^{-1} I)`.

    Parameters
    ----------
    precision : float, FixedPrecision or GammaPrior
        A fixed noise precision :math:`\\gamma = 1/\\sigma^2` or its Gamma hyper-prior (learned).
        Default: a vague ``GammaPrior()``.

    Notes
    -----
    Conjugate with Gaussian image priors and with a Gamma prior on :math:`\\gamma`: given
    :math:`\\mathbb E\\|M(y - Ax)\\|^2` over the :math:`N_{obs}` observed pixels,
    :math:`q(\\gamma) = \\mathrm{Gamma}(a_0 + N_{obs}/2,\\ b_0 + \\mathbb E\\|M(y-Ax)\\|^2/2)`.
    """

    name = "gaussian"

    def __init__(self, *, precision: float | GammaPrior | FixedPrecision | None = None) -> None:
        try:
            self.precision = as_precision(precision)
        except ValueError:
            raise ValueError(
                f"noise precision must be positive and finite, got {precision!r}"
            ) from None

    def distribution(self, mean: torch.Tensor, parameters: dict, ndim: int):
        """:math:`p(y \\mid Ax, \\gamma)` per pixel (batch shape of the precision broadcast)."""
        precision = parameters[sites.NOISE_PRECISION]
        scale = precision.rsqrt().reshape(precision.shape + (1,) * ndim)
        return dist.Normal(mean, scale)

    def _value(self, precision: float | None) -> float:
        if precision is not None:
            return float(precision)
        if self.learned:
            raise ValueError("this noise model learns its precision: pass precision=...")
        return self.precision.value

    def simulate(
        self, mean: np.ndarray, *, rng: np.random.Generator, precision: float | None = None
    ) -> np.ndarray:
        """Draw :math:`y = \\text{mean} + \\gamma^{-1/2} z` (``precision`` defaults to the fixed
        :math:`\\gamma`)."""
        mean = np.asarray(mean, dtype=float)
        return mean + rng.standard_normal(mean.shape) / math.sqrt(self._value(precision))

    def log_prob(self, y, mean, *, precision: float | None = None, mask=None) -> float:
        """:math:`\\log p(y\\mid Ax,\\gamma)` summed over observed pixels (``mask`` True)."""
        y = torch.as_tensor(y, dtype=torch.float64)
        mean = torch.as_tensor(mean, dtype=torch.float64)
        if mask is not None:  # masked pixels may hold NaN: take them out before scoring
            keep = torch.as_tensor(mask, dtype=torch.bool)
            y, mean = y[keep], mean[keep]
        scale = math.sqrt(1.0 / self._value(precision))
        return float(dist.Normal(mean, scale).log_prob(y).sum())

    def __repr__(self) -> str:
        return f"GaussianNoise(precision={self.precision!r})"
