"""Figures: a one-row PNG report of a deconvolution and the ELBO trace.

:func:`save_report` draws on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, so
it neither needs a display nor touches pyplot's global state or the backend chosen by the
caller.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from bayesdeconv.io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from bayesdeconv.infer.result import Result

__all__ = ["describe_result", "orthogonal_projections", "plot_elbo", "save_report"]


def orthogonal_projections(volume: np.ndarray, reduce=np.max) -> np.ndarray:
    """One 2-D image of a ``(z, y, x)`` volume's three orthogonal projections.

    The ``(y, x)`` projection sits top left, the ``(y, z)`` one to its right and the
    ``(z, x)`` one below it (the usual ortho view), separated by a one-pixel NaN gap; the
    corner is NaN. ``reduce`` is the projection (default: the maximum).
    """
    nz, ny, nx = volume.shape
    out = np.full((ny + 1 + nz, nx + 1 + nz), np.nan)
    out[:ny, :nx] = reduce(volume, axis=0)
    out[:ny, nx + 1 :] = reduce(volume, axis=2).T
    out[ny + 1 :, :nx] = reduce(volume, axis=1)
    return out


def _view(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 2:
        return array
    if array.ndim == 3:
        return orthogonal_projections(array)
    raise ValueError(f"{name} must be 2-D or 3-D, got shape {array.shape}")


def _psf_view(psf: np.ndarray) -> tuple[np.ndarray, str]:
    if psf.ndim == 2:
        return psf, "PSF"
    if psf.ndim == 3:
        return orthogonal_projections(psf), "PSF (max projections)"
    raise ValueError(f"psf must be 2-D or 3-D, got shape {psf.shape}")


def describe_result(result: Result) -> dict[str, str | None]:
    """``std_label`` and ``note`` for :func:`save_report` from a result: what its std is and
    whether the fit stopped at its iteration cap."""
    info = result.info
    kind = info.get("std")
    if kind == "sampled":
        label = f"marginal std ({info.get('std_samples')} draws)"
    elif kind == "exact":
        label = "marginal std (exact)"
    elif kind == "fourier family":
        label = "std of the stationary q(x): one value"
    elif kind == "diagonal family":
        label = "mean-field std (too narrow)"
    else:
        label = f"posterior std ({result.method})"
    note = None
    if not result.converged:
        note = f"not converged: stopped at {result.n_iter} iterations"
    return {"std_label": label, "note": note}


def _array(array: ArrayLike, name: str) -> np.ndarray:
    out = np.asarray(array, dtype=np.float64)
    if out.size == 0:
        raise ValueError(f"{name} is empty")
    return out


def _limits(*images: np.ndarray) -> tuple[float, float] | tuple[None, None]:
    """Shared display range: the 0.5 and 99.5 percentiles of the finite pixels of all images."""
    values = np.concatenate([im[np.isfinite(im)].ravel() for im in images])
    if values.size == 0:
        return None, None
    lo, hi = np.percentile(values, [0.5, 99.5])
    if not hi > lo:
        return None, None
    return float(lo), float(hi)


def save_report(
    path: str | os.PathLike,
    *,
    observed: ArrayLike,
    mean: ArrayLike,
    std: ArrayLike,
    psf: ArrayLike,
    title: str | None = None,
    std_label: str = "posterior std",
    note: str | None = None,
    unit: str = "image units",
    dpi: int = 110,
) -> Path:
    """Save a one-row PNG report: observed | posterior mean | posterior std | PSF.

    Each panel has a colourbar. The observed image and the posterior mean share one display
    range (the 0.5-99.5 percentiles of both) so that their contrast can be compared; the std
    and the PSF have their own, and the std panel prints its value range. For 3-D
    ``(z, y, x)`` inputs every panel shows the three orthogonal maximum projections
    (:func:`orthogonal_projections`), so structure and uncertainty at the stack's ends are not
    hidden by a single slice. :func:`describe_result` gives ``std_label`` and ``note`` for a
    :class:`~bayesdeconv.infer.result.Result`.

    The figure is written atomically (temporary sibling file + :func:`os.replace`); if drawing
    or writing fails no file is left at ``path`` (an existing one is kept).

    Parameters
    ----------
    path : str or os.PathLike
        Output PNG file; its directory must exist.
    observed, mean, std : array_like
        Observed image and posterior mean and standard deviation, 2-D or 3-D; ``mean`` and
        ``std`` must have the same shape and ``observed`` as many axes.
    psf : array_like
        PSF, 2-D or 3-D.
    title : str, optional
        Figure title.
    std_label : str
        Title of the std panel: what the std is (e.g. ``"marginal std (16 draws)"``).
    note : str, optional
        A warning shown in red under the title (e.g. a fit that stopped at its cap).
    unit : str
        Intensity unit of the colour bars.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        On arrays that are empty, of the wrong dimensionality or of mismatched shapes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    observed_a = _array(observed, "observed")
    mean_a, std_a, psf_a = _array(mean, "mean"), _array(std, "std"), _array(psf, "psf")
    if mean_a.shape != std_a.shape:
        raise ValueError(f"mean shape {mean_a.shape} differs from std shape {std_a.shape}")
    if observed_a.ndim != mean_a.ndim:
        raise ValueError(
            f"observed has {observed_a.ndim} axes but mean has {mean_a.ndim}; they must match"
        )
    if int(dpi) < 1:
        raise ValueError(f"dpi must be positive, got {dpi}")
    obs2 = _view(observed_a, "observed")
    mean2, std2 = _view(mean_a, "mean"), _view(std_a, "std")
    psf2, psf_title = _psf_view(psf_a)
    z_note = " (max proj.)" if mean_a.ndim == 3 else ""
    finite_std = std_a[np.isfinite(std_a)]

    vmin, vmax = _limits(obs2, mean2)
    fig = Figure(figsize=(16, 4.4), dpi=int(dpi), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    std_range = ""
    if finite_std.size:
        std_range = f"range {finite_std.min():.3g} to {finite_std.max():.3g} {unit}"
    panels = [
        (obs2, "observed" + z_note, "gray", vmin, vmax, "", unit),
        (mean2, "posterior mean" + z_note, "gray", vmin, vmax, "", unit),
        (std2, std_label + z_note, "magma", None, None, std_range, unit),
        (psf2, psf_title, "viridis", None, None, "", "fraction of the flux"),
    ]
    for ax, (image, label, cmap, lo, hi, xlabel, bar_label) in zip(axes, panels, strict=True):
        shown = ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(label)
        ax.set_xlabel(xlabel)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(shown, ax=ax, shrink=0.85, label=bar_label)
    if title or note:
        fig.suptitle(title or "")
    if note:
        fig.text(0.5, 0.005, note, color="tab:red", ha="center", va="bottom", fontsize=11)

    def write(tmp: str) -> None:
        fig.savefig(tmp, format="png", dpi=int(dpi))

    return atomic_write(path, write)


def plot_elbo(result: Result, ax: Axes | None = None) -> Axes:
    """Plot the ELBO trace of a result against the iteration.

    For SVI the trace is a noisy Monte-Carlo estimate; a running median over about 2 % of the
    steps (odd window, at least 5) is drawn on top when the trace is long enough.

    Parameters
    ----------
    result : Result
        Any engine's result (uses ``result.elbo`` and ``result.method``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new pyplot figure is created when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    elbo = np.asarray(result.elbo, dtype=np.float64).reshape(-1)
    steps = np.arange(1, elbo.size + 1)
    ax.plot(steps, elbo, lw=1.0, label="ELBO", alpha=0.6 if result.method == "svi" else 1.0)
    if result.method == "svi" and elbo.size >= 50:
        half = max(2, elbo.size // 100)
        padded = np.pad(elbo, half, mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
        ax.plot(steps, np.median(windows, axis=-1), lw=1.5, label="running median")
        ax.legend(loc="lower right")
    ax.set_xlabel("iteration")
    ax.set_ylabel("ELBO")
    ax.set_title(f"ELBO ({result.method}, {elbo.size} iterations)")
    return ax
