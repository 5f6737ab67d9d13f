"""Prior on an unknown PSF: independent Gaussians with Gamma (ARD) precisions on its support."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyro.distributions as dist
import torch

__all__ = ["PSFPrior", "check_psf_size"]


def check_psf_size(psf_size, image_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Validate a PSF support: odd, at least 3, at most the image, one size per image axis.

    An int means a square (cubic) support. Raises ``ValueError`` with the reason otherwise.
    """
    ndim = len(image_shape)
    if isinstance(psf_size, int | float) and not isinstance(psf_size, bool):
        sizes = (psf_size,) * ndim
    else:
        try:
            sizes = tuple(psf_size)
        except TypeError:
            message = f"psf_size must be an int or a tuple of ints, got {psf_size!r}"
            raise ValueError(message) from None
    if len(sizes) != ndim:
        raise ValueError(f"psf_size {sizes} has {len(sizes)} axes but the image has {ndim}")
    out = []
    for s, n in zip(sizes, image_shape, strict=True):
        if isinstance(s, bool) or int(s) != s:
            raise ValueError(f"psf_size must hold integers, got {s!r}")
        s = int(s)
        if s < 3:
            raise ValueError(f"psf_size must be at least 3, got {s}")
        if s % 2 == 0:
            raise ValueError(
                f"psf_size must be odd so that the PSF is centred on a pixel, got {s}; use {s + 1}"
            )
        if s > n:
            raise ValueError(f"psf_size {s} is larger than the image axis of length {n}")
        out.append(s)
    return tuple(out)


@dataclass(frozen=True)
class PSFPrior:
    """ARD Gaussian prior on the PSF values of a fixed support.

    .. math::
        k_j \\mid \\beta_j \\sim \\mathcal N(0, \\beta_j^{-1}), \\qquad
        \\beta_j \\sim \\mathrm{Gamma}(a, b), \\qquad j \\in \\text{support},

    so each PSF value has its own relevance precision: values the data do not support are
    shrunk to zero, which keeps estimated blur kernels compact. Marginally each value is a
    Student-t with :math:`2a` degrees of freedom and scale :math:`\\sqrt{b/a}`.

    Non-negativity and unit sum are not part of the density: the engines restrict the mean of
    the Gaussian posterior :math:`q(k) = \\mathcal N(\\mu_k, \\Sigma_k)` to the probability
    simplex (see :func:`bayesdeconv.infer.blind.project_simplex`), a restricted variational
    family whose ELBO is still a lower bound of the evidence.

    Parameters
    ----------
    size : tuple of int
        Odd support per axis (validated by :func:`check_psf_size`).
    shape, rate : float
        :math:`a` and :math:`b`; the vague default lets the data decide.
    """

    size: tuple[int, ...]
    shape: float = 1e-3
    rate: float = 1e-3

    def __post_init__(self) -> None:
        for label in ("shape", "rate"):
            value = getattr(self, label)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive finite number, got {value}")

    @property
    def numel(self) -> int:
        return math.prod(self.size)

    def marginal(self, *, dtype=torch.float64, device=None) -> dist.TorchDistribution:
        """Student-t marginal of every PSF value (precisions integrated out), for SVI."""
        one = torch.ones((), dtype=dtype, device=device)
        base = dist.StudentT(2 * self.shape * one, 0 * one, math.sqrt(self.rate / self.shape) * one)
        return base.expand(self.size).to_event(len(self.size))

    def expected_precision(self, second_moment: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:math:`q(\\beta_j) = \\mathrm{Gamma}(a + \\tfrac12, b + \\tfrac12\\mathbb E k_j^2)`;
        returns ``(E beta, rate)``."""
        rate = self.rate + 0.5 * second_moment
        return (self.shape + 0.5) / rate, rate
