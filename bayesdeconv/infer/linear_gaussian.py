"""Linear-Gaussian algebra of the conjugate non-blind model.

Given the noise precision :math:`\\gamma` and the prior precision :math:`\\alpha`, the posterior
of the latent image is Gaussian with precision and mean

.. math::
    \\Lambda = \\gamma\\, C^\\top D_m C + \\alpha Q_0, \\qquad
    \\Lambda \\mu = \\gamma\\, C^\\top D_m\\, S^\\top y,

where :math:`C` is the circulant blur on the latent grid, :math:`D_m = \\operatorname{diag}(S^\\top m)`
marks observed latent pixels and :math:`Q_0` is the prior's circulant structure. When every latent
pixel is observed (circular boundary, no holes) :math:`\\Lambda` is circulant:
:math:`\\Lambda(\\omega) = \\gamma |K(\\omega)|^2 + \\alpha Q_0(\\omega)`, solved by one FFT pair.
Otherwise :math:`\\Lambda\\mu = b` is solved by conjugate gradients preconditioned with the
circulant approximation :math:`\\gamma \\bar m |K|^2 + \\alpha Q_0` (:math:`\\bar m` the observed
fraction).
"""

from __future__ import annotations

import math

import torch

from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.priors.stationary import rfft_weights

__all__ = ["FourierPosterior", "LinearGaussianSystem", "conjugate_gradient"]


