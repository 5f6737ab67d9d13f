r"""Fitting deep image priors: SelfDeblur (MAP) and the variational DIP (SVI), with restarts.

One loop serves both (Pyro's ``SVI`` with a per-module learning rate and Pyro's
``MultiStepLR``), phase by phase as the prior's :class:`~bayesdeconv.priors.DIPSchedule`
says:

1. *pretraining* (``pretrain`` steps):
   :math:`\alpha\,\mathrm{MSE}(k \circledast \bar x, y) + (1 - \alpha)\,[\mathrm{MSE}(\bar x, y)
   + \mathrm{Var}(y)\,\overline{(k/u - 1)^2}]` pulls the image towards the observation and the
   kernel towards the uniform :math:`u` (Brožová 2023);
2. the *ELBO* :math:`\mathbb E_q[\log p(y, x, \lambda \mid k)] + \mathrm H[q]` (for MAP, with a
   point mass, the log joint: SelfDeblur's MSE with a learned noise precision); with
   ``kl_warmup`` the prior and entropy terms are weighted by :math:`\min(1, t / T)`;
3. after ``ssim_after``, the *SSIM* data term: the networks see the image through
   :math:`\kappa (1 - \mathrm{SSIM}(k \circledast x, y))` instead of the likelihood
   (SelfDeblur: :math:`\kappa = 1`; the variational DIP: :math:`\kappa` set at the switch so
   that it equals the misfit :math:`\tfrac12\lVert (y - k \circledast x)/\sigma \rVert^2`
   there, the prior and entropy terms stay). With Gaussian noise the noise precision keeps
   its whole likelihood :math:`\log \mathcal N(y \mid \mathrm{sg}[k \circledast x],
   \lambda^{-1})` with the prediction held fixed (:math:`\mathrm{sg}`: no gradient), so
   :math:`\lambda` follows the residual instead of drifting, and the final objective that
   ranks restarts uses a current :math:`\lambda`.

Every restart draws fresh weights and inputs (seed ``seed + r``); the run with the best final
objective (the ELBO for SVI, the log joint for MAP, both estimated afresh after the last step)
is summarised with ``Predictive``, and all runs are reported in ``info["restarts"]`` with the
spread of the objective.
"""

from __future__ import annotations

import copy
import math
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO
from pyro.infer.autoguide import AutoDelta, init_to_median, init_to_value
from tqdm import tqdm

from bayesdeconv import sites
from bayesdeconv.guides.dip import DIPGuide
from bayesdeconv.infer._common import (
    as_observed,
    deconvolution_result,
    deconvolution_sites,
    initial_values,
)
from bayesdeconv.infer.result import Result
from bayesdeconv.infer.ssim import ssim
from bayesdeconv.infer.summarise import SUMMARY_SAMPLES, summarise
from bayesdeconv.physics.convolution import psf_to_otf
from bayesdeconv.priors.base import NetworkPrior
from bayesdeconv.psf_priors.generated import MODULE as PSF_MODULE

__all__ = ["fit_dip", "unsupported_reason"]

IMAGE_TERMS = (
    sites.IMAGE,
    sites.IMAGE_PRIOR,
    sites.GRADIENT_PRECISION,
    sites.IMAGE_PRECISION,
    sites.EXTREME_CHANNEL,
)
"""Sites whose terms the KL warm-up weights (the image prior and q(x)); a prior's further
factor sites come from its ``factor_sites`` attribute."""


def unsupported_reason(model) -> str | None:
    """Why :func:`fit_dip` cannot fit ``model`` (``None`` if it can)."""
    if not isinstance(model.prior, NetworkPrior):
        return "fit_dip needs a deep image prior (a NetworkPrior such as DeepImagePrior)"
    if model.blind and not model.psf_prior.parametric:
        return (
            "a deep image prior pairs with a generated or parametric PSF; leave the PSF prior "
            "to deconvolve (psf=None), or pass psf=GeneratedPSF(size)"
        )
    return None


class _Weighted(poutine.messenger.Messenger):
    """Scales the log-densities of the image-prior and q(x) sites by ``weight``."""

    def __init__(self, weight: float, extra: tuple[str, ...]) -> None:
        super().__init__()
        self.weight, self.names = weight, IMAGE_TERMS + extra

    def _process_message(self, msg) -> None:
        if msg["type"] == "sample" and msg["name"] in self.names:
            msg["scale"] = msg["scale"] * self.weight


@dataclass
class _Run:
    seed: int
    objective: float
    losses: dict[str, list[float]]
    state: dict
    modules: tuple
    runtime: float
    guide: object = None


