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

from bayesdeconv.tiling.batch import BatchReport, deconvolve_batch
from bayesdeconv.tiling.layout import Tile, TileLayout
from bayesdeconv.tiling.sources import BatchItem, batch_items
from bayesdeconv.tiling.store import write_tiled
from bayesdeconv.tiling.tiled import TiledResult, blend, deconvolve_tiles, fit_tile

__all__ = [
    "BatchItem",
    "BatchReport",
    "Tile",
    "TileLayout",
    "TiledResult",
    "batch_items",
    "blend",
    "deconvolve_batch",
    "deconvolve_tiles",
    "fit_tile",
    "write_tiled",
]
