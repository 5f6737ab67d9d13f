r"""The likelihood protocol and the conjugate-Gaussian capability.

A :class:`Likelihood` turns the blurred image :math:`Ax` into the observation site ``obs``:
:meth:`~Likelihood.sample` emits its own hyper-parameter sites and the masked observation,
which is all SVI, MAP and Vadam need. :class:`ConjugateGaussianLikelihood` declares additive
Gaussian noise with a fixed or Gamma-distributed precision, the case the closed-form engines
(exact posterior, IVB, Gibbs) update in closed form.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pyro
import torch

from bayesdeconv import sites
from bayesdeconv.priors.hyper import Precision, precision_site, with_fixed_precisions

__all__ = ["ConjugateGaussianLikelihood", "CountLikelihood", "Likelihood"]


class Likelihood(ABC):
    """A noise model :math:`p(y \\mid Ax, \\theta)` that emits its sites inside a Pyro model.

    Subclasses implement :meth:`distribution` (the per-pixel distribution of ``y`` given the
    blurred image and the likelihood's own parameters) and, when they have parameters,
    :meth:`parameters` (sampled or fixed inside the model) and :meth:`hyperparameters`.
    """

    name: str = "custom"
    hyperparameter_attributes: ClassVar[dict[str, str]] = {}
    """Site name → the attribute holding its precision (for :meth:`with_hyperparameters`)."""

    @abstractmethod
    def distribution(self, mean: torch.Tensor, parameters: dict, ndim: int):
        """Per-pixel :math:`p(y \\mid Ax, \\theta)` (a Pyro distribution with the shape of
        ``mean``); ``parameters`` is what :meth:`parameters` returned."""

    def parameters(self, *, dtype: torch.dtype, device) -> dict[str, torch.Tensor]:
        """Emit the likelihood's parameter sites (or fixed values) inside the model."""
        return {}

    def hyperparameters(self) -> dict[str, Precision]:
        """Scalar precision sites by site name (learned or fixed), for results."""
        return {}

    def initial_values(self, noise_std: float, *, dtype, device) -> dict[str, torch.Tensor]:
        """Starting values of the likelihood's latent sites given a noise estimate."""
        return {}

    def with_hyperparameters(self, values: Mapping[str, float]) -> Likelihood:
        """A copy with the named precision sites held fixed at ``values``."""
        return with_fixed_precisions(self, values)

    def calibrate(self, observed: np.ndarray, mask: np.ndarray | None = None) -> Likelihood:
        """The likelihood to fit ``observed`` with (``mask`` True where observed): ``self``
        here; a model whose parameters are measured on the image itself (such as
        ``noise="poisson-gaussian"``) returns a new, calibrated one. Called by
        :func:`~bayesdeconv.deconvolve` before the model is built."""
        return self

    def signal_units(self, observed: torch.Tensor) -> torch.Tensor:
        """The observation on the scale of :math:`Ax` (the identity here; a camera model
        removes its offset and gain), for the engines' starting image."""
        return observed

    def check_observed(self, observed: np.ndarray) -> None:  # noqa: B027 (optional hook)
        """Raise ``ValueError`` if the observed values are impossible under this model."""

    def sample(
        self,
        blurred: torch.Tensor,
        observed: torch.Tensor | None,
        *,
        ndim: int,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Emit the parameter sites and the observation site ``obs``; returns the draw."""
        params = self.parameters(dtype=blurred.dtype, device=blurred.device)
        likelihood = self.distribution(blurred, params, ndim)
        if mask is not None:
            likelihood = likelihood.mask(mask)
        return pyro.sample(sites.OBSERVED, likelihood.to_event(ndim), obs=observed)


class ConjugateGaussianLikelihood(Likelihood):
    r"""Capability: :math:`y = Ax + n`, :math:`n \sim \mathcal N(0, \gamma^{-1} I)`.

    The precision :math:`\gamma` is a :class:`~bayesdeconv.priors.hyper.FixedPrecision` or has
    a :class:`~bayesdeconv.priors.hyper.GammaPrior`, conjugate with Gaussian image priors:
    given :math:`\mathbb E\|M(y - Ax)\|^2` over the :math:`N_{obs}` observed pixels,
    :math:`q(\gamma) = \mathrm{Gamma}(a_0 + N_{obs}/2,\ b_0 + \mathbb E\|M(y-Ax)\|^2/2)`.
    Set ``precision`` in the constructor.
    """

    precision: Precision
    hyperparameter_attributes: ClassVar[dict[str, str]] = {sites.NOISE_PRECISION: "precision"}

    @property
    def learned(self) -> bool:
        """Whether :math:`\\gamma` has a hyper-prior (else it is held fixed)."""
        return self.precision.learned

    def parameters(self, *, dtype, device) -> dict[str, torch.Tensor]:
        gamma = precision_site(sites.NOISE_PRECISION, self.precision, dtype=dtype, device=device)
        return {sites.NOISE_PRECISION: gamma}

    def hyperparameters(self) -> dict[str, Precision]:
        return {sites.NOISE_PRECISION: self.precision}

    def initial_values(self, noise_std: float, *, dtype, device) -> dict[str, torch.Tensor]:
        if not self.precision.learned:
            return {}
        value = self.precision.init if self.precision.init is not None else 1.0 / noise_std**2
        return {sites.NOISE_PRECISION: torch.tensor(value, dtype=dtype, device=device)}


class CountLikelihood(Likelihood):
    r"""Capability: :math:`y_i \sim \mathrm{Poisson}((Ax)_i + b)` with a known background
    :math:`b \ge 0` (attribute ``background``), which makes a Gamma intensity prior conjugate
    after splitting each count among its sources (:mod:`bayesdeconv.infer.poisson_vb`)."""

    background: float

    def counts(self, observed: torch.Tensor) -> torch.Tensor:
        """The observation as Poisson counts for the closed-form engine (the identity here;
        a camera model maps its raw values to counts, e.g. by the shifted-Poisson transform)."""
        return observed

    def log_prob(self, y, mean, *, mask=None, precision=None) -> float:
        r""":math:`\log p(y\mid Ax)` summed over observed pixels (``mask`` True), in double
        precision, by the model's own :meth:`distribution`."""
        y = torch.as_tensor(y, dtype=torch.float64)
        mean = torch.as_tensor(mean, dtype=torch.float64)
        if mask is not None:  # masked pixels may hold NaN: take them out before scoring
            keep = torch.as_tensor(mask, dtype=torch.bool)
            y, mean = y[keep], mean[keep]
        return float(self.distribution(mean).log_prob(y).sum())