def _blur(model, trace) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Image, blurred image (observed grid) and PSF of a model trace."""
    x = trace.nodes[sites.IMAGE]["value"]
    psf = trace.nodes[sites.PSF]["value"] if model.blind else None
    otf = psf_to_otf(psf, model.latent_shape) if model.blind else None
    return x, model.operator.forward(x, otf), psf


def _gaussian_obs(trace, mask):
    """The ``obs`` node's Gaussian base, observed value and pixel weights (or ``None``)."""
    node = trace.nodes[sites.OBSERVED]
    base = node["fn"]
    while hasattr(base, "base_dist"):
        base = base.base_dist
    if not isinstance(base, dist.Normal):
        return None
    value = node["value"]
    weight = torch.ones_like(value) if mask is None else mask.to(value.dtype)
    return base, value, weight * node["scale"]


def _misfit(trace, mask) -> torch.Tensor:
    r""":math:`\tfrac12 \lVert M (y - \mu) / \sigma \rVert^2` of a Gaussian ``obs`` site."""
    gaussian = _gaussian_obs(trace, mask)
    if gaussian is None:
        raise ValueError(
            "the SSIM switch of the variational DIP replaces a Gaussian misfit; with this "
            "noise model use a DIPSchedule with ssim_after=None"
        )
    base, value, weight = gaussian
    return 0.5 * (weight * ((value - base.loc) / base.scale) ** 2).sum()


def _noise_likelihood(trace, mask) -> torch.Tensor | None:
    r""":math:`\log \mathcal N(y \mid \mathrm{sg}[\mu], \sigma^2)`: the Gaussian ``obs``
    log-density with the prediction held fixed (a gradient for the noise level only)."""
    gaussian = _gaussian_obs(trace, mask)
    if gaussian is None:
        return None
    base, value, weight = gaussian
    fixed = dist.Normal(base.loc.detach(), base.scale)
    return (weight * fixed.log_prob(value)).sum()


class _Losses:
    """The loss of each phase as a callable ``loss(model, guide, y)`` for Pyro's ``SVI``."""

    def __init__(self, model, schedule, y, extra: tuple[str, ...]) -> None:
        self.model, self.schedule, self.y, self.extra = model, schedule, y, extra
        self.step = 0
        self.kappa: float | None = None
        seen = y if model.mask is None else y[model.mask]  # observed pixels only
        self.data_range = float(seen.max() - seen.min()) or 1.0
        self.mask = model.mask
        self.variance = float(seen.var())
        # sites besides obs that the SSIM phase keeps: all for VDIP (its prior and entropy
        # terms stay); for SelfDeblur only the noise model's, so the loss on the networks and
        # any PSF parameters is SSIM alone, as published
        noise_sites = set(model.noise.hyperparameters())
        if model.prior.variational:
            self.kept = lambda name, site: name != sites.OBSERVED
        else:
            self.kept = lambda name, site: name in noise_sites

    def _weight(self) -> float:
        warm = self.schedule.kl_warmup
        return 1.0 if warm == 0 else min(1.0, (self.step + 1) / warm)

    def _traces(self, model, guide, y, weight=1.0):
        guide_trace = poutine.trace(_Weighted(weight, self.extra)(guide)).get_trace(y)
        replayed = poutine.replay(_Weighted(weight, self.extra)(model), trace=guide_trace)
        model_trace = poutine.trace(replayed).get_trace(y)
        return model_trace, guide_trace

    def _ssim_term(self, model_trace) -> torch.Tensor:
        _, blurred, _ = _blur(self.model, model_trace)
        return 1.0 - ssim(blurred, self.y, data_range=self.data_range, mask=self.mask)

    def pretrain(self, model, guide, y) -> torch.Tensor:
        model_trace, guide_trace = self._traces(model, guide, y)
        x, blurred, psf = _blur(self.model, model_trace)
        if self.model.prior.variational:
            x = guide.moments()[0]
        observed = self.model.operator.crop(x)
        weight = 1.0 if self.mask is None else self.mask.to(y.dtype)
        mse = ((blurred - y) ** 2 * weight).mean()
        anchor = ((observed - y) ** 2 * weight).mean()
        if psf is not None:
            uniform = 1.0 / psf.numel()
            anchor = anchor + self.variance * ((psf / uniform - 1.0) ** 2).mean()
        a = self.schedule.pretrain_weight
        return a * mse + (1 - a) * anchor

    def elbo(self, model, guide, y) -> torch.Tensor:
        model_trace, guide_trace = self._traces(model, guide, y, self._weight())
        return -(model_trace.log_prob_sum() - guide_trace.log_prob_sum())

    def ssim(self, model, guide, y) -> torch.Tensor:
        model_trace, guide_trace = self._traces(model, guide, y, self._weight())
        data = self._ssim_term(model_trace)
        noise = _noise_likelihood(model_trace, self.mask)
        if self.kappa is None:  # SelfDeblur's loss as published; VDIP: continuity at the switch
            self.kappa = 1.0
            if self.model.prior.variational:
                misfit = _misfit(model_trace, self.mask)
                self.kappa = float(misfit.detach()) / max(float(data.detach()), 1e-8)
        if noise is None:  # no Gaussian noise level to follow: the SSIM loss alone
            return self.kappa * data
        rest = model_trace.log_prob_sum(site_filter=self.kept)
        return -(rest + noise - guide_trace.log_prob_sum()) + self.kappa * data


