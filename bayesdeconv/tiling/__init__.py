"""Images larger than memory and many images: tiled deconvolution on Dask, batches on
``dask.distributed``, OME-Zarr in and out (needs ``pip install "bayesdeconv[dask]"``).

- :func:`deconvolve_tiles` fits a large 2-D or 3-D image tile by tile with one shared set of
  hyper-parameters and blends the tile posteriors (:mod:`~bayesdeconv.tiling.tiled`; grid and
  weights in :mod:`~bayesdeconv.tiling.layout`); :meth:`TiledResult.to_ome_zarr` writes it
  resumably (:mod:`~bayesdeconv.tiling.store`).
- :func:`deconvolve_batch` runs many images (a folder, a glob, a time series) through a
  ``dask.distributed`` cluster, one OME-Zarr result each, skipping finished ones on a rerun
  (:mod:`~bayesdeconv.tiling.batch`, inputs in :mod:`~bayesdeconv.tiling.sources`).
"""

import importlib

_HOMES = {
    "BatchItem": "sources",
    "BatchReport": "batch",
    "Tile": "layout",
    "TileLayout": "layout",
    "TiledResult": "tiled",
    "batch_items": "sources",
    "blend": "tiled",
    "deconvolve_batch": "batch",
    "deconvolve_tiles": "tiled",
    "fit_tile": "tiled",
    "write_tiled": "store",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    """Import on first use, so ``bayesdeconv.tiling.sources`` (used by the command line to
    recognise a batch) works without the optional Dask packages."""
    if name not in _HOMES:
        raise AttributeError(f"module 'bayesdeconv.tiling' has no attribute {name!r}")
    try:
        module = importlib.import_module(f"bayesdeconv.tiling.{_HOMES[name]}")
    except ImportError as exc:
        if exc.name not in ("dask", "distributed", "zarr"):
            raise
        raise ImportError(
            f"bayesdeconv.tiling needs {exc.name}: pip install \"bayesdeconv[dask]\""
        ) from exc
    return getattr(module, name)
