"""Gamma hyper-priors on precisions and their closed-form variational algebra."""

from __future__ import annotations

import copy as _copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyro.distributions as dist
import torch
from scipy.special import digamma

__all__ = [
    "FixedPrecision",
    "GammaPosterior",
    "GammaPrior",
    "Precision",
    "as_precision",
    "conjugate_gamma",
    "with_fixed_precisions",
]


def conjugate_gamma(shape, rate, n_terms, sum_squares):
    """The Gamma conjugate update :math:`(a_0 + n/2,\\ b_0 + E/2)`, elementwise.

    For a Gaussian term :math:`\\mathcal N(r; 0, (\\theta I_n)^{-1})` and a
    :math:`\\mathrm{Gamma}(a_0, b_0)` prior on :math:`\\theta`, with :math:`E` the (expected)
    sum of squares, this is the exact conditional :math:`p(\\theta \\mid r)` (Gibbs) and the
    coordinate-ascent optimum of the ELBO in :math:`q(\\theta)` (IVB). Works on floats and
    tensors alike (one precision per array entry). The one place the update is written.
    """
    return shape + 0.5 * n_terms, rate + 0.5 * sum_squares


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
    learned: ClassVar[bool] = True
    """A Gamma prior makes the precision a latent site that the engines learn."""

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
            *conjugate_gamma(self.shape, self.rate, float(n_terms), float(sum_squares))
        )

    def expected_log_density(self, q: GammaPosterior) -> float:
        """:math:`\\mathbb E_q[\\log p(\\theta)] = a_0\\log b_0 - \\log\\Gamma(a_0)
        + (a_0 - 1)\\,\\mathbb E_q\\log\\theta - b_0\\,\\mathbb E_q\\theta`."""
        a0, b0 = self.shape, self.rate
        return a0 * math.log(b0) - math.lgamma(a0) + (a0 - 1) * q.mean_log - b0 * q.mean


@dataclass(frozen=True)
class FixedPrecision:
    """A precision held at a known value (no hyper-prior, no sample site).

    Parameters
    ----------
    value : float
        The precision, positive and finite.
    """

    value: float
    learned: ClassVar[bool] = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _check_positive("precision", self.value))

    @property
    def init(self) -> float:
        """The starting value of an engine: the value itself."""
        return self.value

    def __float__(self) -> float:
        return self.value


Precision = GammaPrior | FixedPrecision
"""A precision specification: learned (Gamma hyper-prior) or fixed."""


def as_precision(spec: float | GammaPrior | FixedPrecision | None) -> Precision:
    """Normalise a precision argument: ``None`` means a vague :class:`GammaPrior`, a number
    a :class:`FixedPrecision`; raises ``ValueError`` for a non-positive or non-finite value."""
    if spec is None:
        return GammaPrior()
    if isinstance(spec, GammaPrior | FixedPrecision):
        return spec
    try:
        return FixedPrecision(float(spec))
    except (TypeError, ValueError):
        raise ValueError(f"precision must be positive and finite, got {spec!r}") from None


def with_fixed_precisions(component, values: Mapping[str, float]):
    """A shallow copy of a prior or likelihood whose named precision sites are held at
    ``values`` (:class:`FixedPrecision`), so a fit no longer learns them.

    The component declares where each site's :data:`Precision` lives in its
    ``hyperparameter_attributes`` (site name → attribute). Used to share one set of learned
    hyper-parameters between the tiles of a large image (:mod:`bayesdeconv.tiling`).
    """
    declared = component.hyperparameters()
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ValueError(
            f"{type(component).__name__} has no hyper-parameter {', '.join(unknown)} "
            f"(it has: {', '.join(sorted(declared)) or 'none'})"
        )
    copy = _copy.copy(component)
    for site, value in values.items():
        attribute = component.hyperparameter_attributes.get(site)
        if attribute is None:
            raise NotImplementedError(
                f"{type(component).__name__} does not say which attribute holds {site}: "
                "set its hyperparameter_attributes"
            )
        setattr(copy, attribute, FixedPrecision(float(value)))
    return copy


def precision_site(name: str, spec: Precision, *, dtype, device) -> torch.Tensor:
    """Inside a Pyro model: the sample site ``name`` for a learned precision, or the fixed
    value as a tensor (no site)."""
    import pyro

    if spec.learned:
        return pyro.sample(name, spec.distribution(dtype=dtype, device=device))
    return torch.tensor(spec.value, dtype=dtype, device=device)


def start_value(spec: Precision, estimate: float) -> float:
    """An engine's starting :math:`\\mathbb E\theta`: the fixed value, the prior's ``init``, or
    the data-driven ``estimate``."""
    return estimate if spec.init is None else float(spec.init)


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
