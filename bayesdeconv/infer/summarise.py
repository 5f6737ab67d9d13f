"""Posterior summaries through :class:`pyro.infer.Predictive`: per-site moments and draws.

Every stochastic engine summarises its posterior the same way, whatever produces the latent
values: an autoguide, a user's guide, or a sampler of latent values (Vadam's Gaussian).
``Predictive`` runs the model on posterior draws of the latent sites and records the requested
sites, so a deterministic site (a generator's image, ``pyro.deterministic("image", net(z))``)
or an image computed from other latent variables is summarised exactly like a sample site,
with no change to the engine. The draws are taken ``chunk`` at a time and folded into running
means and variances (the pairwise update of Chan, Golub and LeVeque), so memory stays that of
one chunk however many draws are used.

Exact moments. Where the posterior states a site's marginal in closed form, that replaces the
Monte-Carlo estimate (``SiteSummary.exact``):

* a point-mass guide (:class:`~pyro.infer.autoguide.AutoDelta`): its ``median()``, zero std;
* the Normal autoguides (``AutoNormal``, ``AutoMultivariateNormal``, an ``AutoGuideList`` of
  them): their public ``quantiles()``. On a real-valued site the marginal is
  :math:`\\mathcal N(\\mu, s^2)`, so :math:`\\mu` is the median and :math:`s` half the distance
  between the :math:`\\Phi(\\pm1)` quantiles; on a positive site it is log-normal;
* an engine's own Gaussian, passed as ``exact`` (Vadam).

Why: the oracle tests compare the mean-field image std with its closed form to 5 % per pixel,
which Monte-Carlo estimates would need about :math:`10^4` draws to meet (the relative error of
a std from :math:`S` draws is :math:`(2S)^{-1/2}`), and a point mass has exactly zero spread.
Sites without a closed form (deterministic and derived sites, custom guides) use
``num_samples`` draws.

References
----------
.. [1] T. F. Chan, G. H. Golub, R. J. LeVeque, "Updating formulae and a pairwise algorithm for
   computing sample variances", COMPSTAT 1982.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from types import MappingProxyType
from typing import Any

import numpy as np
import pyro
import pyro.poutine as poutine
import torch
from pyro.infer import Predictive
from pyro.infer.autoguide import AutoDelta, AutoGuide
from pyro.infer.autoguide.initialization import InitMessenger, init_to_value
from torch.distributions import biject_to

from bayesdeconv.infer.result import (
    LogNormalPosterior,
    PointValue,
    SamplePosterior,
    ScalarPosterior,
)

__all__ = [
    "CHUNK",
    "SUMMARY_SAMPLES",
    "LatentSampler",
    "PosteriorSummary",
    "SiteSummary",
    "guide_marginals",
    "summarise",
    "transform_kind",
]

SUMMARY_SAMPLES = 256
"""Default number of Monte-Carlo draws behind the sites without closed-form moments."""
CHUNK = 32
"""Draws per ``Predictive`` call (the memory bound of the summaries and of the draws)."""

LatentSampler = Callable[[int], dict[str, torch.Tensor]]
"""``sample(n)``: ``n`` posterior draws of the latent sites (constrained values, leading axis
``n``), by site name."""

_P_SIGMA = NormalDist().cdf(1.0)


@dataclass(frozen=True)
class SiteSummary:
    """Posterior mean and std of one site.

    Attributes
    ----------
    mean, std : numpy.ndarray
        Elementwise moments, the site's shape.
    exact : bool
        Closed-form moments (``True``) or Monte-Carlo estimates.
    posterior : ScalarPosterior, optional
        For scalar sites: the marginal with ``mean``, ``std`` and ``sample`` (log-normal for a
        Normal guide on a positive site, a point for a point mass, the draws otherwise).
    """

    mean: np.ndarray
    std: np.ndarray
    exact: bool = False
    posterior: ScalarPosterior | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.mean))

    def __repr__(self) -> str:
        if np.size(self.mean) == 1:
            values = f"mean={float(self.mean):.6g}, std={float(self.std):.6g}"
        else:
            values = f"shape={self.shape}, mean~{float(np.mean(self.mean)):.6g}"
        return f"SiteSummary({values}, exact={self.exact})"


Drawer = Callable[[int, "int | None", "Mapping[str, tuple] | None"], dict[str, np.ndarray]]


@dataclass(frozen=True, eq=False)
class PosteriorSummary:
    """Per-site posterior summaries and joint draws, e.g. of a custom Pyro model's SVI fit.

    ``summary["psf"].mean`` or ``summary.sites["psf"]`` give a :class:`SiteSummary`;
    :meth:`draws` gives joint posterior draws through ``Predictive``.

    Attributes
    ----------
    sites : Mapping[str, SiteSummary]
        Read-only, by site name, in the model's order.
    num_samples : int
        Monte-Carlo draws behind the sites that are not ``exact`` (0 when every site is).
    elbo : numpy.ndarray
        The fit's ELBO per step (empty for a summary of a given posterior).
    n_iter : int
        Steps run.
    converged : bool
        Whether the convergence stop was met before the step limit.
    runtime : float
        Wall time of the fit and the summary, seconds.
    draw_fn : callable, optional
        The sampler behind :meth:`draws`.
    """

    sites: Mapping[str, SiteSummary]
    num_samples: int
    elbo: np.ndarray = field(default_factory=lambda: np.empty(0))
    n_iter: int = 0
    converged: bool = False
    runtime: float = 0.0
    draw_fn: Drawer | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", MappingProxyType(dict(self.sites)))

    def __getitem__(self, name: str) -> SiteSummary:
        return self.sites[name]

    def __contains__(self, name: object) -> bool:
        return name in self.sites

    def __iter__(self) -> Iterator[str]:
        return iter(self.sites)

    def draws(
        self, n: int, *, seed: int | None = None, crop: Mapping[str, tuple] | None = None
    ) -> dict[str, np.ndarray]:
        """``n`` joint posterior draws of every summarised site, ``(n, *shape)`` each.

        ``crop`` maps site names to an index (a tuple of slices) applied to each draw as it
        is made, so only the window is kept in memory.
        """
        if int(n) < 1:
            raise ValueError(f"number of draws must be at least 1, got {n}")
        if self.draw_fn is None:
            raise ValueError("this summary carries no sampler")
        return self.draw_fn(int(n), seed, crop)


class _RunningMoments:
    """Mean and variance folded in chunk by chunk (pairwise update); scalar draws are kept."""

    def __init__(self, keep: bool) -> None:
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        self.kept: list[np.ndarray] | None = [] if keep else None

    def add(self, values: np.ndarray) -> None:
        k = values.shape[0]
        mean = values.mean(0)
        m2 = ((values - mean) ** 2).sum(0)
        total = self.count + k
        delta = mean - self.mean
        self.mean = self.mean + delta * (k / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * k / total)
        self.count = total
        if self.kept is not None:
            self.kept.append(values.reshape(-1))

    def summary(self, point: bool) -> SiteSummary:
        mean = np.asarray(self.mean, dtype=np.float64)
        if point or self.count < 2:
            std = np.zeros_like(mean)
        else:
            std = np.sqrt(np.asarray(self.m2) / (self.count - 1))
        posterior = None
        if self.kept is not None:
            values = np.concatenate(self.kept)
            posterior = PointValue(float(values[0])) if point else SamplePosterior(values)
        return SiteSummary(mean=mean, std=std, exact=point, posterior=posterior)


def transform_kind(transform: Callable, like: torch.Tensor) -> str:
    """``"identity"``, ``"exp"`` or ``"other"``: what ``transform`` (from unconstrained to
    constrained values, e.g. ``biject_to(support)``) does to values of ``like``'s shape.

    Probed numerically, since the same map has several spellings (torch writes the one onto
    ``nonnegative`` as exp followed by a unit affine map).
    """
    probe = torch.linspace(-1.0, 2.0, like.numel(), dtype=like.dtype).reshape(like.shape)
    try:
        value = transform(probe)
    except (ValueError, RuntimeError):
        return "other"
    if value.shape != probe.shape:
        return "other"
    if torch.equal(value, probe):
        return "identity"
    return "exp" if torch.allclose(value, probe.exp()) else "other"


def _numpy(value: torch.Tensor) -> np.ndarray:
    return value.detach().cpu().numpy().astype(np.float64)


def guide_marginals(guide, *args, **kwargs) -> dict[str, SiteSummary]:
    """Closed-form marginal moments of an autoguide's sites, through its public API.

    :class:`~pyro.infer.autoguide.AutoDelta`: ``median()`` with zero std. Guides with
    ``quantiles()`` (the Normal autoguides): real sites from the median and the
    :math:`\\Phi(\\pm 1)` quantiles, positive sites as log-normals. Other guides or sites:
    nothing (summarise them by Monte Carlo).
    """
    out: dict[str, SiteSummary] = {}
    if isinstance(guide, AutoDelta):
        for name, value in guide.median(*args, **kwargs).items():
            mean = _numpy(value)
            point = PointValue(float(mean)) if mean.size == 1 else None
            out[name] = SiteSummary(mean, np.zeros_like(mean), exact=True, posterior=point)
        return out
    if not isinstance(guide, AutoGuide) or guide.prototype_trace is None:
        return out
    try:
        quantiles = guide.quantiles([1 - _P_SIGMA, 0.5, _P_SIGMA], *args, **kwargs)
    except (AttributeError, NotImplementedError):  # a part without closed-form quantiles
        return out
    supports = {
        name: site["fn"].support for name, site in guide.prototype_trace.iter_stochastic_nodes()
    }
    z = NormalDist().inv_cdf(_P_SIGMA)
    for name, values in quantiles.items():
        if name not in supports:
            continue
        kind = transform_kind(biject_to(supports[name]), values[1].detach().cpu())
        low, median, high = (_numpy(v) for v in values)
        if kind == "identity":
            out[name] = SiteSummary(median, (high - low) / (2 * z), exact=True)
        elif kind == "exp":
            loc = np.log(median)
            scale = (np.log(high) - np.log(low)) / (2 * z)
            mean = np.exp(loc + 0.5 * scale**2)
            std = mean * np.sqrt(np.expm1(scale**2))
            scalar = LogNormalPosterior(float(loc), float(scale)) if loc.size == 1 else None
            out[name] = SiteSummary(mean, std, exact=True, posterior=scalar)
    return out


def _one_draw(guide, posterior: LatentSampler | None, args, kwargs) -> dict[str, torch.Tensor]:
    """One draw of the latent sites (from the guide's trace or the sampler)."""
    with torch.no_grad():
        if posterior is not None:
            return {name: value[0] for name, value in posterior(1).items()}
        trace = poutine.trace(guide).get_trace(*args, **kwargs)
    return {
        name: site["value"]
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and not site["infer"].get("is_auxiliary")
    }


def _site_shapes(model, latent: dict, args, kwargs) -> dict[str, tuple[int, ...]]:
    """Shape of every latent and deterministic site of the model, in the model's order."""
    with torch.no_grad(), poutine.block():
        trace = poutine.trace(poutine.condition(model, latent)).get_trace(*args, **kwargs)
    shapes = {}
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or site["infer"].get("is_auxiliary"):
            continue
        if name in latent or site["infer"].get("_deterministic"):
            shapes[name] = tuple(site["value"].shape)
    return shapes


@contextlib.contextmanager
def _seeded(seed: int | None, devices: list[int]):
    """Torch's global RNG forked (the caller's stream is untouched) and seeded."""
    with torch.random.fork_rng(devices=devices):
        if seed is None:
            torch.seed()
        else:
            torch.manual_seed(int(seed))
        yield


def summarise(
    model: Callable,
    args: Sequence = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    guide: Callable | None = None,
    posterior: LatentSampler | None = None,
    return_sites: Sequence[str] | None = None,
    exact: Mapping[str, SiteSummary] | None = None,
    closed_form: bool = True,
    num_samples: int = SUMMARY_SAMPLES,
    chunk: int = CHUNK,
    seed: int | None = 0,
    param_state: dict | None = None,
) -> PosteriorSummary:
    """Per-site posterior mean and std of ``model`` under a guide or a latent sampler.

    Parameters
    ----------
    model : callable
        The Pyro model, called as ``model(*args, **kwargs)`` (the observations among them).
    args, kwargs
        The model's arguments.
    guide : callable, optional
        A guide of ``model`` (an autoguide or any Pyro guide), run in the current parameter
        store.
    posterior : callable, optional
        Instead of ``guide``: ``posterior(n)`` returns ``n`` draws of the latent sites.
    return_sites : sequence of str, optional
        Sites to summarise; default every latent and deterministic site of the model.
    exact : Mapping[str, SiteSummary], optional
        Closed-form summaries the caller knows (they are not estimated).
    closed_form : bool
        Use :func:`guide_marginals` where the guide has them (``False``: Monte Carlo for every
        site not in ``exact``, e.g. to check the estimates).
    num_samples : int
        Monte-Carlo draws for the other sites (one for a point-mass guide).
    chunk : int
        Draws per ``Predictive`` call.
    seed : int, optional
        Seed of the draws (torch's global stream is forked, not advanced).
    param_state : dict, optional
        The parameter-store state the guide's parameters live in (from
        ``pyro.get_param_store().scope()``), entered by later :meth:`PosteriorSummary.draws`;
        the moments themselves are computed in the current store.

    Returns
    -------
    PosteriorSummary
    """
    if (guide is None) == (posterior is None):
        raise ValueError("pass exactly one of guide and posterior")
    if int(num_samples) < 1 or int(chunk) < 1:
        raise ValueError("num_samples and chunk must be at least 1")
    args, kwargs = tuple(args), dict(kwargs or {})
    latent = _one_draw(guide, posterior, args, kwargs)
    # Predictive traces the model once before it replays the draws; starting that trace at
    # posterior values keeps it off the prior (a flat ImproperUniform image cannot be sampled)
    anchored = InitMessenger(init_to_value(values=latent))(model)
    shapes = _site_shapes(anchored, latent, args, kwargs)
    names = list(shapes) if return_sites is None else list(return_sites)
    unknown = [name for name in names if name not in shapes]
    if unknown:
        raise ValueError(
            f"no latent or deterministic sites {unknown}; the model has {list(shapes)}"
        )
    devices = sorted(
        {v.device.index or 0 for v in latent.values() if torch.is_tensor(v) and v.is_cuda}
    )
    known = {k: v for k, v in dict(exact or {}).items() if k in names}
    if guide is not None and closed_form:
        for name, value in guide_marginals(guide, *args, **kwargs).items():
            if name in names:
                known.setdefault(name, value)
    point = isinstance(guide, AutoDelta)

    def predict(n: int, sites: list[str]) -> Iterator[dict[str, torch.Tensor]]:
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            if guide is not None:
                predictive = Predictive(anchored, guide=guide, num_samples=k, return_sites=sites)
            else:
                predictive = Predictive(
                    anchored, posterior_samples=posterior(k), return_sites=sites
                )
            batch = predictive(*args, **kwargs)
            # Predictive keeps singleton plate dims on sites outside plates: drop them
            yield {name: batch[name].reshape(k, *shapes[name]) for name in sites}

    missing = [name for name in names if name not in known]
    count = 1 if point else int(num_samples)
    moments: dict[str, _RunningMoments] = {}
    if missing:
        with _seeded(seed, devices):
            for batch in predict(count, missing):
                for name in missing:
                    values = _numpy(batch[name])
                    if name not in moments:
                        moments[name] = _RunningMoments(keep=math.prod(values.shape[1:]) == 1)
                    moments[name].add(values)
    computed = {name: moments[name].summary(point) for name in missing}
    summaries = {name: known[name] if name in known else computed[name] for name in names}

    def draw(n: int, draw_seed: int | None, crop: Mapping[str, tuple] | None) -> dict:
        crop = dict(crop or {})
        parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
        store = pyro.get_param_store()
        scope = store.scope(param_state) if param_state is not None else contextlib.nullcontext()
        with scope, _seeded(draw_seed, devices):
            for batch in predict(n, names):
                for name in names:
                    value = batch[name]
                    if name in crop:
                        value = value[(slice(None), *crop[name])]
                    parts[name].append(_numpy(value))
        return {name: np.concatenate(values) for name, values in parts.items()}

    return PosteriorSummary(sites=summaries, num_samples=count if missing else 0, draw_fn=draw)
