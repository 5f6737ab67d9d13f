"""The one result type every engine returns, and the scalar posteriors it holds."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bayesdeconv import sites

if TYPE_CHECKING:  # pragma: no cover
    import arviz

__all__ = [
    "NO_PIXELS",
    "LogNormalPosterior",
    "PointValue",
    "Result",
    "SamplePosterior",
    "ScalarPosterior",
]


class ScalarPosterior(Protocol):
    """A posterior over one positive scalar (a precision): mean, std and draws."""

    @property
    def mean(self) -> float: ...

    @property
    def std(self) -> float: ...

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray: ...


NO_PIXELS = (slice(0, 0),)
"""One axis of an empty ``region`` for :meth:`Result.draws`."""


@dataclass(frozen=True)
class PointValue:
    """A value held fixed (or a MAP point): zero spread."""

    value: float

    @property
    def mean(self) -> float:
        return self.value

    @property
    def std(self) -> float:
        return 0.0

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.full(n, self.value)


@dataclass(frozen=True)
class LogNormalPosterior:
    """:math:`\\log\\theta \\sim \\mathcal N(\\mu, s^2)` (a mean-field guide on a positive site)."""

    loc: float
    scale: float

    @property
    def mean(self) -> float:
        return math.exp(self.loc + 0.5 * self.scale**2)

    @property
    def std(self) -> float:
        return self.mean * math.sqrt(math.expm1(self.scale**2))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.exp(self.loc + self.scale * rng.standard_normal(n))


@dataclass(frozen=True)
class SamplePosterior:
    """A scalar posterior represented by draws (MCMC or Monte-Carlo): ``mean``, ``std``,
    ``sample`` (resampling the stored draws)."""

    values: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        return float(np.std(self.values))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(self.values, size=n, replace=True)


Drawer = Callable[[int, np.random.Generator, tuple | None], dict[str, np.ndarray]]
"""``draw(n, rng, region)``: ``n`` joint draws by site name, the image limited to ``region``."""


def _read_only(info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(info or {}))


@dataclass(frozen=True, eq=False)
class Result:
    """Posterior summary of a deconvolution, the same for every engine.

    An immutable record: assigning a field raises ``dataclasses.FrozenInstanceError``; build a
    modified copy with :func:`dataclasses.replace`. Nothing in the package reads ``info``: every
    value an engine or a caller acts on has its own typed field.

    Attributes
    ----------
    mean, std : numpy.ndarray
        Posterior mean and marginal standard deviation of the sharp image on the observed field
        of view (the observed image's shape).
    psf, psf_std : numpy.ndarray
        PSF posterior mean and std (``psf_std`` is zeros for a known PSF).
    elbo : numpy.ndarray
        The ELBO per iteration (1-D). For IVB it is the closed-form ELBO; for SVI the negated
        per-step loss (a noisy Monte-Carlo estimate); for a deep image prior the ELBO (or log
        joint) over its ELBO phase only, which starts after the schedule's ``pretrain`` steps
        (``info["losses"]`` holds every phase).
    observed : numpy.ndarray
        The data the posterior is conditioned on.
    method : str
        Engine name (``"exact"``, ``"ivb"``, ``"svi"``, ``"map"``, ``"vadam"``, ``"gibbs"``).
    hyperparameters : dict
        Posterior of each precision by site name (objects with ``mean``, ``std``, ``sample``).
    latent_mean, latent_std : numpy.ndarray
        The same on the whole latent grid (larger than the image for ``boundary="valid"``).
    n_iter : int
        Iterations or steps run (for a sampler: every sweep, burn-in included).
    converged : bool
        Whether the engine's stopping rule was met before its iteration limit.
    runtime : float
        Wall time of the engine in seconds.
    info : Mapping
        Read-only engine diagnostics (covariance family, solver iterations, ...), for people;
        the package never branches on them.
    draw_fn : callable, optional
        The sampler behind :meth:`draws` (see ``Drawer``).
    blind : bool
        Whether the PSF was estimated; then :meth:`draws` also returns ``psf`` draws.
    psf_covariance : numpy.ndarray, optional
        Covariance of a Gaussian PSF posterior over the flattened PSF: ``(n, n)`` (full) or
        ``(n,)`` (its diagonal), ``n = psf.size`` (blind IVB's q(k)).
    samples : numpy.ndarray, optional
        The kept image draws of a sampler, ``(num_samples, *mean.shape)`` (Gibbs).
    burn_in : int, optional
        Sweeps a sampler discarded before ``samples`` (Gibbs).
    log_evidence : float, optional
        :math:`\\log p(y)` from the closed form (``method="exact"``).
    psf_parameters : dict
        Posterior of each free parameter of a parametric PSF by site name (``psf_sigma``,
        ...; see :class:`~bayesdeconv.psf_priors.ParametricPSFPrior`), as draws
        (:class:`SamplePosterior`, its ``values`` give intervals); empty otherwise.
    marginal_quantile : callable, optional
        ``q(p)``: the per-pixel ``p``-quantile of posterior marginals that are not Gaussian
        (the Gamma marginals of the Poisson engine), used by :meth:`credible_interval`.
    """

    mean: np.ndarray
    std: np.ndarray
    psf: np.ndarray
    psf_std: np.ndarray
    elbo: np.ndarray
    observed: np.ndarray
    method: str
    hyperparameters: dict[str, ScalarPosterior]
    latent_mean: np.ndarray
    latent_std: np.ndarray
    n_iter: int
    converged: bool
    runtime: float
    info: Mapping[str, Any] = field(default_factory=dict)
    draw_fn: Drawer | None = field(default=None, repr=False)
    blind: bool = False
    psf_covariance: np.ndarray | None = field(default=None, repr=False)
    samples: np.ndarray | None = field(default=None, repr=False)
    burn_in: int | None = None
    log_evidence: float | None = None
    psf_parameters: dict[str, ScalarPosterior] = field(default_factory=dict)
    marginal_quantile: Callable[[float], np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "info", _read_only(self.info))

    def draws(
        self, n: int, *, seed: int | None = None, region: tuple[slice, ...] | None = None
    ) -> dict[str, np.ndarray]:
        """Joint posterior draws of every site.

        Returns ``{"image": (n, *shape), "<precision site>": (n,), ...}`` and, for a blind
        result, ``"psf": (n, *psf.shape)``; ``region`` (a tuple of slices on the image) limits
        the image draws to a window, which keeps memory small for large images; an empty
        window (``NO_PIXELS * image.ndim``) draws the other sites only, which spares the
        samplers that solve a system per image draw.
        """
        if int(n) < 1:
            raise ValueError(f"number of draws must be at least 1, got {n}")
        if self.draw_fn is None:
            raise ValueError(f"the {self.method!r} result carries no sampler")
        return self.draw_fn(int(n), np.random.default_rng(seed), region)

    def sample(self, n: int, *, seed: int | None = None) -> np.ndarray:
        """``n`` posterior draws of the sharp image, shape ``(n, *self.mean.shape)``."""
        return self.draws(n, seed=seed)[sites.IMAGE]

    def psf_draws(self, n: int, *, seed: int | None = None) -> np.ndarray:
        """``n`` posterior draws of the PSF, shape ``(n, *self.psf.shape)``.

        For a known PSF every draw is that PSF; no image pixel is drawn.
        """
        psf = self.draws(n, seed=seed, region=NO_PIXELS * np.ndim(self.mean)).get(sites.PSF)
        if psf is None:
            return np.broadcast_to(np.asarray(self.psf), (int(n), *np.shape(self.psf))).copy()
        return np.asarray(psf)

    def credible_interval(self, prob: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Equal-tailed per-pixel interval of the posterior marginals.

        :math:`\\mu_i \\pm z_{(1+p)/2}\\,\\sigma_i` for the Gaussian posteriors of the VI
        engines (exact for them); the empirical quantiles of the stored draws for a sampler
        (:attr:`samples`, e.g. ``method="gibbs"``), whose marginals are not Gaussian; the
        engine's own quantiles where it has them (:attr:`marginal_quantile`).
        """
        if not 0 < prob < 1:
            raise ValueError(f"prob must lie in (0, 1), got {prob}")
        if self.marginal_quantile is not None:
            return self.marginal_quantile(0.5 - prob / 2), self.marginal_quantile(0.5 + prob / 2)
        if self.samples is not None:
            low, high = np.quantile(self.samples, [0.5 - prob / 2, 0.5 + prob / 2], axis=0)
            return low, high
        z = NormalDist().inv_cdf(0.5 + prob / 2)
        return self.mean - z * self.std, self.mean + z * self.std

    def to_arviz(
        self,
        num_samples: int | None = None,
        *,
        chains: int = 4,
        pixels: bool | tuple[slice, ...] = False,
        max_pixels: int = 16384,
        seed: int | None = 0,
    ) -> arviz.InferenceData:
        """Export to an ArviZ ``InferenceData``: the hyper-parameters and a blind PSF by
        default, the image with ``pixels=True``; see :func:`bayesdeconv.diagnostics.to_arviz`."""
        from bayesdeconv.diagnostics.arviz_export import to_arviz

        return to_arviz(
            self,
            num_samples=num_samples,
            chains=chains,
            pixels=pixels,
            max_pixels=max_pixels,
            seed=seed,
        )

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v.mean:.4g}" for k, v in self.hyperparameters.items())
        last = self.elbo[-1] if self.elbo.size else float("nan")
        return (
            f"Result(method={self.method!r}, shape={self.mean.shape}, n_iter={self.n_iter}, "
            f"converged={self.converged}, elbo={last:.6g}"
            f"{', ' + hyper if hyper else ''}, runtime={self.runtime:.3g}s)"
        )
