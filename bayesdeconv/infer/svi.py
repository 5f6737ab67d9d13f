"""Stochastic variational inference with Pyro's ``SVI`` and the reparameterised ELBO."""

from __future__ import annotations

import math
import sys
import time
import warnings

import numpy as np
import pyro
import torch
from pyro.infer import SVI, JitTrace_ELBO, Trace_ELBO
from pyro.infer.autoguide import AutoDelta, AutoGuideList, AutoNormal
from pyro.optim import ClippedAdam
from tqdm.auto import tqdm

from bayesdeconv import sites
from bayesdeconv.guides import make_guide
from bayesdeconv.infer._common import (
    Convergence,
    as_observed,
    fixed_precisions,
    initial_values,
    mean_field_drawer,
    to_numpy,
)
from bayesdeconv.infer.result import LogNormalPosterior, PointValue, Result
from bayesdeconv.models.deconvolution import DeconvolutionModel

__all__ = ["fit_svi"]


def fit_svi(
    model: DeconvolutionModel,
    observed,
    *,
    guide: str = "mean-field",
    steps: int = 3000,
    lr: float = 0.02,
    lr_decay: float = 0.01,
    num_particles: int = 1,
    tol: float = 1e-4,
    check_every: int = 100,
    seed: int | None = None,
    jit: bool = True,
    init: dict | None = None,
    progress: bool = True,
) -> Result:
    """Fit ``model`` by maximising the reparameterised ELBO with ``pyro.infer.SVI``.

    .. math::
        \\mathcal L(\\phi) = \\mathbb E_{q_\\phi(z)}\\big[\\log p(y, z) - \\log q_\\phi(z)\\big]
        \\approx \\frac1L \\sum_{l=1}^L \\log p(y, z_l) - \\log q_\\phi(z_l),
        \\quad z_l = g_\\phi(\\varepsilon_l),

    with ``L = num_particles`` (vectorised), optimised by ``ClippedAdam`` with a learning rate
    decaying geometrically from ``lr`` to ``lr * lr_decay`` over ``steps``.

    Parameters
    ----------
    model : DeconvolutionModel
        Any model of the package (the tensors' device decides CPU or CUDA).
    observed : array_like
        The observed image.
    guide : {"mean-field", "map", "full"}
        See :func:`bayesdeconv.guides.make_guide`. ``"map"`` reports method ``"map"``.
    steps : int
        Maximum number of optimisation steps.
    lr, lr_decay : float
        Initial learning rate and the total decay factor over ``steps``.
    num_particles : int
        Monte-Carlo samples per ELBO estimate.
    tol : float
        Relative tolerance of the convergence stop (checked every ``check_every`` steps, see
        Notes); ``tol=0`` runs all ``steps``.
    seed : int, optional
        Seeds Pyro's random state for a reproducible run.
    jit : bool
        Compile the loss with ``JitTrace_ELBO`` (faster per step on the CPU; see the
        benchmarks); the first evaluation is always a plain, validated ``Trace_ELBO``.
    init : dict, optional
        Starting values (constrained space) of latent sites by name, overriding the defaults,
        e.g. another engine's posterior mean: ``{"image": result.latent_mean}``.
    progress : bool
        Show a progress bar on stderr.

    Notes
    -----
    The run stops early when the mean loss over the last ``check_every`` steps improves on the
    previous window by less than both ``tol`` (relative) and two standard errors of the
    Monte-Carlo noise. A non-finite loss raises ``FloatingPointError`` with the step number.
    Parameters live in a private Pyro parameter store, so concurrent fits do not interfere
    with each other or with the user's global store.

    References
    ----------
    .. [1] D. P. Kingma, M. Welling, "Auto-encoding variational Bayes", ICLR 2014.
    .. [2] M. D. Hoffman, D. M. Blei, C. Wang, J. Paisley, "Stochastic variational inference",
       JMLR 14, 2013.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if num_particles < 1:
        raise ValueError(f"num_particles must be at least 1, got {num_particles}")
    if not lr > 0 or not 0 < lr_decay <= 1:
        raise ValueError(f"need lr > 0 and 0 < lr_decay <= 1, got lr={lr}, lr_decay={lr_decay}")
    start_time = time.perf_counter()
    y = as_observed(model, observed)
    init_values, sigma = initial_values(model, y, init)
    if seed is not None:
        pyro.set_rng_seed(seed)
    store = pyro.get_param_store()
    with store.scope() as state:
        auto = make_guide(model, guide, init_values=init_values, init_scale=min(sigma, 0.1))
        optim = ClippedAdam({"lr": lr, "lrd": lr_decay ** (1.0 / steps), "clip_norm": 1e3})
        options = {
            "num_particles": num_particles,
            "vectorize_particles": num_particles > 1,
            "max_plate_nesting": 0,
        }
        # one validated evaluation catches shape and support errors with a readable message;
        # the compiled loss then skips those checks
        with pyro.validation_enabled(True), torch.no_grad():
            Trace_ELBO(**options).loss(model, auto, y)
        loss_fn = (
            JitTrace_ELBO(ignore_jit_warnings=True, **options) if jit else Trace_ELBO(**options)
        )
        svi = SVI(model, auto, optim, loss_fn)
        losses: list[float] = []
        converged = False
        stop = Convergence(check_every, tol)
        bar = tqdm(range(steps), desc="SVI", file=sys.stderr, disable=not progress, leave=False)
        for step in bar:
            with pyro.validation_enabled(False), warnings.catch_warnings():
                # torch 2.13 marks torch.jit.trace (used by JitTrace_ELBO) as deprecated
                warnings.filterwarnings("ignore", "`torch.jit.trace` is deprecated")
                loss = svi.step(y)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"SVI diverged at step {step}: the ELBO became {-loss}. Lower the learning "
                    f"rate (lr={lr}) or check the image scale."
                )
            losses.append(loss)
            if model.blind:
                _project_psf(model, auto)
            if step % 50 == 0:
                bar.set_postfix(elbo=f"{-loss:.6g}", refresh=False)
            if tol > 0 and stop(losses):
                converged = True
                break
        bar.close()
        summary = _summarise(model, auto)
    runtime = time.perf_counter() - start_time

    op = model.operator
    latent_mean, latent_std, hyper = summary
    frame_mean = latent_mean[op.frame]
    frame_std = latent_std[op.frame]

    if isinstance(auto, AutoNormal | AutoDelta | AutoGuideList):
        draw = mean_field_drawer(frame_mean, frame_std, hyper)
    else:

        def draw(n: int, rng: np.random.Generator, region=None) -> dict[str, np.ndarray]:
            sub = (slice(None),) * op.ndim if region is None else region
            out = {sites.IMAGE: _guide_draws(auto, state, n, rng, op, sub)}
            for name, q in hyper.items():
                out[name] = q.sample(n, rng)
            return out

    psf, psf_std = hyper.pop(sites.PSF, (to_numpy(op.psf), np.zeros(op.psf.shape)))
    return Result(
        mean=frame_mean,
        std=frame_std,
        psf=psf,
        psf_std=psf_std,
        elbo=-np.asarray(losses),
        observed=to_numpy(y),
        method="map" if guide == "map" else "svi",
        hyperparameters=hyper,
        latent_mean=latent_mean,
        latent_std=latent_std,
        n_iter=len(losses),
        converged=converged,
        runtime=runtime,
        info={"guide": guide, "num_particles": num_particles, "lr": lr},
        draw_fn=draw,
    )


def _hyper_sites(model: DeconvolutionModel) -> list[str]:
    return [name for name, spec in model.hyperparameters().items() if spec.learned]


def _psf_loc(auto):
    """The guide parameter holding the PSF mean (blind models), viewed on the PSF grid."""
    if isinstance(auto, AutoGuideList):
        return auto[0].loc
    if isinstance(auto, AutoNormal):
        return auto.locs.psf
    raise ValueError(f"{type(auto).__name__} is not supported for blind models")


def _project_psf(model: DeconvolutionModel, auto) -> None:
    """Keep the PSF mean feasible for its prior (projected stochastic gradient)."""
    with torch.no_grad():
        loc = _psf_loc(auto)
        loc.copy_(model.psf_prior.project(loc))


def _summarise(model: DeconvolutionModel, auto) -> tuple[np.ndarray, np.ndarray, dict]:
    """Image mean/std on the latent grid and precision posteriors, read off the guide.

    For blind models the returned dict also holds ``(psf mean, psf std)`` under ``"psf"``.
    """
    hyper: dict = {}
    with torch.no_grad():
        if model.blind:
            size = model.psf_prior.size
            if isinstance(auto, AutoGuideList):
                mvn = auto[0]
                psf_std = mvn.scale[:, None] * mvn.scale_tril
                psf_std = psf_std.pow(2).sum(1).sqrt()
                hyper[sites.PSF] = (
                    to_numpy(mvn.loc.reshape(size)),
                    to_numpy(psf_std.reshape(size)),
                )
                auto = auto[1]
            elif isinstance(auto, AutoNormal):
                hyper[sites.PSF] = (to_numpy(auto.locs.psf), to_numpy(auto.scales.psf))
            else:
                raise ValueError(f"{type(auto).__name__} is not supported for blind models")
        if isinstance(auto, AutoNormal):
            mean = to_numpy(auto.locs.image)
            std = to_numpy(auto.scales.image)
            for name in _hyper_sites(model):
                loc, scale = getattr(auto.locs, name), getattr(auto.scales, name)
                hyper[name] = LogNormalPosterior(float(loc), float(scale))
        elif isinstance(auto, AutoDelta):
            medians = auto.median()
            mean = to_numpy(medians[sites.IMAGE])
            std = np.zeros_like(mean)
            for name in _hyper_sites(model):
                hyper[name] = PointValue(float(medians[name]))
        else:
            draws = [auto() for _ in range(500)]
            stack = torch.stack([d[sites.IMAGE] for d in draws])
            mean, std = to_numpy(stack.mean(0)), to_numpy(stack.std(0))
            for name in _hyper_sites(model):
                values = np.array([float(d[name]) for d in draws])
                log = np.log(values)
                hyper[name] = LogNormalPosterior(float(log.mean()), float(log.std(ddof=1)))
    hyper.update(fixed_precisions(model))
    return mean, std, hyper


def _guide_draws(auto, state, n: int, rng: np.random.Generator, op, sub) -> np.ndarray:
    """Draw images from a general guide inside its own parameter store."""
    seed = int(rng.integers(2**31))
    with pyro.get_param_store().scope(state), torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        images = [to_numpy(op.crop(auto()[sites.IMAGE])) for _ in range(n)]
    return np.stack(images)[(slice(None), *sub)]
