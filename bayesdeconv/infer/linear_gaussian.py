"""Linear-Gaussian algebra of the conjugate non-blind model.

Given the noise precision :math:`\\gamma` and the prior precision :math:`\\alpha`, the posterior
of the latent image is Gaussian with precision and mean

.. math::
    \\Lambda = \\gamma\\, C^\\top D_m C + \\alpha Q_0, \\qquad
    \\Lambda \\mu = \\gamma\\, C^\\top D_m\\, S^\\top y,

where :math:`C` is the circulant blur on the latent grid,
:math:`D_m = \\operatorname{diag}(S^\\top m)`
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

from bayesdeconv.infer.linalg import batched_pcg, pcg
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import squared_modulus
from bayesdeconv.priors.stationary import rfft_weights

__all__ = ["FourierPosterior", "LinearGaussianSystem"]


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
        self.q0_diag = model.prior.diagonal(self.shape)
        self.log_det_q0 = model.prior.log_det(self.shape, dtype=op.dtype, device=op.device)
        self.y_hat = torch.fft.rfftn(self.y, dim=self.dims)
        self.rhs_hat = self.y_hat * self.otf.conj()  # F C^T D_m y
        self.weights = rfft_weights(self.shape, dtype=self.k2.dtype, device=self.k2.device)
        self._spectral_terms: dict[str, torch.Tensor] | None = None
        self._weights_ri: torch.Tensor | None = None
        self._normal_diag: torch.Tensor | None = None

    # -- Fourier helpers --------------------------------------------------------------------------
    def rfft(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfftn(x, dim=self.dims)

    def irfft(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfftn(x, s=self.shape, dim=self.dims)

    @property
    def spectral_terms(self) -> dict[str, torch.Tensor]:
        """Flattened weighted spectra reused by every Fourier-family sweep (computed once).

        ``w`` are the half-spectrum multiplicities, ``wk2 = w|K|²``, ``wq0 = wQ₀``, and with
        :math:`p = w|\\hat y|^2/N` (Parseval) ``yqq = p Q₀²`` and ``yqk = p Q₀ |K|²``.
        """
        if self._spectral_terms is None:
            w = self.weights.reshape(-1)
            k2, q0 = self.k2_half.reshape(-1), self.q0_half.reshape(-1)
            power = w * squared_modulus(self.y_hat).reshape(-1) / self.n_latent
            self._spectral_terms = {
                "w": w.contiguous(),
                "wk2": w * k2,
                "wq0": w * q0,
                "yqq": power * q0 * q0,
                "yqk": power * q0 * k2,
            }
        return self._spectral_terms

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
        spec = squared_modulus(self.rfft(mean))
        return float((self.weights * self.q0_half * spec).sum() / self.n_latent)

    # -- solvers ----------------------------------------------------------------------------------
    def fourier_mean(self, gamma: float, alpha: float) -> torch.Tensor:
        """Exact :math:`\\mu` when :math:`\\Lambda` is circulant (every latent pixel observed)."""
        return self.irfft(gamma * self.rhs_hat / (gamma * self.k2_half + alpha * self.q0_half))

    def _inner(self, a_hat: torch.Tensor, b_hat: torch.Tensor) -> float:
        """:math:`a^\\top b` of two real images from their half spectra (Parseval)."""
        if self._weights_ri is None:  # the weights for interleaved (real, imag) pairs
            w = self.weights / self.n_latent
            self._weights_ri = torch.stack([w, w], dim=-1).reshape(-1)
        a = torch.view_as_real(a_hat).reshape(-1)
        b = torch.view_as_real(b_hat).reshape(-1)
        return float(torch.dot(a * self._weights_ri, b))

    def cg_mean(
        self,
        gamma: float,
        alpha: float,
        x0: torch.Tensor,
        *,
        rtol: float = 1e-6,
        max_iter: int = 500,
    ) -> tuple[torch.Tensor, int]:
        """:math:`\\Lambda\\mu = b` by preconditioned CG, warm-started at ``x0``.

        See :meth:`solve`. Returns the solution (real space) and the CG iterations used.
        """
        return self.solve(gamma * self.rhs_hat, gamma, alpha, x0, rtol=rtol, max_iter=max_iter)

    def _half_spectrum_operator(self, gamma: float, alpha: float):
        """``(apply, precondition)`` on half spectra: :math:`\\Lambda v` (one FFT pair, for
        the mask; batched over leading axes) and the circulant preconditioner
        :math:`(\\gamma\\rho|K|^2 + \\alpha Q_0)^{-1}`."""
        inverse = 1.0 / (gamma * self.observed_fraction * self.k2_half + alpha * self.q0_half)
        back = gamma * self.otf.conj()  # F C^T, scaled
        ridge = alpha * self.q0_half

        def apply(v_hat: torch.Tensor) -> torch.Tensor:
            blurred = self.irfft(v_hat * self.otf).mul_(self.mask)
            return self.rfft(blurred).mul_(back).addcmul_(ridge, v_hat)

        return apply, lambda r_hat: inverse * r_hat

    def solve(
        self,
        b_hat: torch.Tensor,
        gamma: float,
        alpha: float,
        x0: torch.Tensor,
        *,
        rtol: float = 1e-6,
        max_iter: int = 500,
    ) -> tuple[torch.Tensor, int]:
        """Solve :math:`\\Lambda x = b` (``b_hat`` its half spectrum) by preconditioned CG.

        Every CG vector is kept as its half spectrum, so the preconditioner
        :math:`(\\gamma\\rho|K|^2 + \\alpha Q_0)^{-1}` and the inner products (Parseval) are
        elementwise, and an iteration costs a single FFT pair: the one that applies the mask.
        Each iterate lowers :math:`\\tfrac12 x^\\top\\Lambda x - b^\\top x`, so a warm-started,
        early-stopped solve still increases the ELBO (:func:`~bayesdeconv.infer.linalg.pcg`).
        Stops when
        :math:`\\|b - \\Lambda x\\| \\le \\text{rtol}\\,\\|b\\|`.

        Returns
        -------
        x : torch.Tensor
            The solution estimate (real space).
        iterations : int
            CG iterations used.
        """
        apply, precondition = self._half_spectrum_operator(gamma, alpha)
        if self._inner(b_hat, b_hat) == 0:
            return torch.zeros_like(x0), 0
        x_hat, iterations = pcg(
            apply,
            b_hat,
            self.rfft(x0),
            precondition,
            rtol=rtol,
            max_iter=max_iter,
            inner=self._inner,
            norm=lambda v_hat: self._inner(v_hat, v_hat) ** 0.5,
        )
        return self.irfft(x_hat), iterations

    def solve_batch(
        self,
        b_hat: torch.Tensor,
        gamma: float,
        alpha: float,
        x0_hat: torch.Tensor,
        *,
        rtol: float = 1e-6,
        max_iter: int = 500,
    ) -> tuple[torch.Tensor, int]:
        """:meth:`solve` for a batch of right-hand sides (leading axis), in half spectra.

        All systems share :math:`\\Lambda`, so one batched FFT pair applies it to every CG
        vector at once (:func:`~bayesdeconv.infer.linalg.batched_pcg`). ``x0_hat`` is the
        batch of starting points (half spectra). Returns the solutions (real space) and the
        iterations of the slowest system.
        """
        apply, precondition = self._half_spectrum_operator(gamma, alpha)
        weights = self.weights / self.n_latent
        dims = tuple(range(-len(self.shape), 0))

        def inner(a_hat: torch.Tensor, b_hat: torch.Tensor) -> torch.Tensor:
            product = a_hat.real * b_hat.real + a_hat.imag * b_hat.imag
            return (weights * product).sum(dim=dims, keepdim=True)

        x_hat, iterations = batched_pcg(
            apply,
            b_hat,
            x0_hat,
            precondition,
            rtol=rtol,
            max_iter=max_iter,
            inner=inner,
        )
        return self.irfft(x_hat), iterations


class FourierPosterior:
    """:math:`q(x) = \\mathcal N(\\mu, \\Sigma)` with a stationary (circulant) covariance.

    Within this family the ELBO is exact and closed-form even when :math:`\\Lambda` is not
    circulant (``valid`` boundary, holes): :math:`C\\Sigma C^\\top` has a constant diagonal,
    so
    :math:`\\operatorname{tr}(C^\\top D_m C \\Sigma) = \\rho \\sum_\\omega |K|^2 / \\lambda`
    with :math:`\\rho = N_{obs}/N` the observed fraction of the latent grid. Maximising the ELBO
    over the eigenvalues :math:`\\lambda(\\omega)` of :math:`\\Sigma^{-1}` gives

    .. math:: \\lambda(\\omega) = \\gamma \\rho |K(\\omega)|^2 + \\alpha Q_0(\\omega),

    the exact posterior precision when every latent pixel is observed (:math:`\\rho = 1`). The
    mean solves :math:`\\Lambda\\mu = b` with the true :math:`\\Lambda`: by one Fourier division
    when it is circulant, else by CG (pass ``mean``). The statistics IVB needs,

    .. math::
        \\mathbb E\\|M(y - Cx)\\|^2 = \\|M(y - C\\mu)\\|^2
        + \\rho \\sum_\\omega \\frac{|K|^2}{\\lambda}, \\quad
        \\mathbb E[x^\\top Q_0 x] = \\mu^\\top Q_0 \\mu + \\sum_\\omega \\frac{Q_0}{\\lambda},
        \\quad H[q] = \\tfrac N2 (1 + \\log 2\\pi) - \\tfrac12 \\sum_\\omega \\log\\lambda,

    are sums over the half spectrum; in the fully observed case even the residual is computed
    spectrally, so an iteration costs no FFT.
    """

    def __init__(
        self,
        system: LinearGaussianSystem,
        gamma: float,
        alpha: float,
        mean: torch.Tensor | None = None,
    ) -> None:
        s = system
        t = s.spectral_terms
        n, rho = s.n_latent, s.observed_fraction
        self.system = s
        self._gamma = gamma
        self._mean = None if s.fully_observed else mean
        self.precision_half = torch.add(s.k2_half, s.q0_half, alpha=alpha / (gamma * rho))
        self.precision_half.mul_(gamma * rho)
        inv = self.precision_half.reciprocal().reshape(-1)
        if s.fully_observed:
            # real arithmetic only: with Λ = γ|K|² + αQ₀, y - Cμ has spectrum (αQ₀/Λ) ŷ and
            # μ has spectrum γ K̄ ŷ / Λ, so both norms are weighted sums over |ŷ|²/Λ²
            inv2 = inv * inv
            residual = alpha**2 * float(torch.dot(t["yqq"], inv2))
            quadratic = gamma**2 * float(torch.dot(t["yqk"], inv2))
        else:
            if mean is None:
                raise ValueError("a partly observed latent grid needs the mean from CG")
            residual = s.residual_norm2(mean)
            quadratic = s.prior_quadratic(mean)
        self.residual_norm2 = residual + rho * float(torch.dot(t["wk2"], inv))
        self.prior_quadratic = quadratic + float(torch.dot(t["wq0"], inv))
        self.marginal_variance = float(torch.dot(t["w"], inv)) / n
        self.log_det_precision = float(torch.dot(t["w"], self.precision_half.log().reshape(-1)))

    @property
    def entropy(self) -> float:
        n = self.system.n_latent
        return 0.5 * n * (1 + math.log(2 * math.pi)) - 0.5 * self.log_det_precision

    @property
    def mean(self) -> torch.Tensor:
        """:math:`\\mu` on the latent grid (one inverse FFT in the fully observed case)."""
        if self._mean is not None:
            return self._mean
        s = self.system
        return s.irfft(self._gamma * s.rhs_hat / self.precision_half)

    def colour(self, white: torch.Tensor) -> torch.Tensor:
        """Map white noise to a zero-mean draw with covariance :math:`\\Sigma`."""
        s = self.system
        return s.irfft(s.rfft(white) * self.precision_half.rsqrt())
