"""IVB for sparse-gradient (ARD) image priors, with a known or an unknown PSF.

The variational family is

.. math::
    q(x)\\, q(w)\\, q(k)\\, q(\\beta)\\, q(\\gamma), \\qquad
    q(x) = \\prod_p \\mathcal N(\\mu_p, \\sigma_p^2), \\quad
    q(k) = \\mathcal N(\\mu_k, \\Sigma_k),

with Gamma factors for every precision: :math:`w` the per-difference image precisions,
:math:`\\beta` the per-value PSF precisions, :math:`\\gamma` the noise precision. :math:`\\Sigma_k`
is full or diagonal; :math:`\\mu_k` is restricted to the probability simplex (non-negative, unit
sum). A sweep updates the factors in turn, each to its optimum given the others:

* :math:`q(x)`: the mean solves :math:`\\Lambda\\mu = \\mathbb E\\gamma\\,\\mathbb E[K]^\\top M y`
  by Jacobi-preconditioned CG (warm-started, so every iteration raises the ELBO) with
  :math:`\\Lambda = \\mathbb E\\gamma\\,\\mathbb E[K^\\top M K] + \\sum_d D_d^\\top \\mathbb E[W_d]
  D_d + \\varepsilon I`; the variances are the mean-field optimum
  :math:`\\sigma_p^2 = 1/\\Lambda_{pp}`. Inside :math:`\\mathbb E[K^\\top M K] =
  \\bar K^\\top M \\bar K + \\sum_{jl} (\\Sigma_k)_{jl} T_j^\\top M T_l`
  (:math:`T_j` the shift by :math:`j`) the off-diagonal terms of a full :math:`\\Sigma_k`
  enter the mean solve as a convolution with the autocorrelation of :math:`\\Sigma_k`, exact
  inside the frame (``_Engine._cross_covariance_term``).
* :math:`q(w_{dp}) = \\mathrm{Gamma}(a + \\frac12, b + \\frac12\\mathbb E[(D_d x)_p^2])` with
  :math:`\\mathbb E[(D_d x)_p^2] = (D_d\\mu)_p^2 + \\sigma_p^2 + \\sigma_{p+e_d}^2`.
* :math:`q(k)`: with :math:`X` the matrix of shifted copies of :math:`\\mu` at the observed
  pixels, :math:`A = \\mathbb E\\gamma (X^\\top M X + \\operatorname{diag} v) +
  \\operatorname{diag}\\mathbb E\\beta`, :math:`v_j = \\sum_p m_p \\sigma^2_{p - j}` and
  :math:`b = \\mathbb E\\gamma X^\\top M y`, the optimum is :math:`\\Sigma_k = A^{-1}` (full) or
  :math:`\\operatorname{diag}(A)^{-1}` (diagonal) and :math:`\\mu_k = \\arg\\min_{\\Delta}
  \\tfrac12\\mu^\\top A\\mu - b^\\top\\mu`, a quadratic programme on the simplex solved by
  accelerated projected gradient. The variance term :math:`v` is what keeps variational Bayes
  away from the no-blur solution: it penalises :math:`\\|k\\|^2`, which a delta maximises [1]_.
* :math:`q(\\beta_j)`, :math:`q(\\gamma)`: Gamma updates with
  :math:`\\mathbb E k_j^2` and :math:`\\mathbb E\\|M(y - k \\circledast x)\\|^2`.

Blind estimation needs a good start, because the ELBO has many local optima (kernels that are
too compact, and the no-blur solution). By default (``psf_init="search"``) the start is the
kernel of a coarse-to-fine L0-gradient MAP search (:func:`~bayesdeconv.infer.kernel_search.
search_kernel`), and the sweeps run at full resolution only. The search is chaotic: small
changes of its settings move the kernel it finds. So it runs once per entry of
``SEARCH_SETTINGS``, each candidate :math:`\\hat k_c` is scored by the ELBO of the same model
with the PSF fixed at :math:`\\hat k_c` (a lower bound on :math:`\\log p(y \\mid \\hat k_c)`,
the marginal-likelihood criterion of [1]_, from a non-blind fit), and the best one starts
the sweeps. Its image prior is the model's; ``deconvolve`` gives blind runs the ``sparse``
prior with the broader gradient scale ``BLIND_SPARSE_SCALE`` (0.02 instead of 0.01), which
shrinks weak gradients less (Levin success 72 % -> 94 %, README).
``psf_init="pyramid"`` runs the
variational sweeps themselves coarse to fine: the image and mask are downsampled
(anti-aliased) by factors of :math:`\\sqrt2` until the PSF support is 3 pixels; the PSF found
at each level is magnified by the image's factor, re-centred on its centroid and starts the
next level. On the Levin 2009 benchmark the search start is much the better (README). With a
known PSF the first sweeps anneal the Gamma rate of :math:`q(w)` (continuation, see
:func:`fit_sparse_ivb`). At the finest level the ELBO is tracked every sweep and, after any
continuation sweeps, never decreases (``Result.elbo``).

References
----------
.. [1] A. Levin, Y. Weiss, F. Durand, W. T. Freeman, "Efficient marginal likelihood optimization
   in blind deconvolution", CVPR 2011.
.. [2] S. D. Babacan, R. Molina, M. N. Do, A. K. Katsaggelos, "Bayesian blind deconvolution with
   general sparse image priors", ECCV 2012.
.. [3] R. Molina, J. Mateos, A. K. Katsaggelos, "Blind deconvolution using a variational
   approach to parameter, image, and blur estimation", IEEE TIP 15(12), 2006.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from bayesdeconv import sites
from bayesdeconv.infer._common import (
    as_observed,
    estimate_noise_std,
    initial_image,
    mean_field_drawer,
    to_numpy,
)
from bayesdeconv.infer.init import SEARCH_SETTINGS, kernel_search_start
from bayesdeconv.infer.linalg import jacobi_pcg
from bayesdeconv.infer.result import PointValue, Result
from bayesdeconv.infer.vadam_optimizer import Vadam
from bayesdeconv.likelihoods.base import ConjugateGaussianLikelihood
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator, psf_to_otf
from bayesdeconv.priors.base import GaussianScaleMixturePrior
from bayesdeconv.priors.hyper import start_value
from bayesdeconv.psf_priors.base import ConjugateGaussianPSFPrior

__all__ = [
    "PSF_COVARIANCES",
    "PSF_INITS",
    "PSF_UPDATES",
    "SEARCH_SETTINGS",
    "fit_sparse_ivb",
    "search_start",
    "unsupported_reason",
]

PSF_COVARIANCES = ("full", "diagonal")
PSF_INITS = ("search", "pyramid")
PSF_UPDATES = ("closed-form", "elbo", "vadam")
_LOG_2PI = math.log(2 * math.pi)


def _correlate_window(a: torch.Tensor, b: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """:math:`c_j = \\sum_p a_p b_{p - j}` for the PSF offsets :math:`j = i - s//2`,
    returned on the PSF grid (circular on the latent grid)."""
    dims = tuple(range(-len(size), 0))
    spec = torch.fft.rfftn(a, dim=dims) * torch.fft.rfftn(b, dim=dims).conj()
    corr = torch.fft.irfftn(spec, s=a.shape, dim=dims)
    corr = torch.roll(corr, shifts=tuple(s // 2 for s in size), dims=dims)
    return corr[tuple(slice(0, s) for s in size)]


def _shifted_gram(x: torch.Tensor, mask: torch.Tensor, size: tuple[int, ...], block: int = 24):
    """:math:`G_{jl} = \\sum_p m_p\\, x_{p-j}\\, x_{p-l}` over the PSF offsets (2-D).

    A rectangular ``mask`` (a ``valid`` or periodic boundary without missing pixels) takes
    :func:`_rectangle_gram`. Otherwise patches of the circularly padded image are gathered
    row block by row block at the observed pixels only, so memory stays at
    ``block * width * numel(size)`` values.
    """
    box = _bounding_box(mask)
    if box is not None:
        return _rectangle_gram(x, box, size)
    s0, s1 = size
    padded = _padded(x, size)
    n = s0 * s1
    gram = x.new_zeros(n, n)
    rows = torch.nonzero(mask.any(1)).flatten()
    first, last = int(rows[0]), int(rows[-1]) + 1
    for r0 in range(first, last, block):
        r1 = min(r0 + block, last)
        selected = mask[r0:r1].reshape(-1)
        if not bool(selected.any()):
            continue
        patches = F.unfold(padded[None, None, r0 : r1 + s0 - 1], (s0, s1))[0][:, selected]
        gram += patches @ patches.T
    # patch element i holds x_{p - j} for the PSF index n - 1 - i (both axes reversed)
    return gram.flip(0, 1)


def _padded(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """``x`` padded circularly so that ``padded[p + i] = x[p - j]`` for the PSF index ``j``
    and the reversed index ``i = size - 1 - (j + size // 2)`` (both axes)."""
    (s0, s1), (c0, c1) = size, (size[0] // 2, size[1] // 2)
    return F.pad(x[None, None], (s1 - 1 - c1, c1, s0 - 1 - c0, c0), mode="circular")[0, 0]


def _bounding_box(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """``(r0, r1, c0, c1)`` if ``mask`` is exactly the rectangle ``[r0, r1) x [c0, c1)``."""
    rows = torch.nonzero(mask.any(1)).flatten()
    cols = torch.nonzero(mask.any(0)).flatten()
    if rows.numel() == 0:
        return None
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if int(mask.sum()) != (r1 - r0) * (c1 - c0):
        return None
    return r0, r1, c0, c1


def _rectangle_gram(x: torch.Tensor, box: tuple[int, int, int, int], size: tuple[int, ...]):
    """The Gram matrix of :func:`_shifted_gram` for the mask ``[r0, r1) x [c0, c1)``.

    With the padded image :math:`X` (:func:`_padded`) cut to the rows and columns the
    rectangle's :math:`H \\times W` pixels reach, and reversed PSF indices
    :math:`i = (i_0, i_1)`, :math:`G'_{ik} = \\sum_{u_0 < H,\\, u_1 < W} X_{u+i} X_{u+k}`.
    Summing over the rows first gives, per column :math:`c` of :math:`X` and column lag
    :math:`\\delta = k_1 - i_1 \\ge 0`, the :math:`s_0 \\times s_0` products
    :math:`D_\\delta[c] = U_c^\\top U_{c+\\delta}` with :math:`(U_c)_{u_0 i_0} = X_{u_0+i_0,\\,c}`
    (one batched matrix product per lag). The block :math:`(i_1, k_1)` of :math:`G'` is
    :math:`\\sum_{u_1 < W} D_\\delta[i_1 + u_1]`, a difference of cumulative sums. That is
    :math:`s_1 (W + s_1 - 1) s_0^2 H` multiply-adds instead of the :math:`(s_0 s_1)^2 H W` of
    the patch product, about :math:`s_1` times fewer.
    """
    r0, r1, c0, c1 = box
    s0, s1 = size
    height, width = r1 - r0, c1 - c0
    padded = _padded(x, size)[r0 : r1 + s0 - 1, c0 : c1 + s1 - 1]
    columns = padded.unfold(0, height, 1).permute(1, 0, 2).contiguous()  # (Wp, s0, H): U_c
    n_cols = columns.shape[0]
    gram = x.new_zeros(s0, s1, s0, s1)
    for lag in range(s1):
        products = torch.bmm(columns[: n_cols - lag], columns[lag:].transpose(1, 2))
        cumulative = F.pad(products.cumsum(0), (0, 0, 0, 0, 1, 0))
        i1 = torch.arange(s1 - lag, device=x.device)
        block = cumulative[i1 + width] - cumulative[i1]  # (s1 - lag, s0, s0)
        gram[:, i1, :, i1 + lag] = block
        gram[:, i1 + lag, :, i1] = block.transpose(1, 2)
    n = s0 * s1
    return gram.reshape(n, n).flip(0, 1)


@dataclass
class _Level:
    """One scale: operator, data and fixed tensors."""

    operator: ConvolutionOperator
    y_latent: torch.Tensor  # observations embedded on the latent grid (0 elsewhere)
    mask: torch.Tensor  # latent mask, float
    n_observed: int
    sum_y2: float


def _make_level(operator: ConvolutionOperator, y: torch.Tensor, mask: torch.Tensor | None):
    latent_mask = operator.latent_mask(mask)
    y_lat = operator.embed(y) * latent_mask
    return _Level(
        operator=operator,
        y_latent=y_lat,
        mask=latent_mask,
        n_observed=int(latent_mask.sum()),
        sum_y2=float((y_lat**2).sum()),
    )


@dataclass
class _State:
    mean: torch.Tensor
    variance: torch.Tensor
    w_mean: torch.Tensor
    w_rate: torch.Tensor
    psf: torch.Tensor  # mu_k on the PSF grid
    psf_cov: torch.Tensor  # (n, n) full or (n,) diagonal
    beta_mean: torch.Tensor
    beta_rate: torch.Tensor
    e_gamma: float
    e_log_gamma: float
    q_gamma: object = None
    elbo: float = float("nan")
    cg_iterations: int = 0


def _gamma_array_terms(a0: float, b0: float, shape: float, rate: torch.Tensor) -> float:
    """:math:`\\sum(\\mathbb E\\log p(\\theta) + H[q(\\theta)])` for Gamma(shape, rate) factors
    under a Gamma(a0, b0) prior, summed over an array of rates."""
    digamma = float(torch.special.digamma(torch.tensor(shape)))
    e_log = digamma - rate.log()
    e = shape / rate
    log_p = a0 * math.log(b0) - math.lgamma(a0) + (a0 - 1) * e_log - b0 * e
    entropy = shape - rate.log() + math.lgamma(shape) + (1 - shape) * digamma
    return float((log_p + entropy).sum())


class _Engine:
    """Sweeps of the coordinate ascent at one scale (see the module documentation)."""

    def __init__(
        self,
        model: DeconvolutionModel,
        level: _Level,
        *,
        learn_psf: bool,
        psf_covariance: str,
        psf_update: str,
        psf_samples: int,
        psf_steps: int,
        psf_lr: float,
        cg_rtol: float,
        cg_max_iter: int,
        qp_iter: int,
        generator: torch.Generator,
        prior_rates: tuple[float, ...] = (),
    ) -> None:
        self.model, self.level = model, level
        self.prior: GaussianScaleMixturePrior = model.prior
        self.ndim = model.ndim
        self.learn_psf = learn_psf
        self.psf_covariance, self.psf_update = psf_covariance, psf_update
        self.psf_samples, self.psf_steps, self.psf_lr = psf_samples, psf_steps, psf_lr
        self.cg_rtol, self.cg_max_iter, self.qp_iter = cg_rtol, cg_max_iter, qp_iter
        self.generator = generator
        self.noise_spec = model.noise.precision
        self.psf_prior = model.psf_prior
        self.size = tuple(level.operator.psf.shape)
        self.prior_rates, self.sweeps_done = prior_rates, 0
        self._vadam: Vadam | None = None
        self._vadam_mean: torch.Tensor | None = None

    # -- helpers ---------------------------------------------------------------------------
    def _otf(self, psf: torch.Tensor) -> torch.Tensor:
        return psf_to_otf(psf, self.level.operator.latent_shape)

    def _psf_diag(self, state: _State) -> torch.Tensor:
        cov = state.psf_cov
        diag = torch.diagonal(cov) if cov.ndim == 2 else cov
        return diag.reshape(self.size)

    # -- factor updates --------------------------------------------------------------------
    def update_image(self, state: _State) -> None:
        op, lv, prior = self.level.operator, self.level, self.prior
        gamma, eps = state.e_gamma, prior.epsilon
        otf = self._otf(state.psf)
        psf_var = self._psf_diag(state)
        cov_diag = op.circulant_adjoint(lv.mask, self._otf(psf_var))
        data_diag = op.circulant_adjoint(lv.mask, self._otf(state.psf**2 + psf_var))
        w = state.w_mean
        cross_term = self._cross_covariance_term(state, cov_diag)

        def apply(v: torch.Tensor) -> torch.Tensor:
            blurred = op.circulant(v, otf) * lv.mask
            data = op.circulant_adjoint(blurred, otf) + cov_diag * v
            if cross_term is not None:
                data = data + cross_term(v)
            smooth = prior.features_adjoint(w * prior.features(v, self.ndim), self.ndim)
            return gamma * data + smooth + eps * v

        diag = gamma * data_diag + prior.feature_diagonal(w, self.ndim) + eps
        rhs = gamma * op.circulant_adjoint(lv.y_latent, otf)
        state.mean, state.cg_iterations = jacobi_pcg(
            apply, rhs, state.mean, diag, self.cg_rtol, self.cg_max_iter
        )
        state.variance = 1.0 / diag

    def _cross_covariance_term(self, state: _State, cov_diag: torch.Tensor):
        """The off-diagonal PSF covariance in :math:`\\mathbb E[K^\\top M K]`, or ``None``.

        :math:`\\sum_{j \\ne l} (\\Sigma_k)_{jl} T_j^\\top M T_l` is a convolution with the
        autocorrelation of :math:`\\Sigma_k` where the mask is 1; it is applied as
        :math:`R^{1/2} C_\\Sigma R^{1/2}` with :math:`R` the observed share of each pixel's
        blur footprint (1 inside the image, 0 far outside), which keeps it symmetric.
        """
        cov = state.psf_cov
        if cov.ndim != 2:
            return None
        size = self.size
        grids = torch.meshgrid(*[torch.arange(s, device=cov.device) for s in size], indexing="ij")
        flat = [g.reshape(-1) for g in grids]
        index = 0
        for axis, s in enumerate(size):
            diff = flat[axis][:, None] - flat[axis][None, :] + (s - 1)
            index = index * (2 * s - 1) + diff
        off = cov - torch.diag(torch.diagonal(cov))
        kernel = torch.zeros(math.prod(2 * s - 1 for s in size), dtype=cov.dtype, device=cov.device)
        kernel.index_add_(0, index.reshape(-1), off.reshape(-1))
        kernel = kernel.reshape(tuple(2 * s - 1 for s in size))
        otf = self._otf(kernel)
        weight = (cov_diag / torch.diagonal(cov).sum()).clamp(min=0).sqrt()
        op = self.level.operator
        return lambda v: weight * op.circulant(weight * v, otf)

    def _second_moments(self, state: _State) -> torch.Tensor:
        return self.prior.second_moments(state.mean, state.variance, self.ndim)

    def update_precisions(self, state: _State) -> None:
        t = self.sweeps_done
        rate = self.prior_rates[t] if t < len(self.prior_rates) else None
        state.w_mean, state.w_rate = self.prior.expected_precision(
            self._second_moments(state), rate
        )

    def psf_statistics(self, state: _State) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gram :math:`X^\\top M X`, :math:`X^\\top M y` and :math:`v` for the current q(x)."""
        lv = self.level
        gram = _shifted_gram(state.mean, lv.mask > 0.5, self.size)
        cross = _correlate_window(lv.y_latent, state.mean, self.size).reshape(-1)
        var = _correlate_window(lv.mask, state.variance, self.size).reshape(-1)
        return gram, cross, var

    def update_psf(self, state: _State, stats) -> None:
        gram, cross, var = stats
        gamma = state.e_gamma
        a = gamma * gram
        a.diagonal().add_(gamma * var + state.beta_mean.reshape(-1))
        b = gamma * cross
        start = state.psf.reshape(-1)
        if self.psf_update == "closed-form":
            mu = self.psf_prior.minimise_quadratic(a, b, start, self.qp_iter)
            if self.psf_covariance == "full":
                cov = torch.cholesky_inverse(torch.linalg.cholesky(a))
            else:
                cov = 1.0 / torch.diagonal(a)
        elif self.psf_update == "vadam":
            mu, cov = self._vadam_psf(a, b, state)
        else:
            mu, cov = self._gradient_psf(a, b, state)
        state.psf = mu.reshape(self.size)
        state.psf_cov = cov
        second = state.psf**2 + self._psf_diag(state)
        state.beta_mean, state.beta_rate = self.psf_prior.expected_precision(second)

    def _gradient_psf(self, a: torch.Tensor, b: torch.Tensor, state: _State):
        """q(k) by the reparameterised ELBO (Adam), mean kept on the simplex.

        The PSF part of the ELBO is :math:`\\mathbb E_q[f(k)] + H[q(k)]` with
        :math:`f(k) = -\\frac12 k^\\top A k + b^\\top k`; its gradient is estimated from
        ``psf_samples`` draws :math:`k = \\mu_k + L\\epsilon`.
        """
        n = b.numel()
        mu = state.psf.reshape(-1).clone().requires_grad_(True)
        cov = state.psf_cov

        def negative_f(k: torch.Tensor) -> torch.Tensor:
            return (0.5 * (k @ a * k).sum(-1) - k @ b).mean()

        if self.psf_covariance == "full":
            full = cov if cov.ndim == 2 else torch.diag(cov)
            chol = torch.linalg.cholesky(full)
            log_diag = chol.diagonal().log().clone().requires_grad_(True)
            lower = torch.tril(chol, -1).clone().requires_grad_(True)
            params = [mu, log_diag, lower]
        else:
            diag = torch.diagonal(cov) if cov.ndim == 2 else cov
            log_diag = (0.5 * diag.log()).clone().requires_grad_(True)
            lower = None
            params = [mu, log_diag]
        opt = torch.optim.Adam(params, lr=self.psf_lr)
        for _ in range(self.psf_steps):
            opt.zero_grad()
            eps = torch.randn(
                self.psf_samples, n, dtype=b.dtype, device=b.device, generator=self.generator
            )
            if lower is None:
                k = mu + eps * log_diag.exp()
            else:
                scale = torch.tril(lower, -1) + torch.diag(log_diag.exp())
                k = mu + eps @ scale.T
            loss = negative_f(k) - log_diag.sum()
            loss.backward()
            opt.step()
            with torch.no_grad():
                mu.copy_(self.psf_prior.project(mu))
        with torch.no_grad():
            if lower is None:
                return mu.detach(), (2 * log_diag).exp().detach()
            scale = torch.tril(lower, -1) + torch.diag(log_diag.exp())
            return mu.detach(), (scale @ scale.T).detach()

    def _vadam_psf(self, a: torch.Tensor, b: torch.Tensor, state: _State):
        """``psf_steps`` Vadam steps on :math:`-f(k)`, mean projected onto the simplex.

        One optimizer runs through all the sweeps of a scale, so its moments and step count
        carry over between the IVB updates of the other factors. It starts from the curvature
        :math:`\\operatorname{diag} A`, the mean-field precision that Vadam's fixed point
        reaches for a diagonal :math:`A` (see
        :func:`~bayesdeconv.infer.vadam.vadam_fixed_point_precision`).
        Returns the mean and the diagonal covariance :math:`1 / (N s + \\lambda)`.
        """
        if self._vadam is None:
            self._vadam_mean = state.psf.reshape(-1).clone()
            self._vadam = Vadam(
                [self._vadam_mean],
                lr=self.psf_lr,
                num_data=1.0,
                prior_precision=0.0,
                init_precision=torch.diagonal(a),
                num_samples=self.psf_samples,
            )
        mu, opt = self._vadam_mean, self._vadam

        def closure() -> torch.Tensor:
            mu.grad = None
            loss = 0.5 * mu @ a @ mu - mu @ b
            loss.backward()
            return loss

        for _ in range(self.psf_steps):
            mu.requires_grad_(True)
            opt.step(closure)
            with torch.no_grad():
                mu.copy_(self.psf_prior.project(mu))
        return mu.detach().clone(), 1.0 / opt.precision(mu).detach()

    # -- ELBO ------------------------------------------------------------------------------
    def expected_residual(self, state: _State, stats=None) -> float:
        """:math:`\\mathbb E\\|M(y - k \\circledast x)\\|^2` under q(x) q(k)."""
        lv = self.level
        if stats is not None:
            gram, cross, var = stats
            mu = state.psf.reshape(-1)
            cov = state.psf_cov
            second = torch.outer(mu, mu) + (cov if cov.ndim == 2 else torch.diag(cov))
            quad = float((gram * second).sum()) + float(var @ torch.diagonal(second))
            return lv.sum_y2 - 2 * float(cross @ mu) + quad
        op = lv.operator
        resid = (lv.y_latent - op.circulant(state.mean, self._otf(state.psf))) * lv.mask
        spread = op.circulant(state.variance, self._otf(state.psf**2 + self._psf_diag(state)))
        return float((resid**2).sum()) + float((spread * lv.mask).sum())

    def update_noise(self, state: _State, residual: float) -> None:
        if self.noise_spec.learned:
            q = self.noise_spec.posterior(self.level.n_observed, residual)
            state.q_gamma, state.e_gamma, state.e_log_gamma = q, q.mean, q.mean_log

    def elbo(self, state: _State, residual: float) -> float:
        prior = self.prior
        n_obs, n_lat = self.level.n_observed, state.mean.numel()
        value = 0.5 * n_obs * (state.e_log_gamma - _LOG_2PI) - 0.5 * state.e_gamma * residual
        # image prior with explicit difference precisions, and the ridge
        shape_w = prior.shape + 0.5
        e_log_w = float(torch.special.digamma(torch.tensor(shape_w))) - state.w_rate.log()
        moments = self._second_moments(state)
        value += float((0.5 * e_log_w - 0.5 * _LOG_2PI - 0.5 * state.w_mean * moments).sum())
        value += _gamma_array_terms(prior.shape, prior.rate, shape_w, state.w_rate)
        eps = prior.epsilon
        value += 0.5 * n_lat * (math.log(eps) - _LOG_2PI)
        value -= 0.5 * eps * float((state.mean**2).sum() + state.variance.sum())
        value += 0.5 * n_lat * (1 + _LOG_2PI) + 0.5 * float(state.variance.log().sum())
        if self.learn_psf:
            pp = self.psf_prior
            shape_b = pp.shape + 0.5
            e_log_b = float(torch.special.digamma(torch.tensor(shape_b))) - state.beta_rate.log()
            second = state.psf**2 + self._psf_diag(state)
            value += float((0.5 * e_log_b - 0.5 * _LOG_2PI - 0.5 * state.beta_mean * second).sum())
            value += _gamma_array_terms(pp.shape, pp.rate, shape_b, state.beta_rate)
            cov = state.psf_cov
            n = state.psf.numel()
            if cov.ndim == 2:
                logdet = 2 * float(torch.linalg.cholesky(cov).diagonal().log().sum())
            else:
                logdet = float(cov.log().sum())
            value += 0.5 * n * (1 + _LOG_2PI) + 0.5 * logdet
        if state.q_gamma is not None:
            q = state.q_gamma
            value += self.noise_spec.expected_log_density(q) + q.entropy
        if not math.isfinite(value):
            raise FloatingPointError("IVB produced a non-finite ELBO; check the image scale")
        return value

    def sweep(self, state: _State) -> None:
        self.update_image(state)
        self.update_precisions(state)
        stats = None
        if self.learn_psf:
            stats = self.psf_statistics(state)
            self.update_psf(state, stats)
        residual = self.expected_residual(state, stats)
        self.update_noise(state, residual)
        state.elbo = self.elbo(state, residual)
        self.sweeps_done += 1


def _initial_psf(size: tuple[int, ...], dtype, device) -> torch.Tensor:
    """A small centred Gaussian (std 0.6 px): close to no blur, but not a delta."""
    grids = torch.meshgrid(
        *[torch.arange(s, dtype=dtype, device=device) - s // 2 for s in size], indexing="ij"
    )
    psf = torch.exp(-sum(g**2 for g in grids) / (2 * 0.6**2))
    return psf / psf.sum()


def _start_psf(value, psf_prior, dtype, device) -> torch.Tensor:
    """A user's starting PSF: checked, then made feasible by the PSF prior's projection."""
    size = tuple(psf_prior.size)
    psf = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype, device=device)
    if tuple(psf.shape) != size:
        raise ValueError(f"psf_init has shape {tuple(psf.shape)}; the PSF support is {size}")
    if not torch.isfinite(psf).all():
        raise ValueError("psf_init contains NaN or Inf values")
    return psf_prior.project(psf)


def unsupported_reason(model: DeconvolutionModel) -> str | None:
    """Why :func:`fit_sparse_ivb` cannot fit ``model``, or ``None`` when it can."""
    if not isinstance(model.prior, GaussianScaleMixturePrior):
        return (
            "sparse IVB needs a Gaussian scale-mixture image prior (prior='piecewise' or "
            f"'sparse'), got {type(model.prior).__name__}"
        )
    if not isinstance(model.noise, ConjugateGaussianLikelihood):
        return (
            f"IVB needs Gaussian noise, got {type(model.noise).__name__}; use method='svi' "
            "for Poisson data"
        )
    if model.blind and not isinstance(model.psf_prior, ConjugateGaussianPSFPrior):
        name = type(model.psf_prior).__name__
        return f"blind IVB needs a conjugate Gaussian PSF prior, got {name}"
    if model.blind and model.ndim != 2:
        return "blind deconvolution supports 2-D images only"
    return None


def elbo_score(model: DeconvolutionModel, y: torch.Tensor) -> float:
    """The final ELBO of :func:`fit_sparse_ivb` on a non-blind ``model``: a lower bound on
    :math:`\\log p(y \\mid k)`, the marginal-likelihood criterion of Levin et al. (2011) by
    which :func:`search_start` ranks candidate kernels."""
    return float(fit_sparse_ivb(model, y, progress=False).elbo[-1])


def search_start(
    model: DeconvolutionModel, observed, *, refine: bool = False, progress: bool = False
) -> tuple[np.ndarray, list[dict]]:
    """The start of a blind fit: the best of several kernel searches by the non-blind ELBO.

    :func:`~bayesdeconv.infer.init.kernel_search_start` with the ``SEARCH_SETTINGS`` and
    :func:`elbo_score` when sparse IVB supports ``model`` (Gaussian noise, a Gaussian
    scale-mixture prior); for any other model the search runs once, unscored. The candidates
    skip the search's low-:math:`\\lambda` refinement phase; ``refine`` refines the winner
    (off by default: decision record in ``docs/decisions/``).

    Returns
    -------
    kernel : numpy.ndarray
        The winning kernel (non-negative, unit sum, the PSF support's shape).
    candidates : list of dict
        Per search: ``settings``, ``elbo`` (NaN when not scored) and ``psf`` (unrefined).
    """
    if not model.blind or model.ndim != 2:
        raise ValueError("search_start needs a blind model of a 2-D image")
    score = elbo_score if unsupported_reason(model) is None else None
    kernel, candidates = kernel_search_start(
        model, observed, score=score, refine=refine, progress=progress
    )
    for candidate in candidates:
        candidate["elbo"] = candidate.pop("score")
    return kernel, candidates


def _downsample(image: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Anti-aliased bilinear resampling of a 2-D image to ``shape``."""
    out = F.interpolate(
        image[None, None], size=shape, mode="bilinear", align_corners=False, antialias=True
    )
    return out[0, 0]


def _rescale_psf(
    psf: torch.Tensor, factors: tuple[float, ...], size: tuple[int, ...]
) -> torch.Tensor:
    """The PSF magnified by ``factors`` about its centre, :math:`p'(u) \\propto p(u / f)`,
    sampled bilinearly on a centred support of ``size`` and renormalised (2-D).

    Between pyramid levels the blur scales with the image, not with the PSF support (whose
    sizes are rounded to odd integers), so the magnification is the image's.
    """
    old = psf.shape
    axes = [
        (torch.arange(n, dtype=psf.dtype, device=psf.device) - n // 2) / f + o // 2
        for n, f, o in zip(size, factors, old, strict=True)
    ]
    rows, cols = torch.meshgrid(*axes, indexing="ij")
    grid = torch.stack([2 * cols / (old[1] - 1) - 1, 2 * rows / (old[0] - 1) - 1], dim=-1)
    out = F.grid_sample(
        psf[None, None], grid[None], mode="bilinear", padding_mode="zeros", align_corners=True
    )[0, 0].clamp(min=0)
    return out / out.sum()


def _recentre(psf: torch.Tensor) -> torch.Tensor:
    """Shift a PSF by whole pixels so its centroid is nearest the centre of its support."""
    grids = torch.meshgrid(
        *[torch.arange(s, dtype=psf.dtype, device=psf.device) for s in psf.shape], indexing="ij"
    )
    total = psf.sum()
    shifts = [
        int(round(float((g * psf).sum() / total))) - s // 2
        for g, s in zip(grids, psf.shape, strict=True)
    ]
    out = psf
    for axis, shift in enumerate(shifts):
        if shift:
            out = torch.roll(out, -shift, dims=axis)
            index = [slice(None)] * psf.ndim
            index[axis] = slice(-shift, None) if shift > 0 else slice(0, -shift)
            out[tuple(index)] = 0
    return out / out.sum()


def _pyramid(shape: tuple[int, ...], size: tuple[int, ...], min_size: int = 3):
    """(image shape, PSF size) per level, coarse to fine, in steps of sqrt(2)."""
    levels = []
    factor = 1.0
    while True:
        psf = tuple(max(min_size, 2 * int(round(s * factor / 2 - 0.5)) + 1) for s in size)
        img = tuple(max(2 * p, int(round(n * factor))) for n, p in zip(shape, psf, strict=True))
        levels.append((img, psf))
        if all(p <= min_size for p in psf):
            break
        factor /= math.sqrt(2)
    return levels[::-1]


def fit_sparse_ivb(
    model: DeconvolutionModel,
    observed,
    *,
    max_iter: int = 30,
    sweeps_per_scale: int = 10,
    psf_init: str | np.ndarray = "search",
    tol: float = 1e-5,
    psf_covariance: str = "full",
    psf_update: str = "closed-form",
    psf_samples: int = 1,
    psf_steps: int = 20,
    psf_lr: float = 3e-3,
    cg_rtol: float = 1e-4,
    cg_max_iter: int = 100,
    qp_iter: int = 300,
    anneal: bool | None = None,
    anneal_start: float = 1e-2,
    anneal_factor: float = 0.5,
    seed: int | None = 0,
    callback: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> Result:
    """Variational Bayes for a sparse-gradient (ARD) prior; blind when the model's PSF is unknown.

    See the module documentation for the updates and the ELBO.

    Parameters
    ----------
    model : DeconvolutionModel
        Gaussian noise, a :class:`~bayesdeconv.priors.GradientARDPrior` image prior, and either a
        known PSF or a ``psf_prior`` (blind; 2-D images).
    observed : array_like
        The observed image.
    max_iter : int
        Sweeps at the finest scale (the only scale for a known PSF), after the continuation
        sweeps if ``anneal``.
    sweeps_per_scale : int
        Sweeps at each coarser scale (blind, ``psf_init="pyramid"``).
    psf_init : {"search", "pyramid"}, array_like or init strategy
        Blind only: where q(k)'s mean starts. ``"search"`` (default): the best of the
        :func:`~bayesdeconv.infer.kernel_search.search_kernel` kernels found with each entry of
        ``SEARCH_SETTINGS``, by the non-blind ELBO (module documentation), then sweeps at full
        resolution; ``"pyramid"``: variational sweeps coarse to fine from a narrow Gaussian
        (see the module documentation); an array of the PSF's shape: that kernel (projected
        onto the simplex), sweeps at full resolution; an init strategy of
        :mod:`bayesdeconv.infer.init` (e.g. ``init_to_kernel_search(score=elbo_score,
        refine=True)``): its kernel, sweeps at full resolution.
    tol : float
        Stop the finest scale when the ELBO's relative change falls below ``tol``.
    psf_covariance : {"full", "diagonal"}
        Family of :math:`\\Sigma_k`.
    psf_update : {"closed-form", "elbo", "vadam"}
        How q(k) is updated: the closed-form optimum (IVB), ``psf_steps`` Adam steps on the
        reparameterised ELBO with ``psf_samples`` draws per step (IVB + gradient PSF), or
        ``psf_steps`` Vadam steps per sweep, one optimizer carried through the sweeps of a
        scale (diagonal :math:`\\Sigma_k` from Vadam's precision).
    psf_samples, psf_steps, psf_lr
        Settings of the gradient-based PSF updates (draws per step, steps per sweep, step
        size; 3e-3 suits PSF entries of order 0.01-0.1).
    cg_rtol, cg_max_iter
        The image-mean CG per sweep (warm-started).
    qp_iter : int
        Accelerated projected-gradient iterations for the simplex-constrained PSF mean.
    anneal : bool, optional
        Continuation (graduated non-convexity) at the finest scale: the first sweeps replace
        the Gamma rate :math:`b` of :math:`q(w)` by ``anneal_start * anneal_factor**t`` until
        that falls below :math:`b`, i.e. they start from a smooth, nearly convex prior and
        sharpen it. Coordinate ascent on the near-log prior otherwise stalls on the blurred
        ramps it starts from; with it the final ELBO (same model) is higher and the image
        sharper (about 7 dB on the piecewise test image of ``tests/test_blind.py``). Default:
        on for a known PSF, off for blind runs, where the smooth early prior pulls the PSF
        towards no blur. ``Result.info["anneal_sweeps"]`` counts these sweeps; the ELBO is
        monotone after them.
    anneal_start, anneal_factor
        The continuation schedule (``anneal_start`` on the [0, 1] intensity scale of the
        prior presets).
    seed : int, optional
        Seeds the gradient-based PSF updates.
    callback : callable, optional
        Called after every sweep with a dict: ``level``, ``sweep``, ``mean`` (frame),
        ``psf``, ``elbo``.
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    Result
        ``method="ivb"``. ``psf``/``psf_std`` hold q(k)'s mean (on the simplex) and marginal
        std; ``std`` the mean-field image std; ``elbo`` the finest scale's trace; ``info`` has
        the per-scale traces, the PSF covariance and the learned noise level; for a blind fit
        also ``psf_init``, ``psf_start`` and, after a search, ``psf_search`` (each candidate's
        ``settings``, ``elbo`` and ``psf``) and ``psf_search_seconds``.
    """
    if psf_covariance not in PSF_COVARIANCES:
        raise ValueError(f"psf_covariance must be one of {PSF_COVARIANCES}, got {psf_covariance!r}")
    if psf_update not in PSF_UPDATES:
        raise ValueError(f"psf_update must be one of {PSF_UPDATES}, got {psf_update!r}")
    if psf_update == "vadam" and psf_covariance == "full":
        raise ValueError("Vadam gives a diagonal PSF covariance; use psf_covariance='diagonal'")
    reason = unsupported_reason(model)
    if reason is not None:
        raise ValueError(reason)
    if max_iter < 1 or sweeps_per_scale < 0:
        raise ValueError("max_iter must be at least 1 and sweeps_per_scale non-negative")
    if not (anneal_start > 0 and 0 < anneal_factor < 1):
        raise ValueError("anneal_start must be positive and anneal_factor lie in (0, 1)")
    blind = model.blind
    if anneal is None:
        anneal = not blind
    prior_rates: list[float] = []
    while anneal and anneal_start * anneal_factor ** len(prior_rates) > model.prior.rate:
        prior_rates.append(anneal_start * anneal_factor ** len(prior_rates))
    if blind and model.ndim != 2:
        raise ValueError("blind deconvolution supports 2-D images only")
    start_time = time.perf_counter()
    y = as_observed(model, observed)
    op = model.operator
    dtype, device = model.dtype, model.device
    generator = torch.Generator(device=device)
    generator.manual_seed(0 if seed is None else int(seed))
    size = tuple(op.psf.shape)
    mask = model.mask

    strategy = psf_init if callable(psf_init) else None  # bayesdeconv.infer.init
    if strategy is not None:
        start_mode = "strategy"
    else:
        start_mode = psf_init if isinstance(psf_init, str) else "array"
    search_candidates: list[dict] = []
    if start_mode not in (*PSF_INITS, "array", "strategy"):
        raise ValueError(f"psf_init must be one of {PSF_INITS} or an array, got {psf_init!r}")
    if blind and start_mode == "pyramid":
        schedule = _pyramid(op.observed_shape, size)
    else:
        schedule = [(op.observed_shape, size)]
    if not blind:
        psf = op.psf
    elif start_mode == "pyramid":
        psf = _initial_psf(schedule[0][1], dtype, device)
    elif start_mode == "search":
        start, search_candidates = search_start(model, y, progress=progress)
        psf = torch.as_tensor(start, dtype=dtype, device=device)
    elif start_mode == "strategy":  # the strategy's kernel is used as it is, like the search's
        psf = torch.as_tensor(strategy(model, y)[sites.PSF], dtype=dtype, device=device)
    else:
        psf = _start_psf(psf_init, model.psf_prior, dtype, device)
    psf_start = to_numpy(psf) if blind else None
    search_seconds = time.perf_counter() - start_time
    sigma = estimate_noise_std(to_numpy(y if mask is None else y[mask]))
    spec = model.noise.precision
    e_gamma0 = start_value(spec, 1.0 / sigma**2)
    total = len(prior_rates) + max_iter + sweeps_per_scale * (len(schedule) - 1)
    bar = tqdm(total=total, desc="IVB", file=sys.stderr, disable=not progress, leave=False)
    traces: list[list[float]] = []
    engine = state = None
    converged = False
    for index, (shape, psf_size) in enumerate(schedule):
        finest = index == len(schedule) - 1
        if finest:
            level_op, y_l, mask_l = op, y, mask
        else:
            y_l = _downsample(y, shape)
            mask_l = None if mask is None else _downsample(mask.to(dtype), shape) > 0.999
            level_op = ConvolutionOperator(
                torch.zeros(psf_size, dtype=dtype),
                shape,
                boundary=op.boundary,
                dtype=dtype,
                device=device,
            )
        if blind and index > 0:
            factors = tuple(n / m for n, m in zip(shape, schedule[index - 1][0], strict=True))
            psf = _recentre(_rescale_psf(psf, factors, psf_size))
        level = _make_level(level_op, y_l, mask_l)
        level_model = DeconvolutionModel(
            level_op,
            prior=model.prior,
            noise=model.noise,
            mask=mask_l,
            psf_prior=(
                None
                if not blind
                else model.psf_prior.resized(psf_size)
            ),
        )
        engine = _Engine(
            level_model,
            level,
            learn_psf=blind,
            psf_covariance=psf_covariance,
            psf_update=psf_update,
            psf_samples=psf_samples,
            psf_steps=psf_steps,
            psf_lr=psf_lr,
            cg_rtol=cg_rtol,
            cg_max_iter=cg_max_iter,
            qp_iter=qp_iter,
            generator=generator,
            prior_rates=tuple(prior_rates) if finest else (),
        )
        x0 = initial_image(level_model, torch.where(mask_l, y_l, 0) if mask_l is not None else y_l)
        n = psf.numel()
        w_mean, w_rate = model.prior.expected_precision(model.prior.features(x0, model.ndim) ** 2)
        init_cov = torch.full((n,), 1e-8, dtype=dtype, device=device)
        state = _State(
            mean=x0,
            variance=torch.zeros_like(x0),
            w_mean=w_mean,
            w_rate=w_rate,
            psf=psf,
            psf_cov=torch.diag(init_cov) if psf_covariance == "full" else init_cov,
            beta_mean=torch.ones_like(psf),
            beta_rate=torch.ones_like(psf),
            e_gamma=e_gamma0,
            e_log_gamma=math.log(e_gamma0),
        )
        if blind:
            state.beta_mean, state.beta_rate = model.psf_prior.expected_precision(psf**2)
        sweeps = len(prior_rates) + max_iter if finest else sweeps_per_scale
        trace: list[float] = []
        for sweep in range(sweeps):
            engine.sweep(state)
            trace.append(state.elbo)
            bar.update(1)
            bar.set_postfix(scale=f"{index + 1}/{len(schedule)}", elbo=f"{state.elbo:.6g}")
            if callback is not None:
                callback(
                    {
                        "level": index,
                        "finest": finest,
                        "sweep": sweep,
                        "mean": to_numpy(level_op.crop(state.mean)),
                        "psf": to_numpy(state.psf),
                        "elbo": state.elbo,
                    }
                )
            settled = sweep > len(prior_rates)
            if finest and settled and abs(trace[-1] - trace[-2]) <= tol * abs(trace[-1]):
                converged = True
                break
        traces.append(trace)
        psf = state.psf
        e_gamma0 = state.e_gamma
    bar.close()

    frame = op.frame
    latent_mean, latent_std = to_numpy(state.mean), to_numpy(state.variance.sqrt())
    hyper = {
        sites.NOISE_PRECISION: state.q_gamma
        if state.q_gamma is not None
        else PointValue(state.e_gamma)
    }
    psf_np = to_numpy(state.psf)
    psf_std = to_numpy(engine._psf_diag(state).sqrt()) if blind else np.zeros_like(psf_np)
    info = {
        "covariance": "diagonal",
        "prior": model.prior.name,
        "frame": frame,
        "scales": [s for s, _ in schedule],
        "psf_sizes": [p for _, p in schedule],
        "elbo_per_scale": [np.asarray(t) for t in traces],
        "cg_iterations": state.cg_iterations,
        "anneal_sweeps": len(prior_rates),
    }
    if blind:
        info.update(
            psf_covariance=psf_covariance,
            psf_update=psf_update,
            psf_cov=to_numpy(state.psf_cov),
            psf_init=start_mode,
            psf_start=psf_start,
        )
        if start_mode == "search":
            info.update(psf_search=search_candidates, psf_search_seconds=search_seconds)
    return Result(
        mean=latent_mean[frame],
        std=latent_std[frame],
        psf=psf_np,
        psf_std=psf_std,
        elbo=np.asarray(traces[-1]),
        observed=to_numpy(y),
        method="ivb",
        hyperparameters=hyper,
        latent_mean=latent_mean,
        latent_std=latent_std,
        n_iter=len(traces[-1]),
        converged=converged,
        runtime=time.perf_counter() - start_time,
        info=info,
        draw_fn=mean_field_drawer(latent_mean[frame], latent_std[frame], hyper),
    )
