r"""Starting values as init strategies, like Pyro's ``init_to_*``, for every engine.

A strategy is a callable ``strategy(model, y) -> {site name: value}`` that the engines call
once before their first step (``fit_svi(init=...)``, ``fit_vadam(init=...)``,
``fit_sparse_ivb(psf_init=...)``). :func:`init_to_kernel_search` starts a blind model's PSF
at the best kernel of a few coarse-to-fine L0-gradient searches, judged by a scoring function
the caller passes in (e.g. the non-blind ELBO of sparse IVB), so this module depends on no
engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from bayesdeconv import sites
from bayesdeconv.infer._common import as_observed, to_numpy
from bayesdeconv.infer.kernel_search import search_kernel
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator

__all__ = [
    "SEARCH_SETTINGS",
    "InitStrategy",
    "KernelScore",
    "init_to_kernel_search",
    "init_to_value",
    "kernel_search_start",
]

InitStrategy = Callable[[DeconvolutionModel, torch.Tensor], dict]
"""``strategy(model, y)``: starting values (constrained space) of latent sites by name."""
KernelScore = Callable[[DeconvolutionModel, torch.Tensor], float]
"""``score(model_with_fixed_psf, y)``: higher is better (e.g. a lower bound on log p(y | k))."""

SEARCH_SETTINGS: tuple[dict, ...] = ({}, {"prune": 0.03, "iters": 8}, {"iters": 10})
"""Settings of the kernel searches whose best kernel starts a blind fit; why three, scored by
the ELBO: ``docs/decisions/0002-three-searches-scored-by-the-elbo.md``."""


def kernel_search_start(
    model: DeconvolutionModel,
    observed,
    *,
    score: KernelScore | None = None,
    settings: tuple[dict, ...] = SEARCH_SETTINGS,
    refine: bool = False,
    progress: bool = False,
) -> tuple[np.ndarray, list[dict]]:
    """The best of several kernel searches for a blind model of a 2-D image.

    Runs :func:`~bayesdeconv.infer.kernel_search.search_kernel` once per entry of
    ``settings`` (without its low-:math:`\\lambda` refinement phase) and keeps the kernel with
    the highest ``score``, evaluated on ``model`` with the PSF fixed at the candidate. Without
    a score only the first setting is searched. With ``refine`` the winner alone is refined.

    Returns
    -------
    kernel : numpy.ndarray
        The winning kernel (non-negative, unit sum, the PSF support's shape).
    candidates : list of dict
        Per search: ``settings``, ``score`` (NaN when not scored) and ``psf`` (unrefined).
    """
    if not model.blind or model.ndim != 2:
        raise ValueError("the kernel search needs a blind model of a 2-D image")
    y = as_observed(model, observed).to(torch.float64)
    op, mask = model.operator, model.mask
    size = tuple(model.psf_prior.size)
    mask_np = None if mask is None else to_numpy(mask).astype(bool)
    y_np = to_numpy(y)
    candidates = []
    searched = settings if score is not None else settings[:1]
    for index, setting in enumerate(searched):
        label = f"kernel search {index + 1}/{len(searched)}"
        kernel = search_kernel(
            y_np,
            size,
            mask=mask_np,
            progress=progress,
            progress_label=label,
            refine_iters=0,
            **setting,
        )
        value = float("nan")
        if score is not None:
            fixed_op = ConvolutionOperator(
                kernel, op.observed_shape, boundary=op.boundary, device=model.device
            )
            value = float(score(model.with_components(operator=fixed_op, psf_prior=None), y))
        candidates.append({"settings": dict(setting), "score": value, "psf": kernel})
    best = max(candidates, key=lambda c: c["score"])
    if not refine:
        return best["psf"], candidates
    setting = {**best["settings"], "iters": 0}  # the refinement phase only
    return search_kernel(y_np, size, mask=mask_np, start=best["psf"], **setting), candidates


@dataclass
class init_to_kernel_search:  # noqa: N801 (named like Pyro's init strategies)
    """Init strategy: the PSF starts at :func:`kernel_search_start`'s kernel.

    Parameters
    ----------
    score : callable, optional
        Scores a candidate kernel (see :data:`KernelScore`); ``None`` searches once.
    settings : tuple of dict
        One search per entry.
    refine : bool
        Refine the winning kernel.
    progress : bool
        Progress bars of the searches.

    Attributes
    ----------
    candidates : list of dict
        The last call's candidates (``settings``, ``score``, ``psf``).
    """

    score: KernelScore | None = None
    settings: tuple[dict, ...] = SEARCH_SETTINGS
    refine: bool = False
    progress: bool = False
    candidates: list[dict] = field(default_factory=list, init=False, repr=False)

    def __call__(self, model: DeconvolutionModel, y: torch.Tensor) -> dict:
        kernel, self.candidates = kernel_search_start(
            model,
            y,
            score=self.score,
            settings=self.settings,
            refine=self.refine,
            progress=self.progress,
        )
        return {sites.PSF: kernel}


@dataclass(frozen=True)
class init_to_value:  # noqa: N801
    """Init strategy: fixed starting values by site name (e.g. another fit's PSF)."""

    values: dict

    def __call__(self, model: DeconvolutionModel, y: torch.Tensor) -> dict:
        return dict(self.values)
