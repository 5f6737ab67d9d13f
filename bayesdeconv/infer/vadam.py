"""The Vadam engine: natural-gradient mean-field VI by weight perturbation, on any model."""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import pyro
import torch
from pyro.infer.autoguide.initialization import init_to_value
from pyro.infer.mcmc.util import initialize_model
from tqdm import tqdm

from bayesdeconv import sites
from bayesdeconv.infer._common import (
    Convergence,
    as_observed,
    deconvolution_result,
    deconvolution_sites,
    initial_values,
    to_numpy,
)
from bayesdeconv.infer.result import LogNormalPosterior, Result
from bayesdeconv.infer.summarise import (
    SUMMARY_SAMPLES,
    SiteSummary,
    summarise,
    transform_kind,
)
from bayesdeconv.infer.vadam_optimizer import Vadam
from bayesdeconv.models.deconvolution import DeconvolutionModel

__all__ = ["fit_vadam", "vadam_fixed_point_precision"]

_HALF_LOG_2PI_E = 0.5 * math.log(2 * math.pi * math.e)


def vadam_fixed_point_precision(
    hessian: np.ndarray,
    *,
    num_data: float = 1.0,
    num_samples: int = 1,
    prior_precision: float = 0.0,
    iterations: int = 500,
) -> np.ndarray:
    """Precisions Vadam converges to on a quadratic potential with Hessian ``H``.

    At the optimum :math:`\\mu^*`, the gradient of :math:`\\ell = f / N` averaged over :math:`S`
    perturbations is :math:`g = (NS)^{-1} H \\sum_k \\sigma \\odot \\varepsilon_k`, so the
    second moment settles where :math:`s_i = \\mathbb E g_i^2 = (N^2 S)^{-1} \\sum_j H_{ij}^2
    \\sigma_j^2` with :math:`\\sigma_j^{-2} = p_j = N s_j + \\lambda`, i.e.

    .. math:: p_i = \\lambda + \\frac{1}{NS} \\sum_j \\frac{H_{ij}^2}{p_j}.

    (Averaging more perturbations shrinks :math:`\\mathbb E g^2`, so Vadam's variances grow
    like :math:`S^{1/2}` for a diagonal :math:`H`: ``num_samples`` is part of the estimator.)

    For :math:`N = S = 1, \\lambda = 0` and a diagonal :math:`H` this is :math:`p_i = H_{ii}`, the
    mean-field precision; coupling (off-diagonal :math:`H_{ij}`) makes Vadam's precision larger
    than the mean-field :math:`H_{ii}` and its variance smaller. Solved here by the monotone
    fixed-point iteration :math:`p \\leftarrow \\sqrt{p \\odot (\\lambda + (NS)^{-1}
    H^{\\circ 2} p^{-1})}` (geometric averaging of both sides).
    """
    h2 = np.asarray(hessian, dtype=float) ** 2
    scale = num_data * num_samples
    p = np.sqrt(h2.sum(1) / scale) + prior_precision
    for _ in range(iterations):
        p = np.sqrt(p * (prior_precision + h2 @ (1.0 / p) / scale))
    return p


