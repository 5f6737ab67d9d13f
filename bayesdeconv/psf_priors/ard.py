"""ARD Gaussian prior on the PSF values of a fixed support, mean on the simplex."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch

from bayesdeconv import sites
from bayesdeconv.psf_priors.base import ConjugateGaussianPSFPrior

__all__ = ["ARDPSFPrior"]


@dataclass(frozen=True)
class ARDPSFPrior(ConjugateGaussianPSFPrior):
    """ARD Gaussian prior on the PSF values of a fixed support.

    .. math::
        k_j \\mid \\beta_j \\sim \\mathcal N(0, \\beta_j^{-1}), \\qquad
        \\beta_j \\sim \\mathrm{Gamma}(a, b), \\qquad j \\in \\text{support},

    so each PSF value has its own relevance precision: values the data do not support are
    shrunk to zero, which keeps estimated blur kernels compact. Marginally each value is a
    Student-t with :math:`2a` degrees of freedom and scale :math:`\\sqrt{b/a}`.

    Non-negativity and unit sum are not part of the density: they are the prior's support
    constraint on the mean of the Gaussian posterior :math:`q(k) = \\mathcal N(\\mu_k,
    \\Sigma_k)` (:meth:`project`, :meth:`minimise_quadratic`), a restricted variational family
    whose ELBO is still a lower bound of the evidence.

    Parameters
    ----------
    size : tuple of int
        Odd support per axis (validated by :func:`~bayesdeconv.psf_priors.check_psf_size`).
    shape, rate : float
        :math:`a` and :math:`b`; the vague default lets the data decide.
    integrate : bool
        ``True`` (default): the model's ``psf`` site carries the Student-t marginal.
        ``False``: explicit ``psf_precision`` sites and a Gaussian ``psf`` (the model IVB fits).
    """

    size: tuple[int, ...]
    shape: float = 1e-3
    rate: float = 1e-3
    integrate: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", tuple(int(s) for s in self.size))
        for label in ("shape", "rate"):
            value = getattr(self, label)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive finite number, got {value}")

    def resized(self, size: tuple[int, ...]) -> ARDPSFPrior:
        return ARDPSFPrior(tuple(size), self.shape, self.rate, self.integrate)

    def marginal(self, *, dtype=torch.float64, device=None) -> dist.TorchDistribution:
        """Student-t marginal of every PSF value (precisions integrated out), for SVI."""
        one = torch.ones((), dtype=dtype, device=device)
        base = dist.StudentT(2 * self.shape * one, 0 * one, math.sqrt(self.rate / self.shape) * one)
        return base.expand(self.size).to_event(len(self.size))

    def sample(self, *, dtype, device) -> torch.Tensor:
        if self.integrate:
            return pyro.sample(sites.PSF, self.marginal(dtype=dtype, device=device))
        one = torch.ones((), dtype=dtype, device=device)
        ndim = len(self.size)
        gamma = dist.Gamma(self.shape * one, self.rate * one).expand(self.size).to_event(ndim)
        beta = pyro.sample(sites.PSF_PRECISION, gamma)
        return pyro.sample(sites.PSF, dist.Normal(0 * one, beta.rsqrt()).to_event(ndim))
