"""Engines as objects: what each supports, which options it takes, and how it fits a model.

:func:`~bayesdeconv.deconvolve` asks every registered engine whether it ``supports`` the model
(no engine inspects concrete component classes: they check capabilities) and, with
``method=None``, takes the first of :data:`AUTO_ORDER` that does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from bayesdeconv import sites
from bayesdeconv.infer import blind, dip, gibbs, ivb, parametric_ivb, poisson_vb
from bayesdeconv.infer._common import mean_field_drawer
from bayesdeconv.infer.collapsed import fit_psf_parameters
from bayesdeconv.infer.result import Result, SamplePosterior
from bayesdeconv.infer.svi import fit_svi
from bayesdeconv.infer.vadam import fit_vadam
from bayesdeconv.likelihoods.base import ConjugateGaussianLikelihood
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.priors.base import CirculantGaussianPrior, NetworkPrior

__all__ = ["AUTO_ORDER", "DEFAULT_ENGINES", "Engine", "FitOptions"]

AUTO_ORDER = ("evidence", "ivb", "svi", "map")
"""Engines tried in turn when ``deconvolve(method=None)``: closed form where it applies."""


@dataclass(frozen=True)
class FitOptions:
    """Options :func:`~bayesdeconv.deconvolve` hands to an engine.

    Attributes
    ----------
    steps : int, optional
        Iteration limit (IVB sweeps, SVI/Vadam steps, kept Gibbs draws); engine default if None.
    seed : int, optional
        Seed of the stochastic engines.
    progress : bool
        Progress bar on stderr.
    guide : str, optional
        SVI guide name.
    psf_covariance, psf_update : str
        Blind IVB: covariance family and update rule of q(k).
    psf_init : str or numpy.ndarray
        Blind: ``"search"``, ``"pyramid"`` or a starting kernel.
    std : str
        IVB with a Gaussian (smooth) prior: ``"auto"`` or ``"family"`` (see
        :func:`~bayesdeconv.infer.ivb.fit_ivb`).
    restarts : int
        Deep image priors (MAP and SVI): seeded runs, the best by the final objective kept
        (:func:`~bayesdeconv.infer.dip.fit_dip`).
    """

    steps: int | None = None
    seed: int | None = None
    progress: bool = True
    guide: str | None = None
    psf_covariance: str = "full"
    psf_update: str = "closed-form"
    psf_init: str | np.ndarray = "search"
    std: str = "auto"
    restarts: int = 1


class Engine(Protocol):
    """An inference engine: ``supports`` says why not (or ``None``), ``fit`` runs it."""

    name: str
    summary: str
    options: frozenset[str]
    """Non-default :class:`FitOptions` fields the engine honours (others must stay default);
    ``"pyramid"`` marks an engine that runs ``psf_init="pyramid"``."""
    dtype: torch.dtype

    def supports(self, model: DeconvolutionModel) -> str | None: ...

    def fit(self, model: DeconvolutionModel, y: torch.Tensor, options: FitOptions) -> Result: ...


def _search_start(model: DeconvolutionModel, y: torch.Tensor, options: FitOptions):
    """The blind start of the stochastic engines: ``psf_init`` or the scored kernel search."""
    start = options.psf_init
    if isinstance(start, str):  # "search": the only string left for SVI and Vadam
        start, _ = blind.search_start(model, y, progress=options.progress)
    return {sites.PSF: start}


@dataclass(frozen=True)
class IVBEngine:
    """Closed-form iterative VB: Fourier/diagonal IVB for circulant Gaussian priors, sparse
    (ARD) IVB for Gaussian scale mixtures, blind or not, parametric PSFs under scale
    mixtures, and Poisson counts under the Gamma intensity prior."""

    name: str = "ivb"
    summary: str = "closed-form iterative variational Bayes (Gaussian noise)"
    options: frozenset[str] = frozenset(
        {"steps", "seed", "psf_covariance", "psf_update", "psf_init", "pyramid", "std"}
    )
    dtype: torch.dtype = torch.float64

    def supports(self, model: DeconvolutionModel) -> str | None:
        circulant, scale_mixture = ivb.unsupported_reason(model), blind.unsupported_reason(model)
        counts = poisson_vb.unsupported_reason(model)
        if circulant is None or scale_mixture is None or counts is None:
            return None
        if model.blind and model.psf_prior.parametric:
            return parametric_ivb.unsupported_reason(model)
        if model.blind:
            return scale_mixture
        if not isinstance(model.noise, ConjugateGaussianLikelihood):
            return circulant  # names the noise model and the way out (SVI)
        return (
            "IVB needs a Gaussian image prior with a circulant precision "
            "(CirculantGaussianPrior) or a Gaussian scale-mixture prior "
            f"(GaussianScaleMixturePrior), got {type(model.prior).__name__}; use method='svi'"
        )

    def fit(self, model: DeconvolutionModel, y: torch.Tensor, options: FitOptions) -> Result:
        steps = {} if options.steps is None else {"max_iter": int(options.steps)}
        if poisson_vb.unsupported_reason(model) is None:
            # single precision: twice the speed, and counts need no more (exactness is
            # tested through fit_poisson_vb in double precision)
            std = "mean-field" if options.std == "family" else "laplace"
            return poisson_vb.fit_poisson_vb(
                model, y, progress=options.progress, dtype=torch.float32, std=std, **steps
            )
        if model.blind and model.psf_prior.parametric:
            seed = {} if options.seed is None else {"seed": int(options.seed)}
            return parametric_ivb.fit_parametric_ivb(
                model, y, progress=options.progress, **seed, **steps
            )
        if blind.unsupported_reason(model) is None:
            if options.std != "auto":
                raise ValueError(
                    "std applies to IVB with a Gaussian (smooth) prior; the scale-mixture "
                    "priors report their mean-field std"
                )
            return blind.fit_sparse_ivb(
                model,
                y,
                psf_covariance=options.psf_covariance,
                psf_update=options.psf_update,
                psf_init=options.psf_init,
                seed=options.seed,
                progress=options.progress,
                **steps,
            )
        std = {"std_seed": options.seed} if options.seed is not None else {}
        return ivb.fit_ivb(model, y, std=options.std, progress=options.progress, **std, **steps)


@dataclass(frozen=True)
class GibbsEngine:
    """Gibbs sampling of the Gaussian scale-mixture models, started from (and, when blind,
    conditional on the PSF of) a sparse IVB fit."""

    name: str = "gibbs"
    summary: str = "Gibbs sampling of the sparse-gradient models after IVB"
    options: frozenset[str] = frozenset(
        {"steps", "psf_covariance", "psf_update", "psf_init", "pyramid"}
    )
    dtype: torch.dtype = torch.float64

    def supports(self, model: DeconvolutionModel) -> str | None:
        return gibbs.unsupported_reason(model) or blind.unsupported_reason(model)

    def fit(self, model: DeconvolutionModel, y: torch.Tensor, options: FitOptions) -> Result:
        start = blind.fit_sparse_ivb(
            model,
            y,
            psf_covariance=options.psf_covariance,
            psf_update=options.psf_update,
            psf_init=options.psf_init,
            seed=options.seed,
            progress=options.progress,
        )
        draws = {} if options.steps is None else {"num_samples": int(options.steps)}
        return gibbs.gibbs_sparse(
            model, y, init=start, seed=options.seed, progress=options.progress, **draws
        )


@dataclass(frozen=True)
class SVIEngine:
    """Pyro SVI on the reparameterised ELBO with an autoguide (any model); deep image priors
    through :func:`~bayesdeconv.infer.dip.fit_dip` (MAP: SelfDeblur, SVI: variational DIP)."""

    name: str = "svi"
    summary: str = "Pyro SVI with an autoguide (any prior and noise model)"
    options: frozenset[str] = frozenset({"steps", "seed", "guide", "psf_init", "restarts"})
    dtype: torch.dtype = torch.float32
    guide: str = "mean-field"
    blind: bool = True
    """Whether blind models are supported (a point-mass PSF and image collapse to no blur;
    a deep image prior's generated image and kernel are the exception)."""

    def supports(self, model: DeconvolutionModel) -> str | None:
        if isinstance(model.prior, NetworkPrior):
            if model.prior.variational != (self.guide != "map"):
                right = "svi" if model.prior.variational else "map"
                return f"{model.prior.name} is fitted by method={right!r}"
            return dip.unsupported_reason(model)
        if model.blind and not self.blind:
            return (
                f"{self.name} supports known PSFs only; blind deconvolution supports methods "
                "'ivb', 'svi', 'vadam' and 'gibbs' (and 'map' with prior='dip')"
            )
        return None

    def fit(self, model: DeconvolutionModel, y: torch.Tensor, options: FitOptions) -> Result:
        extra = {} if options.steps is None else {"steps": int(options.steps)}
        if isinstance(model.prior, NetworkPrior):
            if options.guide is not None:
                raise ValueError("a deep image prior brings its own guide; leave guide unset")
            return dip.fit_dip(
                model, y, restarts=options.restarts, seed=options.seed,
                progress=options.progress, **extra,
            )  # fmt: skip
        if options.restarts != 1:
            raise ValueError("restarts apply to deep image priors (prior='dip', 'vdip-...')")
        if model.blind and not model.psf_prior.parametric:
            extra["init"] = _search_start(model, y, options)
        guide = options.guide or self.guide
        return fit_svi(model, y, guide=guide, seed=options.seed, progress=options.progress, **extra)


@dataclass(frozen=True)
class VadamEngine:
    """Vadam (Khan et al. 2018) on the model's potential: a mean-field Gaussian."""

    name: str = "vadam"
    summary: str = "Vadam weight-perturbation VI (mean-field Gaussian)"
    options: frozenset[str] = frozenset({"steps", "seed", "psf_init"})
    dtype: torch.dtype = torch.float32

    def supports(self, model: DeconvolutionModel) -> str | None:
        if isinstance(model.prior, NetworkPrior):
            return "vadam does not fit deep image priors; use method='map' or 'svi'"
        if model.blind and model.psf_prior.parametric:
            return (
                "vadam updates PSF values, not the parameters of a parametric PSF "
                f"({type(model.psf_prior).__name__}); use method='svi'"
            )
        return None

    def fit(self, model: DeconvolutionModel, y: torch.Tensor, options: FitOptions) -> Result:
        extra = {} if options.steps is None else {"steps": int(options.steps)}
        if model.blind:
            extra["init"] = _search_start(model, y, options)
        return fit_vadam(model, y, seed=options.seed, progress=options.progress, **extra)


def _evidence_drawer(post, hyper: dict, parameters: dict):
    """A ``Result.draw_fn`` for the evidence engine: the precisions and PSF parameters jointly
    (one stored NUTS draw per posterior draw), the pixels independently with the averaged
    mean and std (the first two moments of the image posterior mixture)."""
    pixels = mean_field_drawer(post.mean, post.std, {})
    stored = {
        **{k: v.values for k, v in hyper.items()},
        **{k: v.values for k, v in parameters.items()},
    }
    count = min(len(v) for v in stored.values())

    def draw(n: int, rng: np.random.Generator, region=None) -> dict[str, np.ndarray]:
        pick = rng.integers(count, size=n)
        out = pixels(n, rng, region)
        out.update({name: np.asarray(values)[pick] for name, values in stored.items()})
        return out

    return draw


@dataclass(frozen=True)
class EvidenceEngine:
    """NUTS on the few parameters of a parametric PSF and the precisions, the image integrated
    out in closed form (:func:`~bayesdeconv.infer.collapsed.fit_psf_parameters`)."""

    name: str = "evidence"
    summary: str = (
        "NUTS on a parametric PSF's parameters, the image integrated out "
        "(smooth prior, Gaussian noise, circular, no mask)"
    )
    options: frozenset[str] = frozenset({"steps", "seed"})
    dtype: torch.dtype = torch.float64

    def supports(self, model: DeconvolutionModel) -> str | None:
        if not (model.blind and model.psf_prior.parametric):
            return "the evidence engine samples the parameters of a parametric PSF prior"
        if not model.psf_prior.parameter_sites:
            return "the PSF prior has no parameter sites to sample"
        if not isinstance(model.prior, CirculantGaussianPrior):
            return "integrating the image out needs a Gaussian (smooth) image prior"
        if not isinstance(model.noise, ConjugateGaussianLikelihood):
            return "integrating the image out needs Gaussian noise"
        if not model.operator.is_circulant or model.mask is not None:
            return "integrating the image out needs boundary='circular' and no mask"
        return None

    def fit(self, model: DeconvolutionModel, y: torch.Tensor, options: FitOptions) -> Result:
        start = time.perf_counter()
        psf_prior = model.psf_prior
        steps = {} if options.steps is None else {"num_samples": int(options.steps)}
        post = fit_psf_parameters(
            y,
            lambda **params: psf_prior.kernel(dtype=model.dtype, device=model.device, **params),
            psf_prior.parameter_priors(),
            model.prior,
            image_precision=model.prior.precision,
            noise_precision=model.noise.precision,
            start=psf_prior.estimate_parameters(y),
            seed=0 if options.seed is None else int(options.seed),
            progress=options.progress,
            **steps,
        )
        hyper = {
            sites.NOISE_PRECISION: SamplePosterior(post.noise_precision),
            sites.IMAGE_PRECISION: SamplePosterior(post.image_precision),
        }
        parameters = {
            sites.psf_parameter(name): SamplePosterior(psf_prior.wrap(name, values))
            for name, values in post.psf_parameters.items()
        }
        n_draws = len(next(iter(post.psf_parameters.values()), post.noise_precision))
        return Result(
            mean=post.mean,
            std=post.std,
            psf=post.psf,
            psf_std=post.psf_std,
            elbo=np.zeros(0),
            observed=y.detach().cpu().numpy(),
            method=self.name,
            hyperparameters=hyper,
            latent_mean=post.mean,
            latent_std=post.std,
            n_iter=n_draws,
            converged=True,
            runtime=time.perf_counter() - start,
            info={
                "image_posterior": f"averaged over {post.n_image_draws} parameter draws",
                "diagnostics": post.diagnostics,
            },
            draw_fn=_evidence_drawer(post, hyper, parameters),
            blind=True,
            psf_parameters=parameters,
        )


DEFAULT_ENGINES: tuple[Engine, ...] = (
    IVBEngine(),
    SVIEngine(),
    SVIEngine(
        name="map",
        summary="MAP point estimate (SVI with a point-mass guide)",
        options=frozenset({"steps", "seed", "psf_init", "restarts"}),
        guide="map",
        blind=False,
    ),
    VadamEngine(),
    GibbsEngine(),
    EvidenceEngine(),
)
"""The engines registered under their names in :data:`bayesdeconv.registry.ENGINES`."""
