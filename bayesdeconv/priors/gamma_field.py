r"""Independent Gamma intensities: the image prior conjugate to Poisson counts.

.. math::
    x_j \mid \beta \overset{iid}\sim \mathrm{Gamma}(a, \beta), \qquad
    \beta \sim \mathrm{Gamma}(a_0, b_0) \text{ or fixed},

a positivity prior with mean :math:`a/\beta` per voxel (no smoothness). With Poisson noise and
the latent-count augmentation of the blur (each count split among the voxels that emitted it)
every conditional is Gamma or multinomial, so variational Bayes runs in closed form
(:mod:`bayesdeconv.infer.poisson_vb`); with :math:`a = 1, \beta \to 0` (a flat prior on
:math:`x > 0`) its EM limit is Richardson–Lucy.

References
----------
.. [1] W. H. Richardson, "Bayesian-based iterative method of image restoration", JOSA 62(1),
   1972; L. B. Lucy, "An iterative technique for the rectification of observed
   distributions", AJ 79, 1974.
.. [2] A. T. Cemgil, "Bayesian inference for nonnegative matrix factorisation models",
   Computational Intelligence and Neuroscience, 2009 (the latent-count VB updates).
"""

from __future__ import annotations

import math
from typing import ClassVar

import pyro
import pyro.distributions as dist
import torch

from bayesdeconv import sites
from bayesdeconv.priors.base import ImagePrior
from bayesdeconv.priors.hyper import FixedPrecision, GammaPrior, Precision, as_precision

__all__ = ["GammaFieldPrior"]


class GammaFieldPrior(ImagePrior):
    r"""Capability and prior: :math:`x_j \sim \mathrm{Gamma}(a, \beta)` independently.

    Parameters
    ----------
    shape : float
        :math:`a > 0`; 1 gives an exponential prior (the flat prior of RL when
        :math:`\beta \to 0`), larger values keep voxels away from 0.
    rate : float, GammaPrior or FixedPrecision, optional
        :math:`\beta` (site ``image_precision``): a fixed value or its Gamma hyper-prior
        (learned by the engines; default a vague ``GammaPrior()``).
    """

    name = "gamma"
    hyperparameter_attributes: ClassVar[dict[str, str]] = {sites.IMAGE_PRECISION: "precision"}

    def __init__(self, *, shape: float = 1.0, rate: float | Precision | None = None) -> None:
        shape = float(shape)
        if not math.isfinite(shape) or shape <= 0:
            raise ValueError(f"shape must be positive and finite, got {shape}")
        self.shape = shape
        self.precision: GammaPrior | FixedPrecision = as_precision(rate)

    def rate_site(self, *, dtype, device) -> torch.Tensor:
        if self.precision.learned:
            return pyro.sample(
                sites.IMAGE_PRECISION, self.precision.distribution(dtype=dtype, device=device)
            )
        return torch.tensor(self.precision.value, dtype=dtype, device=device)

    def sample(self, shape, *, dtype, device) -> torch.Tensor:
        rate = self.rate_site(dtype=dtype, device=device)
        a = torch.tensor(self.shape, dtype=dtype, device=device)
        prior = dist.Gamma(a, rate).expand(tuple(shape)).to_event(len(shape))
        return pyro.sample(sites.IMAGE, prior)

    def hyperparameters(self) -> dict[str, Precision]:
        return {sites.IMAGE_PRECISION: self.precision}

    def initial_values(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {sites.IMAGE: image.clamp_min(1e-3 * float(image.abs().max()) + 1e-12)}
        if self.precision.learned:
            value = self.precision.init or self.shape / max(float(out[sites.IMAGE].mean()), 1e-12)
            out[sites.IMAGE_PRECISION] = torch.tensor(value, dtype=image.dtype, device=image.device)
        return out

    def __repr__(self) -> str:
        return f"GammaFieldPrior(shape={self.shape}, rate={self.precision!r})"
