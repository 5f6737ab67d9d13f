"""The exact Gaussian posterior and evidence for circulant blur, Gaussian noise and prior."""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass

import torch

from bayesdeconv.infer._common import as_observed
from bayesdeconv.infer.ivb import fit_ivb
from bayesdeconv.infer.linear_gaussian import LinearGaussianSystem
from bayesdeconv.infer.result import Result
from bayesdeconv.likelihoods.base import ConjugateGaussianLikelihood
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import squared_modulus
from bayesdeconv.priors.base import CirculantGaussianPrior
from bayesdeconv.priors.hyper import FixedPrecision
from bayesdeconv.priors.stationary import rfft_weights

__all__ = ["ExactPosterior", "exact_posterior", "fit_exact", "spectral_log_evidence"]


@dataclass(frozen=True)
class ExactPosterior:
    """:math:`p(x \\mid y, \\alpha, \\gamma) = \\mathcal N(\\mu, \\Lambda^{-1})`, circulant.

    Attributes
    ----------
    mean : torch.Tensor
        :math:`\\mu` on the latent grid (the Wiener–Hunt estimate).
    precision : torch.Tensor
        :math:`\\Lambda(\\omega) = \\gamma |K(\\omega)|^2 + \\alpha Q_0(\\omega)`, full FFT grid.
    marginal_variance : float
        :math:`(\\Lambda^{-1})_{ii} = N^{-1} \\sum_\\omega \\Lambda(\\omega)^{-1}`, equal for
        every pixel.
    log_evidence : float
        :math:`\\log p(y \\mid \\alpha, \\gamma)`.
    """

    mean: torch.Tensor
    precision: torch.Tensor
    marginal_variance: float
    log_evidence: float


def _value(spec, override, name: str) -> float:
    if override is not None:
        return float(override)
    if spec.learned:
        raise ValueError(f"{name} has a hyper-prior in the model; pass a value for it")
    return spec.value


def spectral_log_evidence(
    power: torch.Tensor,
    k2: torch.Tensor,
    q0: torch.Tensor,
    image_precision: float | torch.Tensor,
    noise_precision: float | torch.Tensor,
    shape: tuple[int, ...],
) -> torch.Tensor:
    r""":math:`\log p(y \mid k, \alpha, \gamma)` from half spectra (``rfftn`` layout).

    .. math::
        \log p(y) = -\tfrac N2 \log 2\pi - \tfrac12 \sum_\omega \log s(\omega)
        - \tfrac1{2N} \sum_\omega \frac{|\hat y(\omega)|^2}{s(\omega)}, \qquad
        s(\omega) = \gamma^{-1} + \frac{|K(\omega)|^2}{\alpha Q_0(\omega)},

    the sums over the full grid taken as weighted sums over the half spectrum
    (:func:`~bayesdeconv.priors.stationary.rfft_weights`). A torch expression: differentiable
    in ``k2`` (hence the PSF) and both precisions. The one place the formula is written.

    Parameters
    ----------
    power : torch.Tensor
        :math:`|\hat y(\omega)|^2` on the half spectrum of the latent ``shape``.
    k2, q0 : torch.Tensor
        :math:`|K(\omega)|^2` and :math:`Q_0(\omega)` on the same half spectrum.
    image_precision, noise_precision : float or torch.Tensor
        :math:`\alpha` and :math:`\gamma` (0-d).
    shape : tuple of int
        The latent (= observed, circular) shape; :math:`N` its number of pixels.
    """
    n = math.prod(shape)
    w = rfft_weights(shape, dtype=k2.dtype, device=k2.device)
    s = 1.0 / noise_precision + k2 / (image_precision * q0)
    return (
        -0.5 * n * math.log(2 * math.pi)
        - 0.5 * (w * s.log()).sum()
        - 0.5 * (w * power / s).sum() / n
    )


