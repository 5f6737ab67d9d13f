"""Writing a tiled posterior to OME-Zarr, resumably.

Two phases, each unit of work recorded as done in the store's partial directory:

1. every tile is fitted and its ``(mean, variance)`` on its extent saved beside the partial
   store (``.bayesdeconv-tiles/<key>.npy``), on the workers of a ``dask.distributed`` client or
   here one after another;
2. every output block (a tile's core) is blended from its contributors' saved fits and
   written into the ``mean`` and ``std`` images.

An interrupted job rerun with the same settings skips the finished tiles and blocks, and keeps
the precisions the first run learned; a finished one returns at once. The store appears at its
path only when complete (:class:`~bayesdeconv.io.OmeZarrWriter`). Memory stays
at a few tiles: no phase holds the whole image.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from bayesdeconv.tiling.tiled import TiledResult

__all__ = ["tiled_settings", "write_tiled"]

TILE_CACHE = ".bayesdeconv-tiles"


def tiled_settings(result: TiledResult) -> dict[str, Any]:
    """What the tiled result depends on besides the pixels (JSON), stored with it and compared
    when a job resumes."""
    from bayesdeconv import __version__
    from bayesdeconv.tiling.sources import array_digest

    return {
        "version": __version__,
        "data": result.digest,
        "shape": list(result.layout.shape),
        "tile": list(result.layout.tile),
        "overlap": list(result.layout.overlap),
        "psf_sha256": array_digest(result.psf, np.float64),
        "prior": repr(result.prior),
        "noise": repr(result.noise),
        "hyperparameters": {k: float(v) for k, v in sorted(result.hyperparameters.items())},
        "options": {k: repr(v) for k, v in sorted(result.options.items())},
    }


def _resumable(result: TiledResult, path: Path) -> TiledResult:
    """``result`` with the precisions of an earlier run of the same job at ``path`` (a
    finished store or an interrupted one), so that a rerun neither mixes tiles fitted with
    different precisions nor throws finished tiles away when learning them again gives
    slightly different numbers."""
    from bayesdeconv.io import OmeZarrWriter, bayesdeconv_attributes

    if not result.calibration:  # precisions given, nothing learned
        return result
    for attributes in (bayesdeconv_attributes(path), OmeZarrWriter.pending_attributes(path)):
        stored = (attributes or {}).get("settings") or {}
        if set(stored.get("hyperparameters", ())) != set(result.hyperparameters):
            continue
        candidate = result.with_hyperparameters(stored["hyperparameters"])
        if tiled_settings(candidate) == stored:  # the same job but for the precisions
            return candidate
    return result


def _save(fit: np.ndarray, path: str) -> str:
    """Save one tile's fit atomically (a crash leaves no half file)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as handle:
        np.save(handle, np.asarray(fit, dtype=np.float64))
    os.replace(tmp, path)
    return path


def write_tiled(
    result: TiledResult,
    path,
    *,
    voxel_size: tuple[float, ...] | None = None,
    attributes: Mapping[str, Any] | None = None,
    client=None,
    retries: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Fit every tile of ``result`` and write ``mean`` and ``std`` to the OME-Zarr ``path``.

    Parameters
    ----------
    result : TiledResult
        From :func:`~bayesdeconv.tiling.deconvolve_tiles`.
    path : path
        The store to write (``.ome.zarr``); the mean is its root image, the std the image
        ``path/std``.
    voxel_size : tuple of float, optional
        Voxel size in µm per axis, stored as the images' scale.
    attributes : mapping, optional
        Further JSON attributes (e.g. the input's name); part of the resume check.
    client : distributed.Client, optional
        Fit the tiles on its workers (they must see ``path``'s folder). Default: here, one
        tile after another.
    retries : int
        Further attempts of a failing tile; then its error (naming the tile) is raised, and
        a rerun resumes from the tiles already done.
    overwrite : bool
        Replace an existing store at ``path`` written with other settings (only once the new
        one is complete). A store of this very job (same settings and data) is kept as it is.
    progress : bool
        A progress bar over the tiles.

    Returns
    -------
    Path
        The finished store.
    """
    from tqdm.auto import tqdm

    from bayesdeconv.io import OmeZarrWriter, bayesdeconv_attributes
    from bayesdeconv.tiling.tiled import blend

    path = Path(path)
    result = _resumable(result, path)
    layout = result.layout
    settings = tiled_settings(result)
    if (bayesdeconv_attributes(path) or {}).get("settings") == settings:
        return path  # this job finished before
    writer = OmeZarrWriter.create(
        path, layout.shape, axes="zyx"[-len(layout.shape) :], voxel_size=voxel_size,
        chunks=layout.tile, attributes={**(attributes or {}), "settings": settings},
        resume=True, overwrite=overwrite,
    )  # fmt: skip
    cache = writer.partial_path / TILE_CACHE
    cache.mkdir(exist_ok=True)

    def saved(tile) -> str:
        return str(cache / f"{tile.key}.npy")

    pending = [t for t in layout.tiles if not writer.is_done(f"tile-{t.key}")]
    tasks = {t.key: dask.delayed(_save)(result.fit_graph(t), saved(t)) for t in pending}
    bar = tqdm(total=len(layout), initial=len(layout) - len(pending), desc="tiles",
               unit="tile", disable=not progress)  # fmt: skip
    try:
        if client is None:
            for key, task in tasks.items():
                for attempt in range(retries + 1):
                    try:
                        task.compute(scheduler="sync")
                        break
                    except Exception:
                        if attempt == retries:
                            raise
                writer.mark_done(f"tile-{key}")
                bar.update()
        else:
            from distributed import as_completed

            computed = client.compute(list(tasks.values()), retries=retries)
            futures = dict(zip(computed, tasks, strict=True))
            for future in as_completed(futures):
                future.result()  # raises the tile's error, naming the tile
                writer.mark_done(f"tile-{futures[future]}")
                bar.update()
    finally:
        bar.close()
    for tile in layout.tiles:  # phase 2: blend the saved fits block by block
        if writer.is_done(f"block-{tile.key}"):
            continue
        fits = {c.key: np.load(saved(c)) for c in layout.contributors(tile)}
        blended = blend(layout, tile, fits)
        writer.write("mean", tile.core, blended[0])
        writer.write("std", tile.core, blended[1])
        writer.mark_done(f"block-{tile.key}")
    shutil.rmtree(cache)
    return writer.finish()
