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
  inside the frame (``SparseSweeps._cross_covariance_term``).
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
shrinks weak gradients less (Levin success 72 % -> 94 %; docs/decisions/0001).
``psf_init="pyramid"`` runs the
variational sweeps themselves coarse to fine: the image and mask are downsampled
(anti-aliased) by factors of :math:`\\sqrt2` until the PSF support is 3 pixels; the PSF found
at each level is magnified by the image's factor, re-centred on its centroid and starts the
next level. On the Levin 2009 benchmark the search start is much the better
(docs/decisions/0008). With a known PSF the first sweeps anneal the Gamma rate of
:math:`q(w)` (continuation, see :func:`fit_sparse_ivb`). At the finest level the ELBO is
tracked every sweep and, after any continuation sweeps, never decreases (``Result.elbo``).

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

import numpy as np
import torch
from tqdm import tqdm

from bayesdeconv import sites
from bayesdeconv.infer._common import (
    as_observed,
    estimate_noise_std,
    initial_image,
    mean_field_drawer,
    to_numpy,
)
from bayesdeconv.infer.init import SEARCH_SETTINGS, kernel_search_start
from bayesdeconv.infer.pyramid import (
    downsample,
    initial_psf,
    pyramid_schedule,
    recentre,
    rescale_psf,
)
from bayesdeconv.infer.result import PointValue, Result
from bayesdeconv.infer.sparse_sweeps import SparseSweeps, initial_state, make_level
from bayesdeconv.likelihoods.base import ConjugateGaussianLikelihood
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
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
LOG_2PI = math.log(2 * math.pi)


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
        sharper (about 7 dB on the piecewise test image of ``tests/infer/test_blind.py``). Default:
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
        ``psf``, ``elbo`` and ``state``, the variational factors of that sweep
        (:class:`~bayesdeconv.infer.sparse_sweeps.SweepState`; read it, do not modify it).
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    Result
        ``method="ivb"``. ``psf``/``psf_std`` hold q(k)'s mean (on the simplex) and marginal
        std; ``psf_covariance`` q(k)'s covariance; ``std`` the mean-field image std; ``elbo``
        the finest scale's trace; the read-only ``info`` has the per-scale traces; for a blind fit
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
        schedule = pyramid_schedule(op.observed_shape, size)
    else:
        schedule = [(op.observed_shape, size)]
    if not blind:
        psf = op.psf
    elif start_mode == "pyramid":
        psf = initial_psf(schedule[0][1], dtype, device)
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
    # no total: the finest scale stops at convergence, usually long before max_iter
    bar = tqdm(
        desc="blind IVB sweeps", unit="sweep", file=sys.stderr, disable=not progress, leave=False
    )
    traces: list[list[float]] = []
    engine = state = None
    converged = False
    for index, (shape, psf_size) in enumerate(schedule):
        finest = index == len(schedule) - 1
        if finest:
            level_op, y_l, mask_l = op, y, mask
        else:
            y_l = downsample(y, shape)
            mask_l = None if mask is None else downsample(mask.to(dtype), shape) > 0.999
            level_op = ConvolutionOperator(
                torch.zeros(psf_size, dtype=dtype),
                shape,
                boundary=op.boundary,
                dtype=dtype,
                device=device,
            )
        if blind and index > 0:
            factors = tuple(n / m for n, m in zip(shape, schedule[index - 1][0], strict=True))
            psf = recentre(rescale_psf(psf, factors, psf_size))
        level = make_level(level_op, y_l, mask_l)
        level_model = DeconvolutionModel(
            level_op,
            prior=model.prior,
            noise=model.noise,
            mask=mask_l,
            psf_prior=(None if not blind else model.psf_prior.resized(psf_size)),
        )
        engine = SparseSweeps(
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
        init_cov = torch.full((psf.numel(),), 1e-8, dtype=dtype, device=device)
        psf_cov = torch.diag(init_cov) if psf_covariance == "full" else init_cov
        state = initial_state(model.prior, x0, psf, psf_cov, e_gamma0)
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
                        "state": state,
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
    psf_cov = to_numpy(state.psf_cov) if blind else None
    psf_posterior = {sites.PSF: (psf_np, psf_cov)} if blind else None
    if blind:
        info.update(
            psf_covariance=psf_covariance,
            psf_update=psf_update,
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
        draw_fn=mean_field_drawer(
            latent_mean[frame], latent_std[frame], hyper, gaussians=psf_posterior
        ),
        blind=blind,
        psf_covariance=psf_cov,
    )
