"""The deconvolution model: operator + image prior + noise model as one Pyro model."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch.distributions import constraints

from bayesdeconv.models import sites
from bayesdeconv.physics.convolution import ConvolutionOperator, psf_to_otf
from bayesdeconv.priors.ard import GradientARDPrior
from bayesdeconv.priors.hyper import GammaPrior
from bayesdeconv.priors.psf_prior import PSFPrior

__all__ = ["DeconvolutionModel"]


class DeconvolutionModel:
    """:math:`y = M \\odot (k \\circledast x) + n` as a Pyro model, PSF known or unknown.

    .. math::
        \\alpha \\sim \\mathrm{Gamma}, \\quad x \\mid \\alpha \\sim p_{prior}(x \\mid \\alpha),
        \\quad \\gamma \\sim \\mathrm{Gamma}, \\quad
        y_i \\mid x, \\gamma \\sim p_{noise}\\big((A x)_i, \\gamma\\big) \\text{ for } M_i = 1.

    Sites (names in :mod:`bayesdeconv.models.sites`): ``psf`` (blind models), ``image_precision``
    (smooth prior, when learned), ``image`` (the latent grid), ``noise_precision`` (Gaussian
    noise, when learned) and ``obs``. With a :class:`~bayesdeconv.priors.GradientARDPrior` the
    image site is an improper flat site plus a factor ``image_prior`` holding the Student-t
    marginal of the gradients (the per-difference precisions integrated out; IVB keeps them as
    explicit Gamma factors instead). Likewise the ``psf`` site carries the Student-t marginal of
    :class:`~bayesdeconv.priors.PSFPrior`. The same object serves every engine: SVI traces it,
    IVB reads its conjugate components.

    Parameters
    ----------
    operator : ConvolutionOperator
        The blur (its ``boundary`` decides the latent grid).
    prior : SmoothPrior or GradientARDPrior
        Image prior.
    noise : GaussianNoise or PoissonNoise
        Noise model.
    mask : torch.Tensor, optional
        Boolean observation mask of the observed shape (``True`` = observed).
    psf_prior : PSFPrior, optional
        Makes the PSF unknown (blind deconvolution); its support must equal the operator's PSF
        shape (the operator's PSF is then only the starting point).
    """

    def __init__(
        self,
        operator: ConvolutionOperator,
        *,
        prior,
        noise,
        mask=None,
        psf_prior: PSFPrior | None = None,
    ) -> None:
        self.operator = operator
        self.prior = prior
        self.noise = noise
        if psf_prior is not None and tuple(psf_prior.size) != tuple(operator.psf.shape):
            raise ValueError(
                f"psf_prior support {tuple(psf_prior.size)} differs from the operator's PSF "
                f"shape {tuple(operator.psf.shape)}"
            )
        self.psf_prior = psf_prior
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
    def blind(self) -> bool:
        """True when the PSF is a latent variable."""
        return self.psf_prior is not None

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
        otf = None
        if self.psf_prior is not None:
            psf = pyro.sample(
                sites.PSF, self.psf_prior.marginal(dtype=self.dtype, device=self.device)
            )
            otf = psf_to_otf(psf, self.latent_shape)
        if isinstance(self.prior, GradientARDPrior):
            flat = dist.ImproperUniform(constraints.real, (), self.latent_shape)
            x = pyro.sample(sites.IMAGE, flat)
            pyro.factor(sites.IMAGE_PRIOR, self.prior.log_density(x, self.ndim))
        else:
            alpha = self._precision(sites.IMAGE_PRECISION, self.prior.precision)
            x = pyro.sample(sites.IMAGE, self.prior.distribution(alpha, self.latent_shape))
        blurred = self.operator.forward(x, otf)
        gamma = None
        if getattr(self.noise, "precision", None) is not None:
            gamma = self._precision(sites.NOISE_PRECISION, self.noise.precision)
        likelihood = self.noise.distribution(blurred, gamma, self.ndim)
        if self.mask is not None:
            likelihood = likelihood.mask(self.mask)
        pyro.sample(sites.OBSERVED, likelihood.to_event(self.ndim), obs=observed)
        return x
