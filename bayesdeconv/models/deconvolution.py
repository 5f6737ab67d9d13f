"""The deconvolution model: operator + image prior + likelihood (+ PSF prior) as one Pyro model."""

from __future__ import annotations

import math

import torch

from bayesdeconv.likelihoods.base import Likelihood
from bayesdeconv.physics.convolution import ConvolutionOperator, psf_to_otf
from bayesdeconv.priors.base import ImagePrior
from bayesdeconv.psf_priors.base import PSFPrior

__all__ = ["DeconvolutionModel"]


class DeconvolutionModel:
    """:math:`y = M \\odot (k \\circledast x) + n` as a Pyro model, PSF known or unknown.

    .. math::
        x \\sim p_{prior}(x), \\quad k \\sim p_{psf}(k) \\text{ (blind)}, \\quad
        y_i \\mid x, k, \\theta \\sim p_{noise}\\big((A_k x)_i, \\theta\\big)
        \\text{ for } M_i = 1.

    The model only composes its components: the PSF prior emits the ``psf`` site (blind
    models), the image prior its image site on the latent grid and its own hyper-parameter
    sites, the likelihood its parameter sites and ``obs`` (site names in
    :mod:`bayesdeconv.sites`). The same object serves every engine: SVI, MAP and Vadam trace
    it; IVB, Gibbs and the exact posterior use the closed-form capabilities its components
    declare (:mod:`bayesdeconv.priors.base`, :mod:`bayesdeconv.likelihoods.base`,
    :mod:`bayesdeconv.psf_priors.base`).

    Parameters
    ----------
    operator : ConvolutionOperator
        The blur (its ``boundary`` decides the latent grid).
    prior : ImagePrior
        Image prior.
    noise : Likelihood
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
        prior: ImagePrior,
        noise: Likelihood,
        mask=None,
        psf_prior: PSFPrior | None = None,
    ) -> None:
        for label, value, base in (
            ("prior", prior, ImagePrior),
            ("noise", noise, Likelihood),
            ("psf_prior", psf_prior, PSFPrior),
        ):
            if value is not None and not isinstance(value, base):
                raise TypeError(
                    f"{label} must be a {base.__name__} (see bayesdeconv.{base.__module__}), "
                    f"got {type(value).__name__}"
                )
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
        prior.check_model(self)

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
            return math.prod(self.operator.observed_shape)
        return int(self.mask.sum())

    def hyperparameters(self) -> dict:
        """Every scalar precision of the components by site name (learned or fixed)."""
        return {**self.prior.hyperparameters(), **self.noise.hyperparameters()}

    def with_components(self, **changes) -> DeconvolutionModel:
        """A copy with some of ``operator``, ``prior``, ``noise``, ``mask``, ``psf_prior``
        replaced (e.g. a fixed PSF for scoring a kernel)."""
        parts = {
            "operator": self.operator,
            "prior": self.prior,
            "noise": self.noise,
            "mask": self.mask,
            "psf_prior": self.psf_prior,
            **changes,
        }
        return DeconvolutionModel(parts.pop("operator"), **parts)

    def __call__(self, observed: torch.Tensor | None = None) -> torch.Tensor:
        otf = None
        if self.psf_prior is not None:
            psf = self.psf_prior.sample(dtype=self.dtype, device=self.device)
            otf = psf_to_otf(psf, self.latent_shape)
        x = self.prior.sample(self.latent_shape, dtype=self.dtype, device=self.device)
        blurred = self.operator.forward(x, otf)
        self.noise.sample(blurred, observed, ndim=self.ndim, mask=self.mask)
        return x
