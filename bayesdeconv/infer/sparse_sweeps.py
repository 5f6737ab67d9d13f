r"""The sweeps of sparse/blind IVB at one scale: closed-form updates and the ELBO.

:class:`SparseSweeps` updates :math:`q(x)` (Jacobi-PCG mean, mean-field variances),
:math:`q(w)` (the prior's Gamma update), :math:`q(k)` (the PSF prior's constrained quadratic
programme, or Adam / Vadam steps), :math:`q(\beta)` and :math:`q(\gamma)` in turn and computes
the closed-form ELBO after every sweep; :func:`~bayesdeconv.infer.blind.fit_sparse_ivb`
drives it (module documentation there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bayesdeconv.infer.linalg import jacobi_pcg
from bayesdeconv.infer.psf_statistics import correlate_window, shifted_gram
from bayesdeconv.infer.vadam_optimizer import Vadam
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator, psf_to_otf
from bayesdeconv.priors.base import GaussianScaleMixturePrior

__all__ = [
    "Level",
    "SparseSweeps",
    "SweepState",
    "gamma_array_terms",
    "initial_state",
    "make_level",
]

LOG_2PI = math.log(2 * math.pi)


@dataclass
class Level:
    """One scale: operator, data and fixed tensors."""

    operator: ConvolutionOperator
    y_latent: torch.Tensor  # observations embedded on the latent grid (0 elsewhere)
    mask: torch.Tensor  # latent mask, float
    n_observed: int
    sum_y2: float


def make_level(operator: ConvolutionOperator, y: torch.Tensor, mask: torch.Tensor | None):
    latent_mask = operator.latent_mask(mask)
    y_lat = operator.embed(y) * latent_mask
    return Level(
        operator=operator,
        y_latent=y_lat,
        mask=latent_mask,
        n_observed=int(latent_mask.sum()),
        sum_y2=float((y_lat**2).sum()),
    )


@dataclass
class SweepState:
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


def initial_state(
    prior: GaussianScaleMixturePrior,
    x0: torch.Tensor,
    psf: torch.Tensor,
    psf_cov: torch.Tensor,
    e_gamma: float,
) -> SweepState:
    """The state before the first sweep: image ``x0`` (zero variance), :math:`q(w)` from its
    features, the PSF mean and covariance given, unit ARD precisions, :math:`\\mathbb E\\gamma`."""
    w_mean, w_rate = prior.expected_precision(prior.features(x0, x0.ndim) ** 2)
    return SweepState(
        mean=x0,
        variance=torch.zeros_like(x0),
        w_mean=w_mean,
        w_rate=w_rate,
        psf=psf,
        psf_cov=psf_cov,
        beta_mean=torch.ones_like(psf),
        beta_rate=torch.ones_like(psf),
        e_gamma=e_gamma,
        e_log_gamma=math.log(e_gamma),
    )


def gamma_array_terms(a0: float, b0: float, shape: float, rate: torch.Tensor) -> float:
    """:math:`\\sum(\\mathbb E\\log p(\\theta) + H[q(\\theta)])` for Gamma(shape, rate) factors
    under a Gamma(a0, b0) prior, summed over an array of rates."""
    digamma = float(torch.special.digamma(torch.tensor(shape)))
    e_log = digamma - rate.log()
    e = shape / rate
    log_p = a0 * math.log(b0) - math.lgamma(a0) + (a0 - 1) * e_log - b0 * e
    entropy = shape - rate.log() + math.lgamma(shape) + (1 - shape) * digamma
    return float((log_p + entropy).sum())


class SparseSweeps:
    """Sweeps of the coordinate ascent at one scale (see the module documentation)."""

    def __init__(
        self,
        model: DeconvolutionModel,
        level: Level,
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

    def _psf_diag(self, state: SweepState) -> torch.Tensor:
        cov = state.psf_cov
        diag = torch.diagonal(cov) if cov.ndim == 2 else cov
        return diag.reshape(self.size)

    # -- factor updates --------------------------------------------------------------------
    def update_image(self, state: SweepState) -> None:
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

    def _cross_covariance_term(self, state: SweepState, cov_diag: torch.Tensor):
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

    def _second_moments(self, state: SweepState) -> torch.Tensor:
        return self.prior.second_moments(state.mean, state.variance, self.ndim)

    def update_precisions(self, state: SweepState) -> None:
        t = self.sweeps_done
        rate = self.prior_rates[t] if t < len(self.prior_rates) else None
        state.w_mean, state.w_rate = self.prior.expected_precision(
            self._second_moments(state), rate
        )

    def psf_statistics(self, state: SweepState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gram :math:`X^\\top M X`, :math:`X^\\top M y` and :math:`v` for the current q(x)."""
        lv = self.level
        gram = shifted_gram(state.mean, lv.mask > 0.5, self.size)
        cross = correlate_window(lv.y_latent, state.mean, self.size).reshape(-1)
        var = correlate_window(lv.mask, state.variance, self.size).reshape(-1)
        return gram, cross, var

    def update_psf(self, state: SweepState, stats) -> None:
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

    def _gradient_psf(self, a: torch.Tensor, b: torch.Tensor, state: SweepState):
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

    def _vadam_psf(self, a: torch.Tensor, b: torch.Tensor, state: SweepState):
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
    def expected_residual(self, state: SweepState, stats=None) -> float:
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

    def update_noise(self, state: SweepState, residual: float) -> None:
        if self.noise_spec.learned:
            q = self.noise_spec.posterior(self.level.n_observed, residual)
            state.q_gamma, state.e_gamma, state.e_log_gamma = q, q.mean, q.mean_log

    def elbo(self, state: SweepState, residual: float) -> float:
        prior = self.prior
        n_obs, n_lat = self.level.n_observed, state.mean.numel()
        value = 0.5 * n_obs * (state.e_log_gamma - LOG_2PI) - 0.5 * state.e_gamma * residual
        # image prior with explicit difference precisions, and the ridge
        shape_w = prior.shape + 0.5
        e_log_w = float(torch.special.digamma(torch.tensor(shape_w))) - state.w_rate.log()
        moments = self._second_moments(state)
        value += float((0.5 * e_log_w - 0.5 * LOG_2PI - 0.5 * state.w_mean * moments).sum())
        value += gamma_array_terms(prior.shape, prior.rate, shape_w, state.w_rate)
        eps = prior.epsilon
        value += 0.5 * n_lat * (math.log(eps) - LOG_2PI)
        value -= 0.5 * eps * float((state.mean**2).sum() + state.variance.sum())
        value += 0.5 * n_lat * (1 + LOG_2PI) + 0.5 * float(state.variance.log().sum())
        if self.learn_psf:
            pp = self.psf_prior
            shape_b = pp.shape + 0.5
            e_log_b = float(torch.special.digamma(torch.tensor(shape_b))) - state.beta_rate.log()
            second = state.psf**2 + self._psf_diag(state)
            value += float((0.5 * e_log_b - 0.5 * LOG_2PI - 0.5 * state.beta_mean * second).sum())
            value += gamma_array_terms(pp.shape, pp.rate, shape_b, state.beta_rate)
            cov = state.psf_cov
            n = state.psf.numel()
            if cov.ndim == 2:
                logdet = 2 * float(torch.linalg.cholesky(cov).diagonal().log().sum())
            else:
                logdet = float(cov.log().sum())
            value += 0.5 * n * (1 + LOG_2PI) + 0.5 * logdet
        if state.q_gamma is not None:
            q = state.q_gamma
            value += self.noise_spec.expected_log_density(q) + q.entropy
        if not math.isfinite(value):
            raise FloatingPointError("IVB produced a non-finite ELBO; check the image scale")
        return value

    def sweep(self, state: SweepState) -> None:
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
