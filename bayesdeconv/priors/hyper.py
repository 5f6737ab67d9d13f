"""Gamma hyper-priors on precisions and their closed-form variational algebra."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyro.distributions as dist
import torch
from scipy.special import digamma

__all__ = ["GammaPrior", "GammaPosterior"]


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


@dataclass(frozen=True)
class GammaPrior:
    """Gamma prior :math:`p(\\theta) = \\mathrm{Gamma}(\\theta; a_0, b_0)` on a precision.

    Parameters
    ----------
    shape, rate : float
        :math:`a_0` and :math:`b_0` (rate parameterisation, mean :math:`a_0/b_0`). The default
        :math:`a_0 = b_0 = 10^{-3}` is the usual vague choice, close to the scale-invariant
        :math:`p(\\theta) \\propto 1/\\theta`.
    init : float, optional
        Starting value for inference engines (not part of the prior). ``None`` lets the engine
        estimate one from the data.
    """

    shape: float = 1e-3
    rate: float = 1e-3
    init: float | None = None

    def __post_init__(self) -> None:
        _check_positive("shape", self.shape)
        _check_positive("rate", self.rate)
        if self.init is not None:
            _check_positive("init", self.init)

    def distribution(self, *, dtype=torch.float64, device=None) -> dist.Gamma:
        """The prior as a Pyro distribution."""
        return dist.Gamma(
            torch.tensor(self.shape, dtype=dtype, device=device),
            torch.tensor(self.rate, dtype=dtype, device=device),
        )

    def posterior(self, n_terms: float, sum_squares: float | torch.Tensor) -> GammaPosterior:
        """Closed-form update :math:`q(\\theta) = \\mathrm{Gamma}(a_0 + n/2,\\ b_0 + E/2)`.

        For a Gaussian term :math:`\\mathcal N(r; 0, (\\theta I_n)^{-1})` with
        :math:`E = \\mathbb E_q\\|r\\|^2` (or the expected quadratic form), this is the
        coordinate-ascent optimum of the ELBO in :math:`q(\\theta)`.
        """
        return GammaPosterior(
            self.shape + 0.5 * float(n_terms), self.rate + 0.5 * float(sum_squares)
        )

    def expected_log_density(self, q: GammaPosterior) -> float:
        """:math:`\\mathbb E_q[\\log p(\\theta)] = a_0\\log b_0 - \\log\\Gamma(a_0)
        + (a_0 - 1)\\,\\mathbb E_q\\log\\theta - b_0\\,\\mathbb E_q\\theta`."""
        a0, b0 = self.shape, self.rate
        return a0 * math.log(b0) - math.lgamma(a0) + (a0 - 1) * q.mean_log - b0 * q.mean


@dataclass(frozen=True)
class GammaPosterior:
    """A Gamma variational factor :math:`q(\\theta) = \\mathrm{Gamma}(a, b)` (rate ``b``)."""

    shape: float
    rate: float

    @property
    def mean(self) -> float:
        """:math:`\\mathbb E\\theta = a / b`."""
        return self.shape / self.rate

    @property
    def std(self) -> float:
        """:math:`\\sqrt{a} / b`."""
        return math.sqrt(self.shape) / self.rate

    @property
    def mean_log(self) -> float:
        """:math:`\\mathbb E\\log\\theta = \\psi(a) - \\log b`."""
        return float(digamma(self.shape)) - math.log(self.rate)

    @property
    def entropy(self) -> float:
        """:math:`a - \\log b + \\log\\Gamma(a) + (1 - a)\\psi(a)`."""
        a = self.shape
        return a - math.log(self.rate) + math.lgamma(a) + (1 - a) * float(digamma(a))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent draws."""
        return rng.gamma(self.shape, 1.0 / self.rate, size=n)