def unsupported_reason(model: DeconvolutionModel) -> str | None:
    """Why the exact posterior does not apply to ``model``, or ``None`` when it does."""
    if not model.operator.is_circulant or model.mask is not None or model.blind:
        return "the exact posterior needs boundary='circular', no mask and a known PSF"
    if not isinstance(model.noise, ConjugateGaussianLikelihood) or not isinstance(
        model.prior, CirculantGaussianPrior
    ):
        return "the exact posterior needs Gaussian noise and a Gaussian image prior"
    return None


def exact_posterior(
    model: DeconvolutionModel,
    observed,
    *,
    image_precision: float | None = None,
    noise_precision: float | None = None,
) -> ExactPosterior:
    """Closed-form posterior and evidence for given precisions.

    Needs ``boundary="circular"``, no mask, Gaussian noise and a Gaussian prior. Then
    :math:`y \\sim \\mathcal N(0, \\gamma^{-1} I + C(\\alpha Q_0)^{-1}C^\\top)`, whose covariance
    has eigenvalues :math:`s(\\omega) = \\gamma^{-1} + |K(\\omega)|^2 / (\\alpha Q_0(\\omega))`:

    .. math::
        \\log p(y) = -\\tfrac N2 \\log 2\\pi - \\tfrac12 \\sum_\\omega \\log s(\\omega)
        - \\tfrac1{2N} \\sum_\\omega \\frac{|\\hat y(\\omega)|^2}{s(\\omega)},
        \\qquad \\hat\\mu = \\frac{\\gamma \\bar K \\hat y}{\\gamma |K|^2 + \\alpha Q_0}.

    Parameters
    ----------
    model : DeconvolutionModel
    observed : array_like
    image_precision, noise_precision : float, optional
        :math:`\\alpha`, :math:`\\gamma`; default to the model's fixed values.

    References
    ----------
    .. [1] B. R. Hunt, "A theorem on the difficulty of numerical deconvolution", 1972;
       F. Orieux, J.-F. Giovannelli, T. Rodet, "Bayesian estimation of regularization and point
       spread function parameters for Wiener–Hunt deconvolution", JOSA A 27(7), 2010.
    """
    reason = unsupported_reason(model)
    if reason is not None:
        raise ValueError(reason)
    alpha = _value(model.prior.precision, image_precision, "image_precision")
    gamma = _value(model.noise.precision, noise_precision, "noise_precision")
    y = as_observed(model, observed)
    system = LinearGaussianSystem(model, y)
    precision = gamma * system.k2 + alpha * system.q0
    log_evidence = float(
        spectral_log_evidence(
            squared_modulus(system.y_hat),
            system.k2_half,
            system.q0_half,
            alpha,
            gamma,
            system.shape,
        )
    )
    return ExactPosterior(
        mean=system.fourier_mean(gamma, alpha),
        precision=precision,
        marginal_variance=float((1.0 / precision).mean()),
        log_evidence=log_evidence,
    )


def fit_exact(
    model: DeconvolutionModel,
    observed,
    *,
    image_precision: float | None = None,
    noise_precision: float | None = None,
) -> Result:
    """The exact posterior for given precisions as a :class:`Result` (``method="exact"``).

    Same conditions as :func:`exact_posterior`. Computed by one IVB sweep of the Fourier family
    with the precisions held fixed, which *is* the exact posterior in this case (tested against
    dense linear algebra); ``result.elbo[-1]`` equals the log evidence, which is also given as
    ``result.log_evidence`` from the independent formula.
    """
    exact = exact_posterior(
        model, observed, image_precision=image_precision, noise_precision=noise_precision
    )
    alpha = _value(model.prior.precision, image_precision, "image_precision")
    gamma = _value(model.noise.precision, noise_precision, "noise_precision")
    prior, noise = copy.copy(model.prior), copy.copy(model.noise)
    prior.precision, noise.precision = FixedPrecision(alpha), FixedPrecision(gamma)
    fixed = model.with_components(prior=prior, noise=noise)
    result = fit_ivb(fixed, observed, covariance="fourier", progress=False)
    return dataclasses.replace(result, method="exact", log_evidence=exact.log_evidence)