def _guide(model, y):
    values, sigma = initial_values(model, y)
    if model.prior.variational:
        return DIPGuide(model, init_values=values, init_scale=min(sigma, 0.1))
    trace = poutine.trace(poutine.block(model, hide=[sites.OBSERVED])).get_trace(y)
    latent = [
        name for name, node in trace.nodes.items()
        if node["type"] == "sample" and not node["is_observed"]
        and not node["infer"].get("_deterministic", False)
    ]  # fmt: skip
    if not latent:
        return lambda *args, **kwargs: {}
    return AutoDelta(model, init_loc_fn=init_to_value(values=values, fallback=init_to_median))


def _optimiser(schedule):
    def rate(module_name: str, param_name: str) -> dict:
        lr = schedule.lr_psf if module_name == PSF_MODULE else schedule.lr_image
        return {"lr": lr}

    return pyro.optim.MultiStepLR(
        {
            "optimizer": torch.optim.Adam,
            "optim_args": rate,
            "milestones": list(schedule.milestones),
            "gamma": schedule.gamma,
        }
    )


def _one_run(model, y, schedule, seed, extra, progress, label) -> _Run:
    start = time.perf_counter()
    pyro.set_rng_seed(seed)
    shape = model.latent_shape
    model.prior.reset(shape, seed=seed, dtype=model.dtype, device=model.device)
    if model.blind:
        model.psf_prior.reset(seed=seed, dtype=model.dtype, device=model.device)
    with pyro.get_param_store().scope() as state:
        guide = _guide(model, y)
        losses = _Losses(model, schedule, y, extra)
        optim = _optimiser(schedule)
        with pyro.validation_enabled(True), torch.no_grad():
            Trace_ELBO().loss(model, guide, y)  # readable shape and support errors first
        phases = {
            "pretrain": pyro.infer.SVI(model, guide, optim, loss=losses.pretrain),
            "elbo": pyro.infer.SVI(model, guide, optim, loss=losses.elbo),
            "ssim": pyro.infer.SVI(model, guide, optim, loss=losses.ssim),
        }
        trace: dict[str, list[float]] = {}
        bar = tqdm(range(schedule.pretrain + schedule.steps), desc=label, file=sys.stderr,
                   disable=not progress, leave=False)  # fmt: skip
        for step in bar:
            if step < schedule.pretrain:
                phase = "pretrain"
            else:
                losses.step = step - schedule.pretrain
                ssim_on = schedule.ssim_after is not None and losses.step >= schedule.ssim_after
                phase = "ssim" if ssim_on else "elbo"
            with pyro.validation_enabled(False):
                loss = phases[phase].step(y)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"the deep image prior diverged at step {step} ({phase} loss {loss}); "
                    "lower the learning rates of its DIPSchedule"
                )
            if step >= schedule.pretrain:
                optim.step()  # the learning-rate milestones count the main steps
            trace.setdefault(phase, []).append(loss)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss:.5g}", refresh=False)
        bar.close()
        particles = 8 if model.prior.variational else 1
        with torch.no_grad():
            objective = -Trace_ELBO(num_particles=particles).loss(model, guide, y)
    modules = (model.prior.generator, model.prior.input)
    if model.blind:
        modules += (model.psf_prior.network, model.psf_prior.input)
    return _Run(seed, objective, trace, state, modules, time.perf_counter() - start, guide)


def _restore(model, run: _Run) -> None:
    model.prior.generator, model.prior.input = run.modules[:2]
    if model.blind:
        model.psf_prior.network, model.psf_prior.input = run.modules[2:]


