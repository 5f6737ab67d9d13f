r"""Deconvolution of images larger than memory, tile by tile on Dask.

Each tile is an ordinary :func:`~bayesdeconv.deconvolve` fit of its extent (its core grown by
``overlap`` pixels, ``boundary="valid"``: the scene beyond the extent is modelled, not
assumed), with **one shared set of hyper-parameters**: the precisions the model would learn
(noise precision :math:`\gamma`, image precision :math:`\alpha`, a Gamma rate) are learned on
a few calibration tiles, pooled by their geometric mean, and then held fixed in every tile, so
neighbouring tiles regularise alike. The tile posteriors are blended with a partition of unity
:math:`w_i` (:class:`~bayesdeconv.tiling.layout.TileLayout`) as the mixture

.. math::
    \bar m(p) = \sum_i w_i(p)\, m_i(p), \qquad
    \bar v(p) = \sum_i w_i(p)\,\big(v_i(p) + m_i(p)^2\big) - \bar m(p)^2,

whose variance includes the (small) disagreement of the tiles. Memory is bounded by a few
tiles: the result's ``mean`` and ``std`` are lazy Dask arrays, and
:meth:`TiledResult.to_ome_zarr` writes them block by block, keeping finished tiles on disk so
that an interrupted job resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np

from bayesdeconv.api import deconvolve, default_prior, image_prior
from bayesdeconv.physics.psf import check_psf
from bayesdeconv.psf_priors import PSFPrior
from bayesdeconv.registry import LIKELIHOODS
from bayesdeconv.tiling.layout import Tile, TileLayout, per_axis

__all__ = ["TiledResult", "blend", "deconvolve_tiles", "fit_tile"]

FIT_OPTIONS = ("method", "guide", "boundary", "std", "steps", "seed", "device")
"""The :func:`~bayesdeconv.deconvolve` options a tiled fit passes on to every tile."""


def _as_dask(array, chunks, name: str) -> da.Array:
    if isinstance(array, da.Array):
        return array.rechunk(chunks) if array.chunks != chunks else array
    array = np.asarray(array)
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.number)):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return da.from_array(array, chunks=chunks)


_ONE_FIT_AT_A_TIME = threading.Lock()
"""Pyro's model stack and parameter store and torch's generators are global to a process, so
fits in threads of one process take turns (each uses torch's own threads); processes and
cluster workers fit in parallel."""


def fit_tile(block, mask, psf, prior, noise, options: Mapping[str, Any], key: str) -> np.ndarray:
    """Fit one tile: ``(2, *extent)`` with the posterior mean and variance.

    Errors name the tile, so a failure in a large job says where it happened.
    """
    block = np.asarray(block, dtype=np.float64)
    mask = None if mask is None else np.asarray(mask, dtype=bool)
    opts = dict(options)
    if opts.get("seed") is not None:  # independent, reproducible draws per tile
        opts["seed"] = int(opts["seed"]) + sum(
            int(i) * 7919**n for n, i in enumerate(key.split("-"))
        )
    try:
        with _ONE_FIT_AT_A_TIME:
            result = deconvolve(
                block, psf, prior=prior, noise=noise, mask=mask, progress=False, **opts
            )
    except ValueError as exc:
        raise ValueError(f"tile {key}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 (any failure names its tile)
        raise RuntimeError(f"tile {key}: {type(exc).__name__}: {exc}") from exc
    return np.stack([result.mean, result.std**2])


def _overlap(region: tuple[slice, ...], extent: tuple[slice, ...]):
    """Slices of the intersection, relative to ``region`` and to ``extent``."""
    inner, outer = [], []
    for r, e in zip(region, extent, strict=True):
        lo, hi = max(r.start, e.start), min(r.stop, e.stop)
        inner.append(slice(lo - r.start, hi - r.start))
        outer.append(slice(lo - e.start, hi - e.start))
    return tuple(inner), tuple(outer)


def blend(layout: TileLayout, tile: Tile, fits: Mapping[str, np.ndarray]) -> np.ndarray:
    r"""The blended ``(2, *core)`` mean and std on ``tile``'s core from the ``(2, *extent)``
    fits of its :meth:`~TileLayout.contributors` (keyed by :attr:`Tile.key`)."""
    shape = tuple(s.stop - s.start for s in tile.core)
    mean, second, total = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for other in layout.contributors(tile):
        inner, outer = _overlap(tile.core, other.extent)
        weight = layout.weight(other)[outer]
        fit = fits[other.key]
        m, v = fit[0][outer], fit[1][outer]
        mean[inner] += weight * m
        second[inner] += weight * (v + m * m)
        total[inner] += weight
    if not np.allclose(total, 1.0):  # the layout's partition of unity; a bug otherwise
        raise RuntimeError(f"blending weights on tile {tile.key} do not sum to 1")
    variance = np.maximum(second - mean * mean, 0.0)
    return np.stack([mean, np.sqrt(variance)])


@dataclasses.dataclass(frozen=True, eq=False)
class TiledResult:
    """A tiled posterior: lazy ``mean`` and ``std`` and what every tile shared.

    Attributes
    ----------
    mean, std : dask.array.Array
        Blended posterior mean and std, chunked by the tile cores; nothing is fitted until
        they are computed (:meth:`compute`, ``dask.compute(result.mean, result.std)``, or
        :meth:`to_ome_zarr`).
    layout : TileLayout
        Tiles, overlaps and blending weights.
    hyperparameters : dict of str to float
        The shared precisions every tile was fitted with (site name → value).
    prior, noise
        The components with those precisions held fixed.
    calibration : tuple of str
        Keys of the tiles the precisions were learned on (empty if they were given).
    digest : str
        A hash of the calibration tiles' pixels and of the mask: with the settings, what
        :meth:`to_ome_zarr` compares before it resumes an interrupted job.

    Notes
    -----
    Compute ``mean`` and ``std`` together (:meth:`compute`, or ``dask.compute(r.mean,
    r.std)``): computing them one after the other fits every tile twice.
    """

    image: da.Array
    mask: da.Array | None
    psf: np.ndarray
    layout: TileLayout
    prior: Any
    noise: Any
    hyperparameters: dict[str, float]
    calibration: tuple[str, ...]
    options: Mapping[str, Any]
    digest: str = ""

    @property
    def _shared(self) -> tuple:
        """The PSF, prior, noise and options as one graph entry each (not copied per task)."""
        cached = self.__dict__.get("_shared_keys")
        if cached is None:
            cached = tuple(
                dask.delayed(value, pure=True, name=f"bayesdeconv-{what}-{self._token}")
                for what, value in (("psf", self.psf), ("prior", self.prior),
                                    ("noise", self.noise), ("options", dict(self.options)))
            )  # fmt: skip
            self.__dict__["_shared_keys"] = cached
        return cached

    def fit_graph(self, tile: Tile):
        """The delayed fit of one tile."""
        mask = None if self.mask is None else self.mask[tile.extent]
        psf, prior, noise, options = self._shared
        return dask.delayed(fit_tile, pure=True)(
            self.image[tile.extent], mask, psf, prior, noise, options, tile.key,
            dask_key_name=f"bayesdeconv-tile-{tile.key}-{self._token}",
        )  # fmt: skip

    @property
    def _token(self) -> str:
        """Names this result's tasks in Dask graphs (unique per result)."""
        return self.__dict__.setdefault("_uuid", uuid.uuid4().hex[:12])

    @property
    def _stacked(self) -> da.Array:
        cached = self.__dict__.get("_stack")
        if cached is not None:
            return cached
        fits = {t.key: self.fit_graph(t) for t in self.layout.tiles}
        blocks = np.empty(self.layout.counts, dtype=object)
        for t in self.layout.tiles:
            parts = {c.key: fits[c.key] for c in self.layout.contributors(t)}
            shape = (2, *(s.stop - s.start for s in t.core))
            delayed = dask.delayed(blend, pure=True)(self.layout, t, parts)
            blocks[t.index] = da.from_delayed(delayed, shape=shape, dtype=np.float64)
        stacked = da.block(blocks.tolist())
        object.__setattr__(self, "_stack", stacked)
        return stacked

    @property
    def mean(self) -> da.Array:
        return self._stacked[0]

    @property
    def std(self) -> da.Array:
        return self._stacked[1]

    def compute(self, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` as NumPy arrays (the whole image in memory), every tile fitted
        once; ``kwargs`` go to :func:`dask.compute` (default ``scheduler="sync"``: one tile
        after another, each with all of torch's threads)."""
        kwargs.setdefault("scheduler", "sync")
        mean, std = dask.compute(self.mean, self.std, **kwargs)
        return mean, std

    def with_hyperparameters(self, values: Mapping[str, float]) -> TiledResult:
        """The same tiling with other shared precisions (nothing fitted yet)."""
        prior, noise = _hold_fixed(self.prior, self.noise, values)
        return dataclasses.replace(
            self, prior=prior, noise=noise, hyperparameters={k: float(v) for k, v in values.items()}
        )

    def to_ome_zarr(self, path, **kwargs):
        """Write ``mean`` and ``std`` to an OME-Zarr store, resumably
        (:func:`~bayesdeconv.tiling.store.write_tiled`)."""
        from bayesdeconv.tiling.store import write_tiled

        return write_tiled(self, path, **kwargs)


def _range(block: np.ndarray) -> float:
    """The intensity range over the finite pixels (0 if none)."""
    finite = block[np.isfinite(block)]
    return float(finite.max() - finite.min()) if finite.size else 0.0


def _pooled(values: list[float]) -> float:
    """The geometric mean: precisions are scale parameters."""
    return float(math.exp(np.mean(np.log(values))))


def _calibration_tiles(layout: TileLayout, count: int) -> list[Tile]:
    if count < 1:
        raise ValueError(f"calibration_tiles must be at least 1, got {count}")
    picks = np.unique(np.linspace(0, len(layout) - 1, min(count, len(layout))).round())
    return [layout.tiles[int(i)] for i in picks]


def deconvolve_tiles(
    image,
    psf,
    *,
    tile: int | tuple[int, ...] = 256,
    overlap: int | tuple[int, ...] | None = None,
    mask=None,
    hyperparameters: Mapping[str, float] | None = None,
    calibration_tiles: int = 4,
    prior=None,
    noise="gaussian",
    normalise_psf: bool = False,
    progress: bool = True,
    **options,
) -> TiledResult:
    r"""Deconvolve a large 2-D or 3-D image tile by tile (lazily, on Dask).

    Parameters
    ----------
    image : array_like or dask.array.Array
        The observed image ``(y, x)`` or ``(z, y, x)``; a Dask array (e.g. ``da.from_zarr``)
        is never loaded whole.
    psf : array_like
        The known PSF (as for :func:`~bayesdeconv.deconvolve`).
    tile : int or tuple of int
        Core size of a tile per axis (one number: every axis; axes shorter than it are not
        split).
    overlap : int or tuple of int, optional
        Pixels each tile extends beyond its core where the image goes on; at least the PSF's
        size along split axes (smaller is refused). Default: twice the PSF's size along each
        axis, at most the tile size.
    mask : array_like of bool, optional
        ``True`` where observed, as for :func:`~bayesdeconv.deconvolve`.
    hyperparameters : dict, optional
        Precisions to hold fixed in every tile (site name → value, e.g.
        ``{"noise_precision": 1e4, "image_precision": 30.0}``). Those not given are learned
        on ``calibration_tiles`` tiles spread over the image and pooled (geometric mean); a
        noise model measured on the image (``"poisson-gaussian"``) is calibrated on the
        calibration tile of the widest intensity range.
    prior, noise, normalise_psf
        As for :func:`~bayesdeconv.deconvolve` (same defaults).
    progress : bool
        A progress bar for the calibration fits (the tiles' progress is shown where they are
        computed, e.g. by :meth:`TiledResult.to_ome_zarr`).
    **options
        Passed to every tile's :func:`~bayesdeconv.deconvolve`: ``method``, ``guide``,
        ``boundary`` (default ``"valid"``; ``"circular"`` is refused: tiles are not
        periodic), ``std``, ``steps``, ``seed`` (each tile draws with its own seed derived
        from it), ``device``.

    Returns
    -------
    TiledResult
        Lazy ``mean`` and ``std`` and the shared hyper-parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesdeconv.physics.psf import gaussian_psf
    >>> image = np.random.default_rng(0).random((96, 96))
    >>> tiled = deconvolve_tiles(image, gaussian_psf(5, 1.0), tile=48, progress=False)
    >>> mean, std = tiled.compute()  # or tiled.to_ome_zarr("out.ome.zarr")
    >>> mean.shape, sorted(tiled.hyperparameters)
    ((96, 96), ['image_precision', 'noise_precision'])
    """
    unknown = sorted(set(options) - set(FIT_OPTIONS))
    if unknown:
        raise ValueError(f"deconvolve_tiles got unknown option(s) {', '.join(unknown)}")
    if options.get("boundary", "valid") != "valid":
        raise ValueError("tiled deconvolution needs boundary='valid' (tiles are not periodic)")
    if not isinstance(image, da.Array):
        image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be 2-D or 3-D, got shape {image.shape}")
    if psf is None or isinstance(psf, PSFPrior):
        raise ValueError("tiled deconvolution needs a known PSF array (not blind or parametric)")
    psf = check_psf(
        psf, image_shape=image.shape, normalise=normalise_psf, normalise_option="normalise_psf"
    )
    tiles = per_axis(tile, image.shape, "tile")
    for axis, (t, k, n) in enumerate(zip(tiles, psf.shape, image.shape, strict=True)):
        if t < n and t < k:
            raise ValueError(f"tile {t} along axis {axis} is smaller than the PSF ({k} pixels)")
    if overlap is None:
        overlap = tuple(min(2 * k, t) for k, t in zip(psf.shape, tiles, strict=True))
    layout = TileLayout(image.shape, tiles, overlap, psf_shape=psf.shape)
    image = _as_dask(image, layout.chunks, "image")
    if mask is not None:
        if tuple(np.shape(mask)) != image.shape:
            shape = tuple(np.shape(mask))
            raise ValueError(f"mask shape {shape} does not match the image shape {image.shape}")
        mask = _as_dask(mask, layout.chunks, "mask").astype(bool)
    picks = _calibration_tiles(layout, calibration_tiles)
    blocks = {t.key: np.asarray(image[t.extent], dtype=np.float64) for t in picks}
    # a noise model measured on the data (poisson-gaussian) is measured once, on the widest
    # calibration tile; every other model returns itself
    widest = max(picks, key=lambda t: _range(blocks[t.key]))
    widest_mask = None if mask is None else np.asarray(mask[widest.extent])
    noise_obj = LIKELIHOODS.resolve(noise).calibrate(blocks[widest.key], widest_mask)
    prior_obj = image_prior(default_prior(noise_obj) if prior is None else prior)
    given = {str(k): float(v) for k, v in (hyperparameters or {}).items()}
    prior_obj, noise_obj = _hold_fixed(prior_obj, noise_obj, given)
    learned = _learn_shared(picks, blocks, mask, psf, prior_obj, noise_obj, options, progress)
    prior_obj, noise_obj = _hold_fixed(prior_obj, noise_obj, learned)
    calibration = tuple(t.key for t in picks) if learned else ()
    return TiledResult(
        image, mask, psf, layout, prior_obj, noise_obj, {**given, **learned}, calibration,
        dict(options), _digest(blocks, mask),
    )  # fmt: skip


def _digest(blocks: Mapping[str, np.ndarray], mask: da.Array | None) -> str:
    """A short hash of the calibration tiles' pixels and of the whole mask."""
    h = hashlib.sha256()
    for key in sorted(blocks):
        h.update(key.encode())
        h.update(np.ascontiguousarray(blocks[key]).tobytes())
    if mask is not None:
        for block in mask.to_delayed().ravel():  # one chunk in memory at a time
            h.update(np.packbits(np.asarray(block.compute(scheduler="sync"))).tobytes())
    return h.hexdigest()[:16]


def _learn_shared(picks, blocks, mask, psf, prior, noise, options, progress) -> dict:
    from tqdm.auto import tqdm

    learned = {k for k, spec in {**prior.hyperparameters(), **noise.hyperparameters()}.items()
               if spec.learned}  # fmt: skip
    if not learned:
        return {}
    values: dict[str, list[float]] = {k: [] for k in learned}
    for t in tqdm(picks, desc="calibration tiles", disable=not progress, leave=False):
        tile_mask = None if mask is None else np.asarray(mask[t.extent])
        try:
            result = deconvolve(
                blocks[t.key], psf, prior=prior, noise=noise, mask=tile_mask, progress=False,
                **options,
            )  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"calibration tile {t.key}: {exc}") from None
        for name in learned:
            values[name].append(float(result.hyperparameters[name].mean))
    return {name: _pooled(v) for name, v in values.items()}


def _hold_fixed(prior, noise, values: Mapping[str, float]):
    own = set(prior.hyperparameters())
    theirs = set(noise.hyperparameters())
    unknown = sorted(set(values) - own - theirs)
    if unknown:
        known = ", ".join(sorted(own | theirs)) or "none"
        raise ValueError(
            f"unknown hyper-parameter(s) {', '.join(unknown)} (this model has: {known})"
        )
    prior = prior.with_hyperparameters({k: v for k, v in values.items() if k in own})
    noise = noise.with_hyperparameters({k: v for k, v in values.items() if k in theirs})
    return prior, noise
