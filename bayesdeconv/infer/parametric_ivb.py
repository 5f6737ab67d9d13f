r"""Variational EM for a parametric PSF under a sparse image prior, with a Laplace posterior.

For a :class:`~bayesdeconv.psf_priors.ParametricPSFPrior` :math:`k = k(\phi)` and a Gaussian
scale-mixture image prior (``prior="sparse"`` or ``"piecewise"``), the sweeps of sparse IVB
(:class:`~bayesdeconv.infer.sparse_sweeps.SparseSweeps`, non-blind, mean-field
:math:`q(x)\,q(w)\,q(\gamma)`) alternate with an M-step in the few PSF parameters,

.. math::
    \hat\phi = \arg\min_\phi\ f(\phi), \qquad
    f(\phi) = \frac{\mathbb E[\gamma]}2 \Big( \big\|M\big(y - k(\phi) \circledast
    \mathbb E[x]\big)\big\|^2 + \sum_j k_j(\phi)^2\, v_j \Big) - \log p(\phi),

where :math:`v_j = \sum_i M_i \operatorname{Var}[x_{i-j}]` (the mean-field variance seen
through tap :math:`j`): :math:`f` is the part of the negative ELBO that depends on the PSF, so
every step raises :math:`\mathcal L(q, \phi) + \log p(\phi)` (variational EM). Evaluating
:math:`f` costs one FFT convolution, so the M-step is a few milliseconds of L-BFGS in the
unconstrained space of :math:`\phi` (``torch.distributions.biject_to`` of each prior's
support), for any boundary and mask (2-D images).

Why a sparse prior: under the smooth Gaussian prior the evidence of natural photographs
peaks at a Gaussian blur 10–20 % too wide (their spectra fall faster than the prior's at high
frequencies, and the evidence explains the difference as blur); the sparse prior's ELBO puts
it within a few per cent (Levin et al. 2011 [1]_; ``benchmarks/bench_parametric_psf.py``).

The posterior of :math:`\phi` is Laplace's approximation of
:math:`p(\phi \mid y) \propto \exp(-f(\phi))` at :math:`\hat\phi` in the unconstrained
coordinates :math:`u` (:math:`\phi = T(u)`, Jacobian included):
:math:`u \sim \mathcal N(\hat u, H^{-1})`, :math:`H = \nabla^2_u [f(T(u)) - \log|T'(u)|]`. It
conditions on :math:`q(x)` and is therefore narrower than the true posterior when the image
model is wrong; ``benchmarks/bench_parametric_psf.py`` measures its coverage.

References
----------
.. [1] A. Levin, Y. Weiss, F. Durand, W. T. Freeman, "Efficient marginal likelihood
   optimization in blind deconvolution", CVPR 2011.
.. [2] F. Orieux, J.-F. Giovannelli, T. Rodet, JOSA A 27(7), 2010.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from torch.distributions import biject_to
from tqdm import tqdm

from bayesdeconv import sites
from bayesdeconv.infer._common import (
    PARAMETER_DRAWS,
    as_observed,
    estimate_noise_std,
    initial_image,
    mean_field_drawer,
    to_numpy,
)
from bayesdeconv.infer.linalg import lbfgs_minimise
from bayesdeconv.infer.psf_statistics import correlate_window
from bayesdeconv.infer.result import PointValue, Result, SamplePosterior
from bayesdeconv.infer.sparse_sweeps import SparseSweeps, SweepState, initial_state, make_level
from bayesdeconv.likelihoods.base import ConjugateGaussianLikelihood
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator, psf_to_otf
from bayesdeconv.priors.base import GaussianScaleMixturePrior
from bayesdeconv.priors.hyper import start_value

__all__ = ["fit_parametric_ivb", "unsupported_reason"]


def unsupported_reason(model: DeconvolutionModel) -> str | None:
    """Why :func:`fit_parametric_ivb` cannot fit ``model``, or ``None`` when it can."""
    if not (model.blind and model.psf_prior.parametric):
        return "parametric IVB fits the parameters of a parametric PSF prior"
    if not model.psf_prior.parameter_sites:
        return "the PSF prior has no parameter sites (a generated PSF goes with prior='dip')"
    if not isinstance(model.prior, GaussianScaleMixturePrior):
        return "parametric IVB needs a scale-mixture image prior (prior='sparse' or 'piecewise')"
    if not isinstance(model.noise, ConjugateGaussianLikelihood):
        return "parametric IVB needs Gaussian noise"
    if model.ndim != 2:
        return (
            "parametric IVB is validated on 2-D images only (on a 3-D bead stack it drifted "
            "to a PSF far too wide); for 3-D use the smooth prior (the evidence engine, "
            "boundary='circular') or method='svi'"
        )
    return None


class _Parameters:
    """The free PSF parameters as one unconstrained vector ``u`` (``phi = T(u)``)."""

    def __init__(self, psf_prior, dtype, device) -> None:
        self.psf_prior = psf_prior
        self.names = psf_prior.free_parameters
        self.priors = psf_prior.priors_on(dtype, device)
        self.transforms = {n: biject_to(self.priors[n].support) for n in self.names}
        self.dtype, self.device = dtype, device

    def to_u(self, values: dict[str, float]) -> torch.Tensor:
        out = []
        for n in self.names:
            t = self.transforms[n]
            v = torch.as_tensor(values[n], dtype=self.dtype, device=self.device)
            out.append(t.inv(v))
        return torch.stack(out)

    def to_phi(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: self.transforms[n](u[i]) for i, n in enumerate(self.names)}

    def log_prior(self, phi: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.priors[n].log_prob(phi[n]) for n in self.names)

    def log_jacobian(self, u: torch.Tensor, phi: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(
            self.transforms[n].log_abs_det_jacobian(u[i], phi[n]) for i, n in enumerate(self.names)
        )

    def kernel(self, phi: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.psf_prior.kernel(dtype=self.dtype, device=self.device, **phi)


class _PSFObjective:
    r""":math:`f(\phi)` of the module documentation for the current :math:`q(x)`, :math:`\gamma`."""

    def __init__(self, engine: SparseSweeps, state: SweepState, params: _Parameters) -> None:
        lv = engine.level
        self.op, self.params = lv.operator, params
        self.y, self.mask = lv.y_latent, lv.mask
        self.mean = state.mean
        self.var = correlate_window(lv.mask, state.variance, engine.size)
        self.gamma = state.e_gamma

    def data_term(self, psf: torch.Tensor) -> torch.Tensor:
        otf = psf_to_otf(psf, self.op.latent_shape)
        resid = (self.y - self.op.circulant(self.mean, otf)) * self.mask
        return 0.5 * self.gamma * ((resid**2).sum() + (self.var * psf**2).sum())

    def of(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """:math:`f` at ``params["u"]`` (the form :func:`lbfgs_minimise` takes)."""
        return self(params["u"])

    def __call__(self, u: torch.Tensor, *, jacobian: bool = False) -> torch.Tensor:
        phi = self.params.to_phi(u)
        value = self.data_term(self.params.kernel(phi)) - self.params.log_prior(phi)
        if jacobian:
            value = value - self.params.log_jacobian(u, phi)
        return value


def _laplace_draws(
    objective: _PSFObjective, u_hat: torch.Tensor, n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draws of ``u`` from Laplace's approximation at ``u_hat`` and its covariance."""
    h = torch.autograd.functional.hessian(lambda u: objective(u, jacobian=True), u_hat)
    h = 0.5 * (h + h.T)
    evals, evecs = torch.linalg.eigh(h)
    floor = 1e-8 * float(evals.abs().max()) + 1e-12
    cov = evecs @ torch.diag(1.0 / evals.clamp(min=floor)) @ evecs.T
    chol = torch.linalg.cholesky(cov + 1e-15 * torch.eye(len(u_hat), dtype=cov.dtype))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(n, len(u_hat), generator=gen, dtype=u_hat.dtype).to(u_hat.device)
    return u_hat + z @ chol.T, cov


