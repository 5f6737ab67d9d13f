"""Stochastic variational inference with Pyro's ``SVI`` and the reparameterised ELBO.

One optimisation loop (:func:`run_svi`: validated first evaluation, optional JIT, convergence
stop, NaN guard) serves both kinds of model :func:`fit_svi` takes: a
:class:`~bayesdeconv.models.DeconvolutionModel`, which gives a :class:`~bayesdeconv.Result`,
and any Pyro model callable, e.g. a user's own composition of the package's components,
which gives a :class:`~bayesdeconv.infer.summarise.PosteriorSummary` of every latent and
deterministic site. Both fits keep their parameters in a private Pyro parameter store and are
summarised through ``pyro.infer.Predictive`` (:mod:`bayesdeconv.infer.summarise`).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, overload

import numpy as np
import pyro
import torch
from pyro.infer import SVI, JitTrace_ELBO, Trace_ELBO
from pyro.infer.autoguide import AutoDelta, AutoGuideList, AutoNormal
from pyro.optim import ClippedAdam
from tqdm import tqdm

from bayesdeconv import sites
from bayesdeconv.guides import make_guide
from bayesdeconv.infer._common import (
    Convergence,
    as_observed,
    deconvolution_result,
    deconvolution_sites,
    initial_values,
    start_image,
)
from bayesdeconv.infer.result import Result
from bayesdeconv.infer.summarise import (
    SUMMARY_SAMPLES,
    PosteriorSummary,
    summarise,
)
from bayesdeconv.models.deconvolution import DeconvolutionModel

__all__ = ["GENERIC_GUIDES", "fit_svi", "run_svi"]

GENERIC_GUIDES = ("mean-field", "map")
"""Guide names :func:`fit_svi` builds for a model that is not a ``DeconvolutionModel`` (pass
any other guide, e.g. ``AutoMultivariateNormal(model)``, as an object)."""


@overload
def fit_svi(model: DeconvolutionModel, observed, /, **options) -> Result: ...


@overload
def fit_svi(model: Callable, /, *args, **options) -> PosteriorSummary: ...


def fit_svi(
    model,
    /,
    *args,
    guide: str | Callable = "mean-field",
    steps: int = 3000,
    lr: float = 0.02,
    lr_decay: float = 0.01,
    num_particles: int = 1,
    tol: float = 1e-4,
    check_every: int = 100,
    seed: int | None = None,
    jit: bool = True,
    init: dict | Callable | None = None,
    progress: bool = True,
    model_kwargs: Mapping[str, Any] | None = None,
    summary_samples: int = SUMMARY_SAMPLES,
) -> Result | PosteriorSummary:
    """Fit ``model`` by maximising the reparameterised ELBO with ``pyro.infer.SVI``.

    .. math::
        \\mathcal L(\\phi) = \\mathbb E_{q_\\phi(z)}\\big[\\log p(y, z) - \\log q_\\phi(z)\\big]
        \\approx \\frac1L \\sum_{l=1}^L \\log p(y, z_l) - \\log q_\\phi(z_l),
        \\quad z_l = g_\\phi(\\varepsilon_l),

    with ``L = num_particles`` (vectorised), optimised by ``ClippedAdam`` with a learning rate
    decaying geometrically from ``lr`` to ``lr * lr_decay`` over ``steps``.

    Parameters
    ----------
    model : DeconvolutionModel or callable
        Any model of the package (the tensors' device decides CPU or CUDA), called with the
        observed image; or any Pyro model, called as ``model(*args, **model_kwargs)`` (its
        observations among the arguments).
    *args
        For a ``DeconvolutionModel``: the observed image (array_like). Otherwise the model's
        positional arguments.
    guide : str or callable
        A name: for a ``DeconvolutionModel`` ``"mean-field"``, ``"map"``, ``"full"`` or
        ``"full-psf"`` (see :func:`bayesdeconv.guides.make_guide`; ``"map"`` reports method
        ``"map"``), for another model one of :data:`GENERIC_GUIDES`. Or a guide object (an
        autoguide of ``model``, or any Pyro guide), used as it is.
    steps : int
        Maximum number of optimisation steps; ``0`` summarises the starting guide as it is
        (e.g. the amortised :math:`q(z \\mid y)` of a VAE prior's encoder), its ELBO
        trace one evaluation.
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
    init : dict or callable, optional
        Starting values (constrained space) of latent sites by name, overriding the defaults,
        e.g. another engine's posterior mean: ``{"image": result.latent_mean}``; for a
        ``DeconvolutionModel`` also an init strategy of :mod:`bayesdeconv.infer.init`. Only
        with a guide name (a guide object carries its own ``init_loc_fn``).
    progress : bool
        Show a progress bar on stderr.
    model_kwargs : Mapping, optional
        Keyword arguments of a generic model.
    summary_samples : int
        ``Predictive`` draws behind the summaries of sites without closed-form moments (see
        :mod:`bayesdeconv.infer.summarise`; the Normal and point-mass autoguides give the
        moments of their own sites exactly).

    Returns
    -------
    Result or PosteriorSummary
        A :class:`~bayesdeconv.Result` for a ``DeconvolutionModel``; otherwise the per-site
        summaries of every latent and deterministic site with ``elbo``, ``n_iter``,
        ``converged``, ``runtime`` and joint ``draws``.

    Notes
    -----
    The run stops early when the mean loss over the last ``check_every`` steps improves on the
    previous window by less than both ``tol`` (relative) and two standard errors of the
    Monte-Carlo noise. A non-finite loss raises ``FloatingPointError`` with the step number.
    Parameters live in a private Pyro parameter store, so concurrent fits do not interfere
    with each other or with the user's global store. For a blind ``DeconvolutionModel`` the
    guide's PSF location is projected onto the PSF prior's feasible set after every step
    (projected stochastic gradient, see ``_psf_location``).

    References
    ----------
    .. [1] D. P. Kingma, M. Welling, "Auto-encoding variational Bayes", ICLR 2014.
    .. [2] M. D. Hoffman, D. M. Blei, C. Wang, J. Paisley, "Stochastic variational inference",
       JMLR 14, 2013.

    Examples
    --------
    A model of one's own (a blurred and a noisy exposure of one scene sharing one unknown PSF,
    ``examples/custom_model.py``):

    >>> fit = fit_svi(two_exposures, long, short, steps=2000, progress=False)  # doctest: +SKIP
    >>> fit["psf"].mean.shape, fit["image"].std.shape  # doctest: +SKIP
    """
    if steps < 0:
        raise ValueError(f"steps must be non-negative, got {steps}")
    if num_particles < 1:
        raise ValueError(f"num_particles must be at least 1, got {num_particles}")
    if not lr > 0 or not 0 < lr_decay <= 1:
        raise ValueError(f"need lr > 0 and 0 < lr_decay <= 1, got lr={lr}, lr_decay={lr_decay}")
    loop = {
        "steps": steps,
        "lr": lr,
        "lr_decay": lr_decay,
        "num_particles": num_particles,
        "tol": tol,
        "check_every": check_every,
        "jit": jit,
        "progress": progress,
    }
    if isinstance(model, DeconvolutionModel):
        if len(args) != 1 or model_kwargs:
            raise TypeError("fit_svi(model, observed): a DeconvolutionModel takes the image only")
        return _fit_deconvolution(model, args[0], guide, init, seed, summary_samples, loop)
    if not callable(model):
        raise TypeError(f"model must be a DeconvolutionModel or a Pyro model, got {model!r}")
    return _fit_generic(
        model, args, dict(model_kwargs or {}), guide, init, seed, summary_samples, loop
    )


def run_svi(
    model: Callable,
    guide: Callable,
    args: tuple = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    steps: int,
    lr: float,
    lr_decay: float,
    num_particles: int,
    tol: float,
    check_every: int,
    jit: bool,
    progress: bool,
    max_plate_nesting: int | None = None,
    after_step: Callable[[], None] | None = None,
) -> tuple[list[float], bool]:
    """The SVI loop of :func:`fit_svi` in the current parameter store: ``(losses, converged)``.

    One validated ``Trace_ELBO`` evaluation first (readable shape and support errors), then
    ``ClippedAdam`` steps on the (optionally compiled) loss with the learning rate decaying
    geometrically to ``lr * lr_decay``; ``after_step`` runs after every step; a non-finite
    loss raises ``FloatingPointError``; the convergence stop is :class:`Convergence`.
    """
    kwargs = dict(kwargs or {})
    optim = ClippedAdam({"lr": lr, "lrd": lr_decay ** (1.0 / max(steps, 1)), "clip_norm": 1e3})
    options: dict[str, Any] = {
        "num_particles": num_particles,
        "vectorize_particles": num_particles > 1,
    }
    if max_plate_nesting is not None:
        options["max_plate_nesting"] = max_plate_nesting
    # one validated evaluation catches shape and support errors with a readable message;
    # the compiled loss then skips those checks
    with pyro.validation_enabled(True), torch.no_grad():
        first = Trace_ELBO(**options).loss(model, guide, *args, **kwargs)
    if steps == 0:
        return [first], False
    loss_fn = JitTrace_ELBO(ignore_jit_warnings=True, **options) if jit else Trace_ELBO(**options)
    svi = SVI(model, guide, optim, loss_fn)
    losses: list[float] = []
    converged = False
    stop = Convergence(check_every, tol)
    bar = tqdm(range(steps), desc="SVI", file=sys.stderr, disable=not progress, leave=False)
    for step in bar:
        with pyro.validation_enabled(False), warnings.catch_warnings():
            # torch 2.13 marks torch.jit.trace (used by JitTrace_ELBO) as deprecated
            warnings.filterwarnings("ignore", "`torch.jit.trace` is deprecated")
            loss = svi.step(*args, **kwargs)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"SVI diverged at step {step}: the ELBO became {-loss}. Lower the learning "
                f"rate (lr={lr}) or check the image scale."
            )
        losses.append(loss)
        if after_step is not None:
            after_step()
        if step % 50 == 0:
            bar.set_postfix(elbo=f"{-loss:.6g}", refresh=False)
        if tol > 0 and stop(losses):
            converged = True
            break
    bar.close()
    return losses, converged


def _fit_deconvolution(model, observed, guide, init, seed, summary_samples, loop) -> Result:
    start_time = time.perf_counter()
    y = as_observed(model, observed)
    init_values, sigma = initial_values(model, y, init)
    scales = model.prior.initial_scales(start_image(model, y)) if guide == "mean-field" else {}
    if seed is not None:
        pyro.set_rng_seed(seed)
    with pyro.get_param_store().scope() as state:
        if isinstance(guide, str):
            auto = make_guide(
                model, guide, init_values=init_values, init_scale=min(sigma, 0.1),
                init_scales=scales,
            )  # fmt: skip
        else:
            auto = guide
        projected = model.blind and not model.psf_prior.parametric
        after = (lambda: _project_psf(model, auto)) if projected else None
        losses, converged = run_svi(
            model, auto, (y,), max_plate_nesting=0, after_step=after, **loop
        )
        summary = summarise(
            model,
            (y,),
            guide=auto,
            return_sites=deconvolution_sites(model),
            num_samples=summary_samples,
            seed=seed,
            param_state=state,
        )
    exact = all(s.exact for s in summary.sites.values())
    name = guide if isinstance(guide, str) else type(guide).__name__
    return deconvolution_result(
        model,
        y,
        summary,
        method="map" if guide == "map" or isinstance(auto, AutoDelta) else "svi",
        elbo=-np.asarray(losses),
        n_iter=len(losses) if loop["steps"] else 0,
        converged=converged,
        runtime=time.perf_counter() - start_time,
        info={
            "guide": name,
            "num_particles": loop["num_particles"],
            "lr": loop["lr"],
            "summary_samples": summary.num_samples,
        },
        factorised=exact and isinstance(auto, AutoNormal | AutoDelta),
    )


def _fit_generic(model, args, kwargs, guide, init, seed, summary_samples, loop):
    start_time = time.perf_counter()
    if isinstance(guide, str):
        if guide not in GENERIC_GUIDES:
            raise ValueError(
                f"guide={guide!r} for a model of your own: choose one of {GENERIC_GUIDES} or "
                "pass a guide object, e.g. pyro.infer.autoguide.AutoMultivariateNormal(model)"
            )
        if callable(init):
            raise TypeError("init for a model of your own is a dict of site values")
    elif init is not None:
        raise ValueError("init applies to a guide name; give a guide object its own init_loc_fn")
    if seed is not None:
        pyro.set_rng_seed(seed)
    with pyro.get_param_store().scope() as state:
        if isinstance(guide, str):
            values = {name: torch.as_tensor(value) for name, value in (init or {}).items()}
            auto = make_guide(model, guide, init_values=values)
        else:
            auto = guide
        losses, converged = run_svi(model, auto, args, kwargs, **loop)
        summary = summarise(
            model,
            args,
            kwargs,
            guide=auto,
            num_samples=summary_samples,
            seed=seed,
            param_state=state,
        )
    return PosteriorSummary(
        sites=summary.sites,
        num_samples=summary.num_samples,
        elbo=-np.asarray(losses),
        n_iter=len(losses) if loop["steps"] else 0,
        converged=converged,
        runtime=time.perf_counter() - start_time,
        draw_fn=summary.draw_fn,
    )


def _psf_location(auto) -> torch.Tensor:
    """The guide parameter holding the PSF location (blind models), on the PSF grid.

    The projection after each step changes the parameter itself, in place: a projected
    stochastic gradient step, which no sampling API (``median``, ``quantiles``, ``Predictive``)
    can do, so this is the one place that reaches a guide's parameters. It uses the public
    module attributes of Pyro's autoguides: ``locs.<site>`` of ``AutoNormal`` and ``loc`` of
    the ``AutoMultivariateNormal`` that ``make_guide(..., "full-psf")`` puts first in its
    ``AutoGuideList`` (over the PSF alone, whose unconstrained value is the PSF itself).
    """
    if isinstance(auto, AutoGuideList):
        return auto[0].loc
    if isinstance(auto, AutoNormal):
        return getattr(auto.locs, sites.PSF)
    raise ValueError(f"{type(auto).__name__} is not supported for blind models")


def _project_psf(model: DeconvolutionModel, auto) -> None:
    """Keep the PSF location feasible for its prior (projected stochastic gradient)."""
    with torch.no_grad():
        loc = _psf_location(auto)
        loc.copy_(model.psf_prior.project(loc))