def fit_vadam(
    model: DeconvolutionModel,
    observed,
    *,
    steps: int = 3000,
    lr: float = 0.02,
    lr_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    num_samples: int = 1,
    num_data: float = 1.0,
    tol: float = 1e-4,
    check_every: int = 100,
    seed: int | None = None,
    init: dict | None = None,
    progress: bool = True,
    summary_samples: int = SUMMARY_SAMPLES,
) -> Result:
    """Fit a mean-field Gaussian posterior with the :class:`Vadam` optimizer.

    Works on any model of the package: Pyro's ``initialize_model`` gives the potential
    :math:`f(\\theta) = -\\log p(y, \\theta)` over unconstrained latent values (precisions on
    the log scale, with their Jacobians), and Vadam runs on :math:`\\ell = f / N`. In a blind
    model the PSF mean is projected onto the simplex after every step (non-negative, unit sum),
    as :func:`~bayesdeconv.infer.svi.fit_svi` does; its std is Vadam's
    :math:`(N s + \\lambda)^{-1/2}`.

    Mapping onto Vadam's :math:`N` and :math:`\\lambda`. Khan et al. write the loss as an average
    over :math:`N` exchangeable data points and keep an isotropic prior
    :math:`\\mathcal N(0, \\lambda^{-1} I)` outside it. Here the prior is structured (smoothness,
    Gamma hyper-priors), so it stays *inside* :math:`f` and :math:`\\lambda = 0`. Each pixel of
    the image is informed by only a handful of observed pixels, so the Hessian of :math:`f`
    does not grow with the number of pixels, and the squared-gradient estimate
    :math:`N s` is on the right scale only for :math:`N = 1` (the whole image is one data
    point): see :func:`vadam_fixed_point_precision`. ``num_data`` other than 1 is allowed
    for experiments.

    Parameters
    ----------
    model : DeconvolutionModel
    observed : array_like
    steps, lr, lr_decay, betas
        Step budget, initial step size decaying geometrically to ``lr * lr_decay``, Adam's
        :math:`\\beta`.
    num_samples : int
        Perturbations per step.
    num_data : float
        Vadam's :math:`N` (see above).
    tol, check_every
        Convergence stop on the ELBO estimate, as in :func:`~bayesdeconv.infer.svi.fit_svi`.
    seed : int, optional
        Seeds torch's random state.
    init : dict, optional
        Starting values (constrained space) of latent sites by name, overriding the defaults,
        e.g. ``{"psf": kernel}``.
    progress : bool
        Progress bar on stderr.
    summary_samples : int
        ``Predictive`` draws behind the summaries of sites that are not latent values of the
        Gaussian (e.g. a deterministic image site of a generator prior); latent real-valued
        sites have the Gaussian's exact moments, positive ones its exact log-normal.

    Returns
    -------
    Result
        ``method="vadam"``; ``elbo`` is the per-step Monte-Carlo ELBO
        :math:`-f(\\theta) + H[q]`; the image std is :math:`(N s + \\lambda)^{-1/2}`. For a
        blind model ``draws`` include the PSF from its mean-field Gaussian.

    References
    ----------
    .. [1] M. E. Khan et al., "Fast and scalable Bayesian deep learning by weight-perturbation
       in Adam", ICML 2018, arXiv:1806.04854.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must lie in (0, 1], got {lr_decay}")
    start_time = time.perf_counter()
    y = as_observed(model, observed)
    values, sigma = initial_values(model, y, init)
    if seed is not None:
        pyro.set_rng_seed(seed)
    with pyro.validation_enabled(True):
        init, potential_fn, transforms, _ = initialize_model(
            model, model_args=(y,), init_strategy=init_to_value(values=values), max_plate_nesting=0
        )
    names = sorted(init)
    params = [init[name].detach().clone() for name in names]
    optimizer = Vadam(
        params,
        lr=lr,
        betas=betas,
        num_data=num_data,
        init_precision=1.0 / min(sigma, 0.1) ** 2,
        num_samples=num_samples,
    )
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, lr_decay ** (1.0 / steps))

    def closure() -> torch.Tensor:
        for p in params:
            p.requires_grad_(True)
            p.grad = None
        loss = potential_fn(dict(zip(names, params, strict=True))) / num_data
        loss.backward()
        return loss

    by_name = dict(zip(names, params, strict=True))
    psf_mean = by_name.get(sites.PSF) if model.blind else None

    elbos: list[float] = []
    losses: list[float] = []  # -ELBO, for the convergence rule
    converged = False
    stop = Convergence(check_every, tol)
    bar = tqdm(range(steps), desc="Vadam", file=sys.stderr, disable=not progress, leave=False)
    with pyro.validation_enabled(False):
        for step in bar:
            loss = optimizer.step(closure)
            if psf_mean is not None:  # projected stochastic gradient, as in fit_svi
                with torch.no_grad():
                    feasible = model.psf_prior.project(psf_mean.reshape(-1))
                    psf_mean.copy_(feasible.reshape(psf_mean.shape))
            schedule.step()
            entropy = sum(
                float(_HALF_LOG_2PI_E * p.numel() - 0.5 * optimizer.precision(p).log().sum())
                for p in params
            )
            elbo = -loss * num_data + entropy
            if not math.isfinite(elbo):
                raise FloatingPointError(
                    f"Vadam diverged at step {step}: the ELBO became {elbo}. Lower the learning "
                    f"rate (lr={lr}) or check the image scale."
                )
            elbos.append(elbo)
            losses.append(-elbo)
            if step % 50 == 0:
                bar.set_postfix(elbo=f"{elbo:.6g}", refresh=False)
            if tol > 0 and stop(losses):
                converged = True
                break
    bar.close()

    with torch.no_grad():
        locs = {name: by_name[name].detach().clone() for name in names}
        scales = {name: optimizer.precision(by_name[name]).rsqrt() for name in names}
    summary = summarise(
        model,
        (y,),
        posterior=_gaussian_sampler(locs, scales, transforms),
        return_sites=deconvolution_sites(model),
        exact=_exact_moments(locs, scales, transforms),
        num_samples=summary_samples,
        seed=seed,
    )
    return deconvolution_result(
        model,
        y,
        summary,
        method="vadam",
        elbo=np.asarray(elbos),
        n_iter=len(elbos),
        converged=converged,
        runtime=time.perf_counter() - start_time,
        info={"num_data": num_data, "num_samples": num_samples, "lr": lr},
        factorised=all(s.exact for s in summary.sites.values()),
    )


def _exact_moments(locs: dict, scales: dict, transforms: dict) -> dict[str, SiteSummary]:
    """The Gaussian's marginals of the latent sites, in closed form where the map from
    unconstrained values is the identity (the image, the PSF) or exp (scalar precisions)."""
    out = {}
    for name, loc in locs.items():
        mean, std = to_numpy(loc), to_numpy(scales[name])
        kind = transform_kind(transforms[name].inv, loc.detach().cpu())
        if kind == "identity":
            out[name] = SiteSummary(mean.astype(np.float64), std.astype(np.float64), exact=True)
        elif kind == "exp" and loc.numel() == 1:
            q = LogNormalPosterior(float(loc), float(scales[name]))
            out[name] = SiteSummary(np.asarray(q.mean), np.asarray(q.std), exact=True, posterior=q)
    return out


def _gaussian_sampler(locs: dict, scales: dict, transforms: dict):
    """``sample(n)``: draws of the latent sites from Vadam's mean-field Gaussian over the
    unconstrained values, mapped to the constrained space."""

    def sample(n: int) -> dict[str, torch.Tensor]:
        out = {}
        for name, loc in locs.items():
            noise = torch.randn((n, *loc.shape), dtype=loc.dtype, device=loc.device)
            out[name] = transforms[name].inv(loc + scales[name] * noise)
        return out

    return sample
