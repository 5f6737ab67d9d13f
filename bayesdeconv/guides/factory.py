"""Build a guide for a deconvolution model by name."""

from __future__ import annotations

import math

import pyro.poutine as poutine
import torch
from pyro.infer.autoguide import (
    AutoDelta,
    AutoGuide,
    AutoGuideList,
    AutoMultivariateNormal,
    AutoNormal,
)
from pyro.infer.autoguide.initialization import InitMessenger, init_to_median, init_to_value
from pyro.nn.module import PyroParam

from bayesdeconv import sites
from bayesdeconv.models.deconvolution import DeconvolutionModel

__all__ = [
    "GUIDES",
    "GUIDE_SUMMARIES",
    "PLANNED_GUIDES",
    "ScaledAutoNormal",
    "latent_dimension",
    "make_guide",
]

GUIDE_SUMMARIES = {
    "mean-field": "independent Normals (AutoNormal)",
    "map": "point estimates (AutoDelta)",
    "full": "dense covariance over every latent value (small images)",
    "full-psf": "blind: full-covariance PSF, mean-field rest",
}
GUIDES = tuple(GUIDE_SUMMARIES)
"""Guides available now: ``AutoNormal``, ``AutoDelta``, ``AutoMultivariateNormal``, and (blind
models) a full-covariance PSF with a mean-field rest."""
PLANNED_GUIDES = ("fourier", "structured", "low-rank")
"""Names reserved for guides that are not implemented yet."""


class ScaledAutoNormal(AutoNormal):
    """:class:`~pyro.infer.autoguide.AutoNormal` whose named sites start at given scales
    (unconstrained space), e.g. an amortised encoder's :math:`q(z \\mid y)`; the other sites
    start at ``init_scale``."""

    def __init__(self, model, *, init_scales: dict, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self._init_scales = dict(init_scales)

    def _setup_prototype(self, *args, **kwargs) -> None:
        super()._setup_prototype(*args, **kwargs)
        for name, value in self._init_scales.items():
            if name not in self._event_dims:
                raise ValueError(f"init_scales names {name!r}, not a latent site of the model")
            current = getattr(self.scales, name)
            scale = torch.as_tensor(value, dtype=current.dtype, device=current.device)
            scale = scale.expand_as(current).clone()
            param = PyroParam(scale, self.scale_constraint, self._event_dims[name])
            setattr(self.scales, name, param)


def latent_dimension(model: DeconvolutionModel) -> int:
    """Number of unconstrained latent values: the latent image plus learned precisions."""
    n = math.prod(model.latent_shape)
    return n + sum(spec.learned for spec in model.hyperparameters().values())


def make_guide(
    model: DeconvolutionModel,
    name: str = "mean-field",
    *,
    init_values: dict | None = None,
    init_scale: float = 0.01,
    init_scales: dict | None = None,
    max_full_dimension: int = 4096,
) -> AutoGuide:
    """A Pyro autoguide for ``model``.

    Parameters
    ----------
    model : DeconvolutionModel
    name : {"mean-field", "map", "full"}
        ``"mean-field"``: :class:`~pyro.infer.autoguide.AutoNormal`, independent Normals in
        unconstrained space (log-normal for precisions). ``"map"``:
        :class:`~pyro.infer.autoguide.AutoDelta` (point estimates). ``"full"``:
        :class:`~pyro.infer.autoguide.AutoMultivariateNormal`, a dense covariance over every
        latent value, allowed only up to ``max_full_dimension`` values. ``"full-psf"`` (blind
        models): an :class:`~pyro.infer.autoguide.AutoGuideList` of an
        ``AutoMultivariateNormal`` on the PSF and an ``AutoNormal`` on every other site.
    init_values : dict, optional
        Starting values by site name (others start at the prior median).
    init_scale : float
        Initial standard deviation of the Normal guides.
    init_scales : dict, optional
        ``"mean-field"``: starting standard deviations of named sites (unconstrained space,
        broadcast to the site), e.g. from :meth:`~bayesdeconv.priors.ImagePrior.initial_scales`.
    max_full_dimension : int
        Size limit for ``"full"`` (its covariance has ``d²`` entries).
    """
    if name in PLANNED_GUIDES:
        raise NotImplementedError(
            f"guide {name!r} is planned but not implemented yet; available: {GUIDES}"
        )
    if name not in GUIDES:
        raise ValueError(f"unknown guide {name!r}; choose one of {GUIDES}")
    if not init_scale > 0:
        raise ValueError(f"init_scale must be positive, got {init_scale}")
    init_loc_fn = init_to_value(values=dict(init_values or {}), fallback=init_to_median)
    if name == "mean-field":
        if init_scales:
            return ScaledAutoNormal(
                model, init_scales=init_scales, init_loc_fn=init_loc_fn, init_scale=init_scale
            )
        return AutoNormal(model, init_loc_fn=init_loc_fn, init_scale=init_scale)
    if name == "map":
        return AutoDelta(model, init_loc_fn=init_loc_fn)
    if name == "full-psf":
        if not model.blind:
            raise ValueError("guide='full-psf' needs a blind model (unknown PSF)")
        # the initial values must reach the hidden sites too (the flat image site of a
        # sparse-gradient prior cannot be sampled), so they are set inside the block
        initialised = InitMessenger(init_loc_fn)(model)
        # a parametric PSF: the dense block is over its parameters (the psf site is derived)
        psf_sites = list(model.psf_prior.parameter_sites) or [sites.PSF]
        guide = AutoGuideList(initialised)
        guide.append(
            AutoMultivariateNormal(
                poutine.block(initialised, expose=psf_sites),
                init_loc_fn=init_loc_fn,
                init_scale=init_scale,
            )
        )
        guide.append(
            AutoNormal(
                poutine.block(initialised, hide=psf_sites),
                init_loc_fn=init_loc_fn,
                init_scale=init_scale,
            )
        )
        return guide
    dim = latent_dimension(model)
    if dim > max_full_dimension:
        raise ValueError(
            f"guide='full' would need a {dim}×{dim} covariance (limit {max_full_dimension}); "
            "use guide='mean-field' for images of this size"
        )
    return AutoMultivariateNormal(model, init_loc_fn=init_loc_fn, init_scale=init_scale)