def fit_parametric_ivb(
    model: DeconvolutionModel,
    observed,
    *,
    max_iter: int = 60,
    tol: float = 1e-6,
    psf_start: dict[str, float] | None = None,
    cg_rtol: float = 1e-4,
    cg_max_iter: int = 100,
    n_draws: int = PARAMETER_DRAWS,
    seed: int = 0,
    progress: bool = True,
) -> Result:
    r"""Sparse IVB with the PSF's parameters fitted by variational EM; Laplace intervals.

    See the module documentation. Every sweep updates :math:`q(x)`, :math:`q(w)`, then the PSF
    parameters (M-step), then :math:`q(\gamma)`; it stops when the objective
    :math:`\mathcal L + \log p(\hat\phi)` changes by less than ``tol`` (relative).

    Parameters
    ----------
    model : DeconvolutionModel
        A parametric ``psf_prior``, a Gaussian scale-mixture image prior, Gaussian noise, a
        2-D image; any boundary and mask.
    observed : array_like
        The observed image.
    max_iter : int
        Sweep limit.
    tol : float
        Relative change of the objective that stops the sweeps.
    psf_start : dict, optional
        Starting parameter values by name. Default: the collapsed-evidence MAP under the smooth
        prior (:func:`~bayesdeconv.infer.collapsed.map_psf_parameters`), which errs on the wide
        side, away from the no-blur trap of joint estimation.
    cg_rtol, cg_max_iter
        The image-mean CG per sweep.
    n_draws : int
        Laplace draws behind ``Result.psf_parameters``.
    seed : int
        Seeds those draws.
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    Result
        ``method="ivb"``; ``psf`` / ``psf_std`` the mean and std of :math:`k(\phi)` over the
        Laplace draws; ``psf_parameters`` the draws; ``std`` the mean-field image std at
        :math:`\hat\phi`; ``info["psf_map"]`` the fitted parameters, ``info["psf_start"]``
        the start and ``info["parameter_covariance"]`` the Laplace covariance (unconstrained).
    """
    reason = unsupported_reason(model)
    if reason is not None:
        raise ValueError(reason)
    start_time = time.perf_counter()
    y = as_observed(model, observed)
    dtype, device = model.dtype, model.device
    psf_prior = model.psf_prior
    params = _Parameters(psf_prior, dtype, device)
    if psf_start is None:
        from bayesdeconv.infer.collapsed import map_psf_parameters

        psf_start = map_psf_parameters(y, psf_prior, boundary=model.operator.boundary)
    u = params.to_u(psf_start)
    with torch.no_grad():
        psf = params.kernel(params.to_phi(u))
    op = ConvolutionOperator(
        psf, model.operator.observed_shape, boundary=model.operator.boundary, device=device
    )
    fixed = DeconvolutionModel(op, prior=model.prior, noise=model.noise, mask=model.mask)
    level = make_level(op, y, model.mask)
    engine = SparseSweeps(
        fixed,
        level,
        learn_psf=False,
        psf_covariance="diagonal",
        psf_update="closed-form",
        psf_samples=1,
        psf_steps=0,
        psf_lr=0.0,
        cg_rtol=cg_rtol,
        cg_max_iter=cg_max_iter,
        qp_iter=0,
        generator=torch.Generator(device=device),
    )
    mask = model.mask
    sigma = estimate_noise_std(to_numpy(y if mask is None else y[mask]))
    e_gamma = start_value(model.noise.precision, 1.0 / sigma**2)
    x0 = initial_image(fixed, torch.where(mask, y, 0) if mask is not None else y)
    psf_cov = torch.zeros(psf.numel(), dtype=dtype, device=device)  # a point PSF (EM)
    state = initial_state(model.prior, x0, psf, psf_cov, e_gamma)
    bar = tqdm(
        desc="parametric IVB sweeps",
        unit="sweep",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )
    trace: list[float] = []
    converged = False
    objective = None
    for _ in range(max_iter):
        engine.update_image(state)
        engine.update_precisions(state)
        objective = _PSFObjective(engine, state, params)
        u = lbfgs_minimise(objective.of, {"u": u}, max_iter=50, require_decrease=True)["u"]
        with torch.no_grad():
            phi = params.to_phi(u)
            state.psf = params.kernel(phi)
            log_prior = float(params.log_prior(phi))
        residual = engine.expected_residual(state)
        engine.update_noise(state, residual)
        trace.append(engine.elbo(state, residual) + log_prior)
        bar.update(1)
        bar.set_postfix(objective=f"{trace[-1]:.6g}")
        if len(trace) > 2 and abs(trace[-1] - trace[-2]) <= tol * abs(trace[-1]):
            converged = True
            break
    bar.close()

    objective = _PSFObjective(engine, state, params)
    draws_u, cov_u = _laplace_draws(objective, u, n_draws, seed)
    with torch.no_grad():
        phi_draws = [params.to_phi(d) for d in draws_u]
        picks = np.linspace(0, n_draws - 1, min(n_draws, 200)).round().astype(int)
        kernels = torch.stack([params.kernel(phi_draws[i]) for i in picks])
    parameters = {
        sites.psf_parameter(n): SamplePosterior(
            psf_prior.wrap(n, np.array([float(p[n]) for p in phi_draws]))
        )
        for n in params.names
    }
    phi_hat = {n: float(v) for n, v in params.to_phi(u).items()}
    frame = op.frame
    latent_mean, latent_std = to_numpy(state.mean), to_numpy(state.variance.sqrt())
    hyper = {
        sites.NOISE_PRECISION: state.q_gamma
        if state.q_gamma is not None
        else PointValue(state.e_gamma)
    }
    pixels = mean_field_drawer(latent_mean[frame], latent_std[frame], hyper)
    stored = {k: np.asarray(v.values)[picks] for k, v in parameters.items()}
    stored_kernels = to_numpy(kernels)

    def draw(n: int, rng: np.random.Generator, region=None) -> dict[str, np.ndarray]:
        """The pixels from the mean-field q(x); the parameters and their kernel jointly."""
        out = pixels(n, rng, region)
        pick = rng.integers(len(picks), size=n)
        out.update({name: values[pick] for name, values in stored.items()})
        out[sites.PSF] = stored_kernels[pick]
        return out

    return Result(
        mean=latent_mean[frame],
        std=latent_std[frame],
        psf=to_numpy(kernels.mean(0)),
        psf_std=to_numpy(kernels.std(0)),
        elbo=np.asarray(trace),
        observed=to_numpy(y),
        method="ivb",
        hyperparameters=hyper,
        latent_mean=latent_mean,
        latent_std=latent_std,
        n_iter=len(trace),
        converged=converged,
        runtime=time.perf_counter() - start_time,
        info={
            "covariance": "diagonal",
            "prior": model.prior.name,
            "frame": frame,
            "psf_map": phi_hat,
            "psf_start": dict(psf_start),
            "parameter_covariance": to_numpy(cov_u),
            "parameter_names": params.names,
        },
        draw_fn=draw,
        blind=True,
        psf_parameters=parameters,
    )
