"""Images larger than memory and many images: tiled deconvolution on Dask, batches on
``dask.distributed``, OME-Zarr in and out (needs ``pip install "bayesdeconv[dask]"``).

:func:`deconvolve_tiles` fits a large 2-D or 3-D image tile by tile with one shared set of
hyper-parameters and blends the tile posteriors (:mod:`~bayesdeconv.tiling.tiled`, grid and
weights in :mod:`~bayesdeconv.tiling.layout`).
"""

from bayesdeconv.tiling.layout import Tile, TileLayout
from bayesdeconv.tiling.tiled import TiledResult, blend, deconvolve_tiles, fit_tile

__all__ = ["Tile", "TileLayout", "TiledResult", "blend", "deconvolve_tiles", "fit_tile"]
