"""One registry of names, read by :func:`~bayesdeconv.deconvolve` and the command line.

Each registry maps a name to a factory. A new component is one file plus one registration
line, e.g. ``IMAGE_PRIORS.register("tv", lambda blind: TVPrior())``; the CLI's choices and
help text come from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ENGINES", "GUIDES", "IMAGE_PRIORS", "LIKELIHOODS", "PSF_PRIORS", "Registry"]


@dataclass
class Registry:
    """Names of one kind of component (or engine) and how to build each.

    Parameters
    ----------
    kind : str
        What the names are ("prior", "noise model", ...), for error messages.
    planned : tuple of str
        Names reserved for components that do not exist yet (``NotImplementedError``).
    """

    kind: str
    planned: tuple[str, ...] = ()
    _factories: dict[str, Callable[..., Any]] = field(default_factory=dict, repr=False)
    _summaries: dict[str, str] = field(default_factory=dict, repr=False)

    def register(self, name: str, factory: Callable[..., Any], summary: str = "") -> None:
        """Add ``name``; ``factory(**context)`` builds the component."""
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self._factories[name] = factory
        self._summaries[name] = summary

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a plug-in's registration, e.g. at the end of a test)."""
        self.check(name)
        del self._factories[name], self._summaries[name]

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._factories)

    def summary(self, name: str) -> str:
        """The one-line description given at registration."""
        return self._summaries[name]

    def check(self, name: str) -> None:
        """Raise ``ValueError`` (unknown) or ``NotImplementedError`` (planned) for ``name``."""
        if name in self._factories:
            return
        if name in self.planned:
            raise NotImplementedError(
                f"{self.kind} {name!r} is planned but not implemented yet; "
                f"available: {', '.join(self.names)}"
            )
        raise ValueError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names)}")

    def build(self, name: str, **context) -> Any:
        """The component registered as ``name``, built with ``context``."""
        self.check(name)
        return self._factories[name](**context)

    def resolve(self, value, **context) -> Any:
        """``build(value)`` for a name; any other object passes through unchanged."""
        return self.build(value, **context) if isinstance(value, str) else value

    def __contains__(self, name: object) -> bool:
        return name in self._factories


IMAGE_PRIORS = Registry("prior")
LIKELIHOODS = Registry("noise model")
PSF_PRIORS = Registry("PSF prior")
ENGINES = Registry("method")
GUIDES = Registry("guide", planned=("fourier", "structured", "low-rank"))


def _register_defaults() -> None:
    from bayesdeconv.guides.factory import GUIDE_SUMMARIES
    from bayesdeconv.infer.engines import DEFAULT_ENGINES
    from bayesdeconv.likelihoods import EstimatedPoissonGaussianNoise, GaussianNoise, PoissonNoise
    from bayesdeconv.priors import (
        BLIND_SPARSE_SCALE,
        DeepImagePrior,
        ExtremeChannelPrior,
        GammaFieldPrior,
        LearnedWienerPrior,
        SmoothPrior,
        VAEImagePrior,
        VariationalDIP,
        piecewise,
        sparse,
    )
    from bayesdeconv.psf_priors import ARDPSFPrior, DefocusPSF, GaussianPSF, LinearMotionPSF

    IMAGE_PRIORS.register(
        "smooth",
        lambda blind=False: SmoothPrior(),
        "first-difference Gaussian with a learned precision",
    )
    IMAGE_PRIORS.register(
        "piecewise",
        lambda blind=False: piecewise(),
        "sparse gradients, near scale-free (piecewise-constant scenes)",
    )
    IMAGE_PRIORS.register(
        "sparse",
        lambda blind=False: sparse(scale=BLIND_SPARSE_SCALE) if blind else sparse(),
        "sparse gradients tuned to photographs (Student-t scale 0.01; 0.02 in blind runs)",
    )
    IMAGE_PRIORS.register(
        "learned-wiener",
        lambda blind=False: LearnedWienerPrior(),
        "Gaussian with learned filters (shipped: photographs in 2-D, widefield volumes in 3-D)",
    )
    IMAGE_PRIORS.register(
        "gamma",
        lambda blind=False: GammaFieldPrior(),
        "independent Gamma intensities, conjugate to Poisson counts (closed-form IVB)",
    )
    IMAGE_PRIORS.register(
        "vae",
        lambda blind=False: VAEImagePrior.shipped(),
        "VAE decoder trained on filament images (shipped: DivBlurring, FWHM 3.8 px; SVI)",
    )
    IMAGE_PRIORS.register(
        "dip",
        lambda blind=False: DeepImagePrior(),
        "deep image prior: an untrained generator makes the image (SelfDeblur by MAP)",
    )
    IMAGE_PRIORS.register(
        "vdip-sparse",
        lambda blind=False: VariationalDIP(
            sparse(scale=BLIND_SPARSE_SCALE) if blind else sparse()
        ),
        "sparse gradients, posterior from a deep image prior network (variational DIP, SVI)",
    )
    IMAGE_PRIORS.register(
        "extreme-channel",
        lambda blind=False: ExtremeChannelPrior(
            sparse(scale=BLIND_SPARSE_SCALE) if blind else sparse()
        ),
        "sparse gradients times a dark/bright-channel factor (Pan 2016, Yan 2017; SVI, MAP)",
    )
    IMAGE_PRIORS.register(
        "vdip-extreme",
        lambda blind=False: VariationalDIP(
            ExtremeChannelPrior(sparse(scale=BLIND_SPARSE_SCALE) if blind else sparse())
        ),
        "extreme channels, posterior from a deep image prior network (variational DIP, SVI)",
    )
    LIKELIHOODS.register(
        "gaussian", lambda: GaussianNoise(), "additive Gaussian, learned precision"
    )
    LIKELIHOODS.register("poisson", lambda: PoissonNoise(), "photon counts")
    LIKELIHOODS.register(
        "poisson-gaussian",
        lambda: EstimatedPoissonGaussianNoise(),
        "raw camera values (gain, offset, read noise measured on the image; shifted Poisson)",
    )
    PSF_PRIORS.register(
        "ard", lambda size: ARDPSFPrior(tuple(size)), "ARD Gaussian values, mean on the simplex"
    )
    PSF_PRIORS.register(
        "gaussian",
        lambda size: GaussianPSF(tuple(size)),
        "parametric Gaussian (sigma_x, sigma_y, theta), posterior over its parameters",
    )
    PSF_PRIORS.register(
        "defocus", lambda size: DefocusPSF(tuple(size)), "parametric defocus disk (radius)"
    )
    PSF_PRIORS.register(
        "motion",
        lambda size: LinearMotionPSF(tuple(size)),
        "parametric linear motion (length, angle)",
    )
    for engine in DEFAULT_ENGINES:
        ENGINES.register(engine.name, lambda engine=engine: engine, engine.summary)
    for name, summary in GUIDE_SUMMARIES.items():
        GUIDES.register(name, lambda name=name: name, summary)


_register_defaults()
