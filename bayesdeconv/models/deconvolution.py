"""The deconvolution model: operator + image prior + noise model as one Pyro model."""

from __future__ import annotations

import pyro
import torch

from bayesdeconv.models import sites
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.priors.hyper import GammaPrior

__all__ = ["DeconvolutionModel"]


class DeconvolutionModel:
    """:math:`y = M \\odot (k \\circledast x) + n` as a Pyro model with a known PSF.

    .. math::
        \\alpha \\sim \\mathrm{Gamma}, \\quad x \\mid \\alpha \\sim p_{prior}(x \\mid \\alpha),
        \\quad \\gamma \\sim \\mathrm{Gamma}, \\quad
        y_i \\mid x, \\gamma \\sim p_{noise}\\big((A x)_i, \\gamma\\big) \\text{ for } M_i = 1.

    Sites (names in :mod:`bayesdeconv.models.sites`): ``image_precision`` (when learned),
    ``image`` (the latent grid), ``noise_precision`` (Gaussian noise, when learned) and ``obs``.
    The same object serves every engine: SVI traces it, IVB reads its conjugate components.

    Parameters
    ----------
    operator : ConvolutionOperator
        The blur (its ``boundary`` decides the latent grid).
    prior : SmoothPrior
        Image prior.
    noise : GaussianNoise or PoissonNoise
        Noise model.
    mask : torch.Tensor, optional
        Boolean observation mask of the observed shape (``True`` = observed).
    """

    def __init__(self, operator: ConvolutionOperator, *, prior, noise, mask=None) -> None:
        self.operator = operator
        self.prior = prior
        self.noise = noise
        if mask is not None:
            mask = torch.as_tensor(mask, device=operator.device).bool()
            if tuple(mask.shape) != operator.observed_shape:
                raise ValueError(
                    f"mask shape {tuple(mask.shape)} does not match the image shape "
                    f"{operator.observed_shape}"
                )
            if not bool(mask.any()):
                raise ValueError("the mask marks no pixel as observed")
            if bool(mask.all()):
                mask = None
        self.mask = mask

    @property
    def ndim(self) -> int:
        return self.operator.ndim

    @property
    def dtype(self) -> torch.dtype:
        return self.operator.dtype

    @property
    def device(self) -> torch.device:
        return self.operator.device

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return self.operator.latent_shape

    @property
    def n_observed(self) -> int:
        """Number of observed pixels :math:`N_{obs}`."""
        if self.mask is None:
            return int(torch.tensor(self.operator.observed_shape).prod())
        return int(self.mask.sum())

    def _precision(self, name: str, spec) -> torch.Tensor:
        if isinstance(spec, GammaPrior):
            return pyro.sample(name, spec.distribution(dtype=self.dtype, device=self.device))
        return torch.tensor(spec, dtype=self.dtype, device=self.device)

    def __call__(self, observed: torch.Tensor | None = None) -> torch.Tensor:
        alpha = self._precision(sites.IMAGE_PRECISION, self.prior.precision)
        x = pyro.sample(sites.IMAGE, self.prior.distribution(alpha, self.latent_shape))
        blurred = self.operator.forward(x)
        gamma = None
        if getattr(self.noise, "precision", None) is not None:
            gamma = self._precision(sites.NOISE_PRECISION, self.noise.precision)
        likelihood = self.noise.distribution(blurred, gamma, self.ndim)
        if self.mask is not None:
            likelihood = likelihood.mask(self.mask)
        pyro.sample(sites.OBSERVED, likelihood.to_event(self.ndim), obs=observed)
        return x
