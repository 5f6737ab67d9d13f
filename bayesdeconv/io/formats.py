"""File formats known to :mod:`bayesdeconv.io`: their suffixes and the path type.

The format of a file is chosen by its suffix, ignoring case, both when reading
(:func:`~bayesdeconv.io.read_image`) and when writing (:func:`~bayesdeconv.io.write_image`).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = [
    "LUMA",
    "NPY_SUFFIXES",
    "PNG_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "TIFF_SUFFIXES",
    "ZARR_SUFFIXES",
    "PathLike",
]

PathLike = str | os.PathLike[str]

TIFF_SUFFIXES = (".tif", ".tiff")
PNG_SUFFIXES = (".png",)
NPY_SUFFIXES = (".npy",)
SUPPORTED_SUFFIXES: tuple[str, ...] = TIFF_SUFFIXES + PNG_SUFFIXES + NPY_SUFFIXES
# OME-Zarr stores are directories (usually ``name.ome.zarr``), read by read_image as well but
# not among the file suffixes above.
ZARR_SUFFIXES = (".zarr",)

# Luminance weights (ITU-R BT.601), as used by Pillow's "L" conversion.
LUMA = np.array([0.299, 0.587, 0.114])