def fit_dip(
    model,
    observed,
    *,
    restarts: int = 1,
    seed: int | None = None,
    steps: int | None = None,
    progress: bool = True,
    summary_samples: int = SUMMARY_SAMPLES,
) -> Result:
    r"""Fit a deep image prior model: MAP (SelfDeblur) or, for a
    :class:`~bayesdeconv.priors.VariationalDIP`, SVI with its network guide.

    Parameters
    ----------
    model : DeconvolutionModel
        Its image prior a :class:`~bayesdeconv.priors.base.NetworkPrior`; blind models with a
        :class:`~bayesdeconv.psf_priors.GeneratedPSF` (or another parametric PSF prior).
    observed : array_like
        The observed image, intensities in [0, 1] (the generator's sigmoid).
    restarts : int
        Independent runs with seeds ``seed, seed + 1, ...``; the best by the final
        objective is kept.
    seed : int, optional
        First seed (the prior's own ``seed`` when ``None``: runs are reproducible on the
        CPU).
    steps : int, optional
        Main steps; the prior's schedule is compressed or stretched to it
        (:meth:`~bayesdeconv.priors.DIPSchedule.scaled`).
    progress : bool
    summary_samples : int
        ``Predictive`` draws behind the variational DIP's std map.

    Returns
    -------
    Result
        ``method`` is ``"map"`` or ``"svi"``; ``elbo`` is the chosen run's trace of the
        ELBO (SVI) or log joint (MAP) over its ELBO phase, ``info["losses"]`` its loss
        trace per phase (``"pretrain"``, ``"elbo"``, ``"ssim"``: different objectives, not
        to be joined), ``n_iter`` all its steps; ``info["restarts"]`` lists every run's
        seed, objective and time, and
        ``info["objective_spread"]`` their standard deviation; ``info["prior"]`` and
        ``info["psf_prior"]`` are the fitted copies (the chosen run's networks; the priors
        passed in are left as they were).
    """
    reason = unsupported_reason(model)
    if reason is not None:
        raise ValueError(reason)
    if int(restarts) != restarts or restarts < 1:
        raise ValueError(f"restarts must be a positive integer, got {restarts!r}")
    # the fit owns copies of the networks, so results never share a prior's live state
    model = model.with_components(
        prior=copy.deepcopy(model.prior),
        **({"psf_prior": copy.deepcopy(model.psf_prior)} if model.blind else {}),
    )
    y = as_observed(model, observed)
    lo, hi = float(y.min()), float(y.max())
    if lo < -0.1 or hi > 1.1:
        raise ValueError(
            f"a deep image prior generates intensities in [0, 1]; the image spans "
            f"[{lo:.3g}, {hi:.3g}]: rescale it first (e.g. divide by its maximum)"
        )
    _, schedule = model.prior.settings(model.device)
    if steps is not None:
        schedule = schedule.scaled(int(steps))
    first = model.prior.seed if seed is None else int(seed)
    extra = tuple(getattr(model.prior, "factor_sites", ()))
    started = time.perf_counter()
    runs = []
    for r in range(int(restarts)):
        label = f"DIP {r + 1}/{restarts}" if restarts > 1 else "DIP"
        runs.append(_one_run(model, y, schedule, first + r, extra, progress, label))
    best = max(runs, key=lambda run: run.objective)
    _restore(model, best)
    with pyro.get_param_store().scope(best.state) as state:
        summary = summarise(
            model,
            (y,),
            guide=best.guide,
            return_sites=deconvolution_sites(model),
            num_samples=summary_samples if model.prior.variational else 1,
            seed=first,
            param_state=state,
        )
    objectives = [run.objective for run in runs]
    info = {
        "guide": "dip" if model.prior.variational else "map",
        "schedule": schedule,
        "restarts": [
            {"seed": run.seed, "objective": run.objective, "runtime": run.runtime} for run in runs
        ],
        "objective_spread": statistics.pstdev(objectives) if len(runs) > 1 else 0.0,
        "chosen_seed": best.seed,
        "losses": best.losses,
        "prior": model.prior,  # the fitted copies, networks of the chosen run
        "psf_prior": model.psf_prior,
        "summary_samples": summary.num_samples,
    }
    return deconvolution_result(
        model,
        y,
        summary,
        method="svi" if model.prior.variational else "map",
        elbo=-np.asarray(best.losses.get("elbo", [])),
        n_iter=sum(len(trace) for trace in best.losses.values()),
        converged=False,
        runtime=time.perf_counter() - started,
        info=info,
        factorised=False,
    )
