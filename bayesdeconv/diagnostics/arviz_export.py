r"""Export a :class:`~bayesdeconv.Result` to ArviZ ``InferenceData`` and save it as NetCDF.

By default the export is small and quick to summarise: ``az.summary(result.to_arviz())`` lists
the precision hyper-parameters and, for a blind result, the PSF entries, and nothing else. The
image pixels are exported only on request (``pixels=True`` or a window of slices).

Layout of the exported ``InferenceData``
----------------------------------------
``posterior``
    In this order: one scalar variable ``(chain, draw)`` per learned precision
    (``noise_precision``, ``image_precision``, ...); for a blind result ``psf`` with dims
    ``(chain, draw, psf_y, psf_x)``, the draws of the PSF posterior; and, only when asked
    for, ``image`` with dims ``(chain, draw, y, x)`` (or ``(chain, draw, z, y, x)``) whose
    integer coordinates are the pixel indices in the *full* image, also when only a window is
    exported.

    **Chains.** A variational or exact posterior gives independent draws: ``chains`` groups of
    ``num_samples`` of them are exported as ``chains`` chains (default 4), so that ArviZ's
    multi-chain diagnostics are defined and raise no shape warning. Their ``r_hat`` is then
    about 1 by construction: it checks the Monte-Carlo draws, not the convergence of the fit.
    A sampler (``method="gibbs"``) exports its stored chain in sweep order, cut into
    ``chains`` consecutive segments; ``r_hat`` across them compares the parts of one chain (the
    split-:math:`\hat R` idea), which detects drift but not a mode the chain never visited.
``observed_data``
    ``obs`` (the Pyro observation site), the whole observed image, dims ``(obs_y, obs_x)`` or
    ``(obs_z, obs_y, obs_x)``.
``constant_data``
    What the posterior is conditional on: ``psf``, the known PSF, dims ``(psf_y, psf_x)`` or
    with ``psf_z`` (a blind result has its PSF in ``posterior``, except a Gibbs chain, which
    is conditional on one PSF), and any site whose draws are all equal (a precision held
    fixed, every precision of a MAP fit) as its value. Zero-spread variables are kept out of
    ``posterior`` because ArviZ's diagnostics divide by their variance.
``sample_stats``
    ``elbo`` with dims ``(iteration,)``: the optimisation trace, one value per engine
    iteration (empty for a sampler). It has no ``chain`` or ``draw`` dim because it describes
    the fit, not the draws; ArviZ 0.23 accepts this without warnings, :func:`arviz.summary`
    and :func:`arviz.hdi` on the posterior are unaffected, and the group survives a NetCDF
    round trip.

The attributes (on the ``InferenceData`` and on every group) hold ``method``, ``runtime``
(seconds), ``n_iter``, ``converged`` (0/1: NetCDF has no booleans), ``image_shape`` (e.g.
``"(64, 64)"``), ``image_window`` (the exported slices, e.g. ``"[0:64, 0:64]"``, or
``"none"`` without pixels), ``chains_are`` (``"independent draws"`` or ``"segments of one
Markov chain"``), ``inference_library`` and ``inference_library_version`` (the bayesdeconv
version).
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
from bayesdeconv.infer.result import NO_PIXELS
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


def _pixel_window(
    pixels: bool | tuple[slice, ...], shape: tuple[int, ...], max_pixels: int
) -> tuple[tuple[slice, ...] | None, bool]:
    """The exported image window (``None``: no pixels) and whether it was cut to the budget."""
    if isinstance(pixels, bool | np.bool_):
        if not pixels:
            return None, False
        return central_window(shape, max_pixels), math.prod(shape) > max_pixels
    if not isinstance(pixels, tuple) or len(pixels) != len(shape):
        raise ValueError(
            f"pixels must be True, False or a tuple of {len(shape)} slices (one per image "
            f"axis), got {pixels!r}"
        )
    window = []
    for axis, (sl, n) in enumerate(zip(pixels, shape, strict=True)):
        if not isinstance(sl, slice) or sl.step not in (None, 1):
            raise ValueError(f"pixels[{axis}] must be a slice with step 1, got {sl!r}")
        start, stop, _ = sl.indices(n)
        if stop <= start:
            raise ValueError(f"pixels[{axis}] = {sl!r} selects no pixel of an axis of {n}")
        window.append(slice(start, stop))
    return tuple(window), False


def _sampler_draws(
    result: Result, chains: int, num_samples: int | None, window, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], int]:
    """The stored chain of a sampler in sweep order: its last ``chains * per_chain`` sweeps."""
    stored = int(np.shape(result.samples)[0])
    per_chain = stored // chains if num_samples is None else num_samples
    if per_chain < 1 or chains * per_chain > stored:
        raise ValueError(
            f"the {result.method!r} result holds {stored} draws of one chain: chains * "
            f"num_samples = {chains} * {per_chain} is more than that; lower num_samples or "
            "chains, or run the sampler longer"
        )
    keep = slice(stored - chains * per_chain, stored)
    out: dict[str, np.ndarray] = {}
    for name, q in result.hyperparameters.items():
        values = getattr(q, "values", None)
        if values is not None and np.shape(values) == (stored,):
            out[name] = np.asarray(values)[keep]  # the chain's own draws, in order
        else:  # held fixed (or summarised otherwise): independent draws of its posterior
            out[name] = np.asarray(q.sample(chains * per_chain, rng))
    if result.blind:  # a sampler conditional on one PSF
        psf = np.asarray(result.psf)
        out[sites.PSF] = np.broadcast_to(psf, (chains * per_chain, *psf.shape)).copy()
    if window is not None:
        out[sites.IMAGE] = np.asarray(result.samples)[(keep, *window)]
    return out, per_chain


def to_arviz(
    result: Result,
    num_samples: int | None = None,
    *,
    chains: int = 4,
    pixels: bool | tuple[slice, ...] = False,
    max_pixels: int = 16384,
    seed: int | None = 0,
) -> arviz.InferenceData:
    r"""Export a deconvolution result to an ArviZ ``InferenceData``.

    The default export holds the precision hyper-parameters and, for a blind result, the PSF
    draws, so that ``az.summary(idata)`` is short, quick and free of warnings; the image pixels
    are added with ``pixels=True`` (the whole image, or its central ``max_pixels`` window) or
    ``pixels=(slice(...), slice(...))`` (that window). The layout is described in
    :mod:`bayesdeconv.diagnostics.arviz_export`.

    For a variational or exact posterior, ``chains * num_samples`` joint draws are taken with
    :meth:`Result.draws` and exported as ``chains`` chains of independent draws. For a sampler
    (a result with stored ``samples``, ``method="gibbs"``) the stored chain itself is exported,
    in sweep order, cut into ``chains`` consecutive segments.

    The posterior image draws take ``chains * num_samples * n_pixels * 8`` bytes, so with
    ``pixels=True`` an image of more than ``max_pixels`` pixels is exported on a central window
    only (about the same aspect, at most ``max_pixels`` pixels, see :func:`central_window`),
    with a ``UserWarning``. The window's coordinates are the true pixel indices, so
    ``idata.posterior.image.sel(y=..., x=...)`` addresses the same pixels as
    ``result.mean[y, x]``.

    Parameters
    ----------
    result : Result
        The fitted posterior (must carry a sampler, as every engine's result does).
    num_samples : int, optional
        Draws per chain (the ``draw`` dim), at least 1. ``None``: 100 for a variational or
        exact posterior; for a sampler, as many as its stored chain gives (the last
        ``chains * num_samples`` sweeps are exported).
    chains : int
        Number of chains (the ``chain`` dim), at least 1. ArviZ needs at least 2 chains of at
        least 4 draws for ``r_hat`` and logs a shape-validation message otherwise.
    pixels : bool or tuple of slice
        ``False`` (default): no image variable. ``True``: the image, cut to its central
        window when it has more than ``max_pixels`` pixels. A tuple of slices (one per image
        axis, step 1): that window of the image.
    max_pixels : int
        Largest number of image pixels exported with ``pixels=True``; at least 1.
    seed : int, optional
        Seed of the draws (``None``: fresh entropy).

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior``, ``observed_data``, ``sample_stats`` and, for a known PSF or
        fixed sites, ``constant_data``.

    Raises
    ------
    ValueError
        If ``num_samples``, ``chains`` or ``max_pixels`` is not a positive integer, ``pixels``
        is not a bool or a tuple of slices (one per axis, each selecting at least one pixel),
        a sampler's chain is shorter than ``chains * num_samples``, or the result has no
        sampler.

    Warns
    -----
    UserWarning
        When ``pixels=True`` exports only a window of the image.

    See Also
    --------
    save_arviz : write the export to NetCDF.
    Result.credible_interval : exact per-pixel intervals without Monte-Carlo draws.

    Notes
    -----
    The Monte-Carlo error of an exported posterior mean is about :math:`\sigma / \sqrt{n}`
    with :math:`n` = ``chains * num_samples`` independent draws; the exact pixel means and
    stds are ``result.mean`` and ``result.std``.

    References
    ----------
    .. [1] R. Kumar, C. Carroll, A. Hartikainen and O. Martin, "ArviZ a unified library for
       exploratory analysis of Bayesian models in Python," *Journal of Open Source Software*
       4(33), 1143, 2019.
    .. [2] A. Vehtari, A. Gelman, D. Simpson, B. Carpenter and P.-C. Bürkner,
       "Rank-normalization, folding, and localization: an improved :math:`\hat R` for
       assessing convergence of MCMC," *Bayesian Analysis* 16(2), 667-718, 2021.

    Examples
    --------
    >>> az.summary(result.to_arviz())  # doctest: +SKIP
    >>> idata = result.to_arviz(pixels=True)  # doctest: +SKIP
    >>> az.summary(idata, var_names=["image"], coords={"y": [10, 11], "x": [20]})  # doctest: +SKIP
    """
    if num_samples is not None:
        num_samples = _positive_int(num_samples, "num_samples")
    chains = _positive_int(chains, "chains")
    max_pixels = _positive_int(max_pixels, "max_pixels")
    shape = tuple(int(s) for s in np.shape(result.mean))
    window, windowed = _pixel_window(pixels, shape, max_pixels)
    az = _import_arviz()
    import xarray as xr

    if windowed:
        n_pixels = math.prod(shape)
        n_window = math.prod(s.stop - s.start for s in window)
        warnings.warn(
            f"the image has {n_pixels} pixels, more than max_pixels={max_pixels}: exporting the "
            f"central window {_window_string(window)} ({n_window} pixels) only; pass a larger "
            "max_pixels or a window pixels=(slice, ...) to export others (memory: chains * "
            "num_samples * pixels * 8 bytes)",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )
    rng = np.random.default_rng(seed)
    sampler = result.samples is not None
    if sampler:
        draws, per_chain = _sampler_draws(result, chains, num_samples, window, rng)
        chains_are = "segments of one Markov chain"
    else:
        per_chain = 100 if num_samples is None else num_samples
        # without pixels, no image pixel is drawn (the other sites' draws stay joint)
        region = window if window is not None else NO_PIXELS * len(shape)
        draws = dict(result.draws(chains * per_chain, seed=seed, region=region))
        if window is None:
            draws.pop(sites.IMAGE, None)
        chains_are = "independent draws"
    total = chains * per_chain

    image_dims = _axis_names(len(shape))
    coords: dict[str, np.ndarray] = {"chain": np.arange(chains), "draw": np.arange(per_chain)}
    variables: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    constants: dict[str, np.ndarray] = {}
    order = [n for n in result.hyperparameters if n in draws]
    order += [n for n in draws if n not in order and n != sites.IMAGE]
    for name in order:
        values = np.asarray(draws[name])
        if values.shape[:1] != (total,):
            raise RuntimeError(f"the sampler returned {values.shape[0]} {name} draws, not {total}")
        if total > 1 and np.all(values == values[:1]):
            # held fixed (a fixed precision, MAP, a PSF a chain is conditional on): data, not
            # a posterior variable, whose zero spread would make ArviZ's diagnostics divide by 0
            constants[name] = values[0]
            continue
        dims = _axis_names(values.ndim - 1, prefix=f"{name}_")
        variables[name] = (
            ("chain", "draw", *dims),
            values.reshape(chains, per_chain, *values.shape[1:]),
        )
        for dim, n in zip(dims, values.shape[1:], strict=True):
            coords[dim] = np.arange(n)
    if window is not None:
        image = np.asarray(draws[sites.IMAGE])
        expected = (total, *(s.stop - s.start for s in window))
        if image.shape != expected:
            raise RuntimeError(
                f"the sampler returned image draws of shape {image.shape}, not {expected}"
            )
        variables[sites.IMAGE] = (
            ("chain", "draw", *image_dims),
            image.reshape(chains, per_chain, *image.shape[1:]),
        )
        for dim, sl in zip(image_dims, window, strict=True):
            coords[dim] = np.arange(sl.start, sl.stop)

    attrs: dict[str, Any] = {
        "method": str(result.method),
        "runtime": float(result.runtime),
        "n_iter": int(result.n_iter),
        "converged": int(bool(result.converged)),
        "image_shape": str(shape),
        "image_window": "none" if window is None else _window_string(window),
        "chains_are": chains_are,
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
        constants[sites.PSF] = np.asarray(result.psf)
    if constants:
        data, data_coords = {}, {}
        for name, value in constants.items():
            dims = _axis_names(np.ndim(value), prefix=f"{name}_")
            data[name] = (dims, np.asarray(value))
            data_coords.update(
                {d: np.arange(n) for d, n in zip(dims, np.shape(value), strict=True)}
            )
        groups["constant_data"] = xr.Dataset(data, coords=data_coords, attrs=dict(attrs))

    elbo = np.asarray(result.elbo, dtype=np.float64).reshape(-1)
    sample_stats = xr.Dataset(
        {"elbo": (("iteration",), elbo)},
        coords={"iteration": np.arange(elbo.size)},
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
