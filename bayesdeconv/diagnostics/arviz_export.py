"""Export a :class:`~bayesdeconv.Result` to ArviZ ``InferenceData`` and save it as NetCDF.

Layout of the exported ``InferenceData``
----------------------------------------
``posterior``
    ``image`` with dims ``(chain, draw, y, x)`` (or ``(chain, draw, z, y, x)``) whose integer
    coordinates are the pixel indices in the *full* image, also when only a window is exported;
    one scalar variable ``(chain, draw)`` per precision hyper-parameter (``noise_precision``,
    ``image_precision``, ...), drawn jointly with the image by :meth:`Result.draws`; for a
    blind result also ``psf`` with dims ``(chain, draw, psf_y, psf_x)``, the draws of the PSF
    posterior (for Gibbs, conditional on one PSF, every draw is that PSF). There is a
    single chain (``chain = [0]``): the draws are independent samples of a variational or exact
    posterior, not a Markov chain, so ``r_hat`` is undefined (ArviZ reports NaN and logs a
    shape-validation message) and the ESS is about the number of draws.
``observed_data``
    ``obs`` (the Pyro observation site), the whole observed image, dims ``(obs_y, obs_x)`` or
    ``(obs_z, obs_y, obs_x)``.
``constant_data``
    ``psf``, the known PSF, dims ``(psf_y, psf_x)`` or with ``psf_z`` (only for a known PSF:
    a blind result has its PSF in ``posterior``).
``sample_stats``
    ``elbo`` with dims ``(chain, iteration)``: the optimisation trace, one value per engine
    iteration. It has no ``draw`` dim because it describes the fit, not the draws; ArviZ 0.23
    accepts this without warnings, :func:`arviz.summary` and :func:`arviz.hdi` on the posterior
    are unaffected, and the group survives a NetCDF round trip.

The attributes (on the ``InferenceData`` and on every group) hold ``method``, ``runtime``
(seconds), ``n_iter``, ``converged`` (0/1: NetCDF has no booleans), ``image_shape`` (e.g.
``"(64, 64)"``), ``image_window`` (the exported slices, e.g. ``"[0:64, 0:64]"``),
``inference_library`` and ``inference_library_version`` (the bayesdeconv version).
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesdeconv import sites
from bayesdeconv.io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    import arviz

    from bayesdeconv.infer.result import Result

__all__ = ["central_window", "save_arviz", "to_arviz"]

_AXES = {2: ("y", "x"), 3: ("z", "y", "x")}


def _import_arviz():
    # ArviZ >= 0.21 emits a once-a-day FutureWarning about its refactor on import; it is
    # about ArviZ itself, not about anything the caller did, so keep it out of their output.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
        import arviz as az
    return az


def _axis_names(ndim: int, prefix: str = "") -> tuple[str, ...]:
    names = _AXES.get(ndim, tuple(f"dim_{i}" for i in range(ndim)))
    return tuple(f"{prefix}{n}" for n in names)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def central_window(shape: tuple[int, ...], max_pixels: int) -> tuple[slice, ...]:
    """The central window of at most ``max_pixels`` pixels with about the image's aspect.

    Each axis is scaled by the same factor :math:`f = (P_{\\max} / \\prod_i s_i)^{1/d}`,
    rounded down (at least 1 pixel); if the 1-pixel floor pushes the total over the budget, the
    longest axes are shrunk further, and what rounding left of the budget is then spent one
    pixel at a time on the axes furthest below :math:`f s_i`. An image already within budget
    gives full slices.

    Parameters
    ----------
    shape : tuple of int
        Image shape :math:`(s_1, \\dots, s_d)`.
    max_pixels : int
        Pixel budget :math:`P_{\\max} \\ge 1`.

    Returns
    -------
    tuple of slice
        One ``slice(start, stop)`` per axis, centred (``start = (s - w) // 2``).
    """
    max_pixels = _positive_int(max_pixels, "max_pixels")
    shape = tuple(int(s) for s in shape)
    if math.prod(shape) <= max_pixels:
        return tuple(slice(0, s) for s in shape)
    factor = (max_pixels / math.prod(shape)) ** (1.0 / len(shape))
    # the small epsilon keeps e.g. 200 * 0.16 from rounding down to 31
    ideal = [s * factor for s in shape]
    widths = [max(1, min(s, math.floor(t + 1e-9))) for s, t in zip(shape, ideal, strict=True)]
    while math.prod(widths) > max_pixels:
        i = int(np.argmax(widths))
        others = math.prod(widths) // widths[i]
        widths[i] = max(1, min(widths[i] - 1, max_pixels // others))
    # spend what rounding down left of the budget, most-shortchanged axis first
    grown = True
    while grown:
        grown = False
        for i in sorted(range(len(shape)), key=lambda j: widths[j] - ideal[j]):
            trial = widths[i] + 1
            if trial <= shape[i] and math.prod(widths) // widths[i] * trial <= max_pixels:
                widths[i] = trial
                grown = True
                break
    return tuple(slice((s - w) // 2, (s - w) // 2 + w) for s, w in zip(shape, widths, strict=True))


def _user_stacklevel() -> int:
    """``stacklevel`` for :func:`warnings.warn` that points at the first caller outside the
    package (e.g. past :meth:`Result.to_arviz`)."""
    package = str(Path(__file__).resolve().parent.parent)
    frame = sys._getframe(1)
    level = 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(
        package + os.sep
    ):
        frame = frame.f_back
        level += 1
    return level


def _window_string(window: tuple[slice, ...]) -> str:
    return "[" + ", ".join(f"{s.start}:{s.stop}" for s in window) + "]"


def _version() -> str:
    try:
        from bayesdeconv import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover - partially initialised package
        from importlib.metadata import version

        return version("bayesdeconv")


def to_arviz(
    result: Result,
    num_samples: int = 200,
    *,
    max_pixels: int = 16384,
    seed: int | None = 0,
) -> arviz.InferenceData:
    """Export a deconvolution result to an ArviZ ``InferenceData``.

    Draws ``num_samples`` joint posterior samples of the image and the precision
    hyper-parameters with :meth:`Result.draws` and packs them with the observed image, the PSF
    and the ELBO trace; the layout is described in :mod:`bayesdeconv.diagnostics.arviz_export`.

    The posterior image draws take ``num_samples * n_pixels * 8`` bytes, so images with more
    than ``max_pixels`` pixels are exported on a central window only (about the same aspect,
    at most ``max_pixels`` pixels, see :func:`central_window`), with a ``UserWarning``. The
    window's coordinates are the true pixel indices, so ``idata.posterior.image.sel(y=..., x=...)``
    addresses the same pixels as ``result.mean[y, x]``.

    Parameters
    ----------
    result : Result
        The fitted posterior (must carry a sampler, as every engine's result does).
    num_samples : int
        Number of posterior draws (``draw`` dim); at least 1.
    max_pixels : int
        Largest number of image pixels exported; at least 1.
    seed : int, optional
        Seed of the draws (``None``: fresh entropy).

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior``, ``observed_data``, ``sample_stats`` and, for a known PSF,
        ``constant_data``.

    Raises
    ------
    ValueError
        If ``num_samples`` or ``max_pixels`` is not a positive integer, or the result has no
        sampler.

    Warns
    -----
    UserWarning
        When only a window of the image is exported.

    Notes
    -----
    The Monte-Carlo error of the exported posterior mean of pixel :math:`i` is about
    :math:`\\sigma_i / \\sqrt{n}` with :math:`n` = ``num_samples``; the exact mean and std are
    ``result.mean`` and ``result.std``.

    References
    ----------
    .. [1] R. Kumar, C. Carroll, A. Hartikainen and O. Martin, "ArviZ a unified library for
       exploratory analysis of Bayesian models in Python," *Journal of Open Source Software*
       4(33), 1143, 2019.

    Examples
    --------
    >>> idata = result.to_arviz(num_samples=100)  # doctest: +SKIP
    >>> az.summary(idata, var_names=["image"], coords={"y": [10, 11], "x": [20]})  # doctest: +SKIP
    """
    num_samples = _positive_int(num_samples, "num_samples")
    max_pixels = _positive_int(max_pixels, "max_pixels")
    az = _import_arviz()
    import xarray as xr

    shape = tuple(int(s) for s in np.shape(result.mean))
    n_pixels = math.prod(shape)
    window = central_window(shape, max_pixels)
    windowed = n_pixels > max_pixels
    if windowed:
        n_window = math.prod(s.stop - s.start for s in window)
        warnings.warn(
            f"the image has {n_pixels} pixels, more than max_pixels={max_pixels}: exporting the "
            f"central window {_window_string(window)} ({n_window} pixels) only; pass a larger "
            "max_pixels to export more (memory: num_samples * pixels * 8 bytes)",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )
    draws = result.draws(num_samples, seed=seed, region=window if windowed else None)

    image = np.asarray(draws[sites.IMAGE])
    expected = (num_samples, *(s.stop - s.start for s in window))
    if image.shape != expected:
        raise RuntimeError(
            f"the sampler returned image draws of shape {image.shape}, not {expected}"
        )
    image_dims = _axis_names(len(shape))
    coords: dict[str, np.ndarray] = {"chain": np.array([0]), "draw": np.arange(num_samples)}
    for dim, sl in zip(image_dims, window, strict=True):
        coords[dim] = np.arange(sl.start, sl.stop)
    variables: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
        sites.IMAGE: (("chain", "draw", *image_dims), image[None])
    }
    for name, values in draws.items():
        if name == sites.IMAGE:
            continue
        values = np.asarray(values)
        dims = _axis_names(values.ndim - 1, prefix=f"{name}_")
        variables[name] = (("chain", "draw", *dims), values[None])
        for dim, n in zip(dims, values.shape[1:], strict=True):
            coords[dim] = np.arange(n)

    attrs: dict[str, Any] = {
        "method": str(result.method),
        "runtime": float(result.runtime),
        "n_iter": int(result.n_iter),
        "converged": int(bool(result.converged)),
        "image_shape": str(shape),
        "image_window": _window_string(window),
        "inference_library": "bayesdeconv",
        "inference_library_version": _version(),
    }
    posterior = xr.Dataset(variables, coords=coords, attrs=dict(attrs))

    observed = np.asarray(result.observed)
    obs_dims = _axis_names(observed.ndim, prefix="obs_")
    observed_data = xr.Dataset(
        {sites.OBSERVED: (obs_dims, observed)},
        coords={d: np.arange(n) for d, n in zip(obs_dims, observed.shape, strict=True)},
        attrs=dict(attrs),
    )

    groups: dict[str, Any] = {}
    if sites.PSF not in draws:  # a known PSF is data; an estimated one is in the posterior
        psf = np.asarray(result.psf)
        psf_dims = _axis_names(psf.ndim, prefix="psf_")
        groups["constant_data"] = xr.Dataset(
            {sites.PSF: (psf_dims, psf)},
            coords={d: np.arange(n) for d, n in zip(psf_dims, psf.shape, strict=True)},
            attrs=dict(attrs),
        )

    elbo = np.asarray(result.elbo, dtype=np.float64).reshape(-1)
    sample_stats = xr.Dataset(
        {"elbo": (("chain", "iteration"), elbo[None])},
        coords={"chain": np.array([0]), "iteration": np.arange(elbo.size)},
        attrs=dict(attrs),
    )
    return az.InferenceData(
        attrs=attrs,
        posterior=posterior,
        observed_data=observed_data,
        sample_stats=sample_stats,
        **groups,
    )


def save_arviz(idata: arviz.InferenceData, path: str | os.PathLike) -> Path:
    """Write an ``InferenceData`` to a NetCDF-4 file atomically.

    The file is first written to a temporary sibling of ``path`` and then renamed over it, so
    an interrupted or failed write never leaves a truncated file behind (the temporary file is
    removed). Read it back with :func:`arviz.from_netcdf`.

    The groups need NetCDF-4/HDF5 (NetCDF-3, the only format SciPy writes, has no groups);
    it is written with ``h5netcdf``, which ArviZ depends on, falling back to ``netCDF4``.

    Parameters
    ----------
    idata : arviz.InferenceData
        E.g. from :func:`to_arviz`.
    path : str or os.PathLike
        Target file (conventionally ``*.nc``); its directory must exist.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    try:
        import h5netcdf  # noqa: F401

        engine = "h5netcdf"
    except ImportError:  # pragma: no cover - h5netcdf is an ArviZ dependency
        engine = "netcdf4"

    def write(tmp: str) -> None:
        idata.to_netcdf(tmp, engine=engine)

    return atomic_write(path, write)