def conjugate_gradient(apply, b, x0, precondition, *, rtol: float = 1e-6, max_iter: int = 500):
    """Preconditioned conjugate gradients for a symmetric positive definite operator.

    Every iterate lowers :math:`\\tfrac12 x^\\top \\Lambda x - b^\\top x` (so a warm-started, early-
    stopped solve still increases the ELBO). Stops when
    :math:`\\|b - \\Lambda x\\| \\le \\text{rtol}\\,\\|b\\|`.

    Returns
    -------
    x : torch.Tensor
        The solution estimate.
    iterations : int
        Iterations used.
    """
    x = x0.clone()
    r = b - apply(x)
    b_norm = torch.linalg.vector_norm(b)
    if b_norm == 0:
        return torch.zeros_like(b), 0
    z = precondition(r)
    p = z.clone()
    rz = torch.sum(r * z)
    for it in range(max_iter):
        if torch.linalg.vector_norm(r) <= rtol * b_norm:
            return x, it
        ap = apply(p)
        step = rz / torch.sum(p * ap)
        x = x + step * p
        r = r - step * ap
        z = precondition(r)
        rz_new = torch.sum(r * z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, max_iter


class LinearGaussianSystem:
    """Precomputed spectra and the data term for one model and one observed image.

    Parameters
    ----------
    model : DeconvolutionModel
        Supplies the operator, the prior's :math:`Q_0` and the mask.
    observed : torch.Tensor
        The observed image :math:`y`.
    """

    def __init__(self, model: DeconvolutionModel, observed: torch.Tensor) -> None:
        op = model.operator
        self.operator = op
        self.dims = op.dims
        self.shape = op.latent_shape
        self.n_latent = int(torch.tensor(self.shape).prod())
        self.n_observed = model.n_observed
        half = self.shape[-1] // 2 + 1
        self.mask = op.latent_mask(model.mask)
        self.observed_fraction = float(self.mask.mean())
        self.fully_observed = bool(self.mask.all())
        self.y = op.embed(observed) * self.mask  # S^T M y on the latent grid
        self.otf = op.otf
        self.k2 = op.power_spectrum()
        self.q0 = model.prior.spectrum(self.shape, dtype=op.dtype, device=op.device)
        self.k2_half = self.k2[..., :half]
        self.q0_half = self.q0[..., :half]
        self.q0_diag = model.prior.diagonal(op.ndim)
        self.log_det_q0 = float(self.q0.log().sum())
        self.rhs_hat = torch.fft.rfftn(self.y, dim=self.dims) * self.otf.conj()  # F C^T D_m y
        self._normal_diag: torch.Tensor | None = None

    # -- Fourier helpers --------------------------------------------------------------------------
    def rfft(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfftn(x, dim=self.dims)

    def irfft(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfftn(x, s=self.shape, dim=self.dims)

    def precision_spectrum(self, gamma: float, alpha: float, fraction: float = 1.0):
        """:math:`\\gamma f |K(\\omega)|^2 + \\alpha Q_0(\\omega)` on the full grid."""
        return gamma * fraction * self.k2 + alpha * self.q0

    @property
    def normal_diagonal(self) -> torch.Tensor:
        """:math:`\\operatorname{diag}(C^\\top D_m C)` (computed once)."""
        if self._normal_diag is None:
            self._normal_diag = self.operator.normal_diagonal(
                None if self.fully_observed else self.operator.crop(self.mask)
            ).clamp_min(0.0)
        return self._normal_diag

    # -- the data term ----------------------------------------------------------------------------
    def residual_norm2(self, mean: torch.Tensor) -> float:
        """:math:`\\|M (y - A\\mu)\\|^2`."""
        blurred = self.operator.circulant(mean)
        return float(torch.sum((self.mask * (self.y - blurred)) ** 2))

    def prior_quadratic(self, mean: torch.Tensor) -> float:
        """:math:`\\mu^\\top Q_0 \\mu` (spectral, exact for any circulant :math:`Q_0`)."""
        spec = self.rfft(mean).abs() ** 2
        w = rfft_weights(self.shape, dtype=spec.dtype, device=spec.device)
        return float((w * self.q0_half * spec).sum() / self.n_latent)

    # -- solvers ----------------------------------------------------------------------------------
    def fourier_mean(self, gamma: float, alpha: float) -> torch.Tensor:
        """Exact :math:`\\mu` when :math:`\\Lambda` is circulant (every latent pixel observed)."""
        return self.irfft(gamma * self.rhs_hat / (gamma * self.k2_half + alpha * self.q0_half))

    def apply_precision(self, x: torch.Tensor, gamma: float, alpha: float) -> torch.Tensor:
        """:math:`\\Lambda x` with two forward and two inverse FFTs."""
        x_hat = self.rfft(x)
        blurred = self.irfft(x_hat * self.otf) * self.mask
        return self.irfft(gamma * self.rfft(blurred) * self.otf.conj() + alpha * self.q0_half * x_hat)

    def cg_mean(self, gamma: float, alpha: float, x0: torch.Tensor, *, rtol=1e-6, max_iter=500):
        """:math:`\\Lambda\\mu = b` by preconditioned CG, warm-started at ``x0``."""
        precond = 1.0 / (
            gamma * self.observed_fraction * self.k2_half + alpha * self.q0_half
        )
        b = gamma * self.irfft(self.rhs_hat)
        return conjugate_gradient(
            lambda v: self.apply_precision(v, gamma, alpha),
            b,
            x0,
            lambda r: self.irfft(self.rfft(r) * precond),
            rtol=rtol,
            max_iter=max_iter,
        )


class FourierPosterior:
    """:math:`q(x) = \\mathcal N(\\mu, \\Lambda^{-1})` with circulant :math:`\\Lambda`, kept in Fourier space.

    Every statistic IVB needs is a sum over the half spectrum, so an iteration costs no FFT:

    .. math::
        \\hat\\mu = \\frac{\\gamma \\bar K \\hat y}{\\Lambda}, \\quad
        \\mathbb E\\|y - Cx\\|^2 = \\tfrac1N \\sum_\\omega |\\hat y - K\\hat\\mu|^2
        + \\sum_\\omega \\frac{|K|^2}{\\Lambda}, \\quad
        \\mathbb E[x^\\top Q_0 x] = \\tfrac1N \\sum_\\omega Q_0 |\\hat\\mu|^2
        + \\sum_\\omega \\frac{Q_0}{\\Lambda},

    and :math:`H[q] = \\tfrac N2 (1 + \\log 2\\pi) - \\tfrac12 \\sum_\\omega \\log\\Lambda(\\omega)`.
    """

    def __init__(self, system: LinearGaussianSystem, gamma: float, alpha: float) -> None:
        s = system
        if not s.fully_observed:
            raise ValueError("the Fourier posterior needs every latent pixel observed")
        if not hasattr(s, "y_hat"):
            s.y_hat = s.rfft(s.y)
            s.weights = rfft_weights(s.shape, dtype=s.k2.dtype, device=s.k2.device)
        w, n = s.weights, s.n_latent
        self.system = s
        self.precision_half = gamma * s.k2_half + alpha * s.q0_half
        self.mean_hat = gamma * s.otf.conj() * s.y_hat / self.precision_half
        inv = w / self.precision_half
        self.residual_norm2 = float(
            (w * (s.y_hat - s.otf * self.mean_hat).abs() ** 2).sum() / n
            + (inv * s.k2_half).sum()
        )
        self.prior_quadratic = float(
            (w * s.q0_half * self.mean_hat.abs() ** 2).sum() / n + (inv * s.q0_half).sum()
        )
        self.marginal_variance = float(inv.sum() / n)
        self.log_det_precision = float((w * self.precision_half.log()).sum())

    @property
    def entropy(self) -> float:
        n = self.system.n_latent
        return 0.5 * n * (1 + math.log(2 * math.pi)) - 0.5 * self.log_det_precision

    @property
    def mean(self) -> torch.Tensor:
        return self.system.irfft(self.mean_hat)

    def colour(self, white: torch.Tensor) -> torch.Tensor:
        """Map white noise to a zero-mean draw with covariance :math:`\\Lambda^{-1}`."""
        s = self.system
        return s.irfft(s.rfft(white) * self.precision_half.rsqrt())
