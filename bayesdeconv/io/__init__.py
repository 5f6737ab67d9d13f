"""Reading and writing images: TIFF, PNG, NumPy ``.npy`` files and OME-Zarr stores.

Reading
-------
:func:`read_image` returns an :class:`ImageData` holding a ``float64`` array of 2 or 3
dimensions (axes ``(y, x)`` or ``(z, y, x)``). It also holds the voxel size and its unit
when the file records them. Anything that cannot be turned into such an image raises
:class:`ImageReadError`, a :class:`ValueError` whose message is one line naming the file.
It also reads an OME-Zarr image directory (a 2-D image or z-stack; one with a time axis
holds several images and is refused).

:func:`read_ome_zarr` opens an OME-Zarr image (OME-NGFF 0.4 or 0.5, axes ``yx`` or ``zyx``
after an optional ``t`` and a ``c`` of length 1) lazily, as a dask array, with its voxel size
in micrometres; :func:`is_ome_zarr` tells whether a directory is one. OME-Zarr needs the
optional zarr and dask packages (``pip install "bayesdeconv[dask]"``), which are imported
only when these functions run.

Value conventions
~~~~~~~~~~~~~~~~~
* TIFF and ``.npy`` integer data keep their values and are only cast to ``float64``. Such
  data are usually photon counts, and the noise model needs them unscaled.
* 8-bit PNGs are divided by 255 and 16-bit PNGs by 65535, so they lie in ``[0, 1]``. PNG is
  a display format, so these files are treated as intensities on a fixed scale.
* A colour PNG (RGB, RGBA, palette) or RGB/RGBA TIFF is converted to grayscale luminance
  ``0.299 R + 0.587 G + 0.114 B`` with a :class:`UserWarning`. Alpha channels are dropped.
  (TIFF integer colour values are not rescaled.)
* A TIFF with a time or channel axis (tifffile axes ``T`` or ``C`` longer than 1) is refused:
  only single 2-D images and z-stacks are images here.
* NaN and Inf values are kept as they are. Checking for them is left to the caller.

Writing
-------
:func:`write_tiff`, :func:`write_npy`, :func:`write_png` and the dispatcher :func:`write_image`
all write atomically. The data go to a temporary file in the target directory, which is then
renamed over the target with :func:`os.replace`. A failed write never leaves a partial file
and never damages an existing one. A caller that stages several outputs in temporary files
of its own (the command line does) can turn this off with :func:`direct_writes`, so that
each output is written once, straight to the caller's temporary file.

:class:`OmeZarrWriter` writes an OME-Zarr store (NGFF 0.4) of several images of one shape,
such as a deconvolution's ``mean`` and ``std``, block by block: into a hidden partial
directory that a long job can resume, renamed into place when complete.
:func:`write_ome_zarr` writes NumPy or dask arrays this way in one call.

Modules
-------
:mod:`~bayesdeconv.io.read` (:func:`read_image`; TIFF parsing in
:mod:`~bayesdeconv.io.tiff_reader`), :mod:`~bayesdeconv.io.write` (the writers),
:mod:`~bayesdeconv.io.atomic` (the all-or-nothing write mechanism),
:mod:`~bayesdeconv.io.ome_zarr` (OME-Zarr reading) and
:mod:`~bayesdeconv.io.ome_zarr_writer` (OME-Zarr writing),
:mod:`~bayesdeconv.io.image` (:class:`ImageData`, :class:`ImageReadError`) and
:mod:`~bayesdeconv.io.formats` (supported suffixes).
"""

from bayesdeconv.io.atomic import atomic_write, direct_writes, file_mode_for
from bayesdeconv.io.formats import SUPPORTED_SUFFIXES, PathLike
from bayesdeconv.io.image import ImageData, ImageReadError
from bayesdeconv.io.ome_zarr import (
    OmeZarrImage,
    bayesdeconv_attributes,
    is_ome_zarr,
    read_ome_zarr,
)
from bayesdeconv.io.ome_zarr_writer import OmeZarrWriter, write_ome_zarr
from bayesdeconv.io.read import read_image
from bayesdeconv.io.write import write_image, write_npy, write_png, write_tiff

__all__ = [
    "SUPPORTED_SUFFIXES",
    "ImageData",
    "ImageReadError",
    "OmeZarrImage",
    "OmeZarrWriter",
    "PathLike",
    "atomic_write",
    "bayesdeconv_attributes",
    "direct_writes",
    "file_mode_for",
    "is_ome_zarr",
    "read_image",
    "read_ome_zarr",
    "write_image",
    "write_npy",
    "write_ome_zarr",
    "write_png",
    "write_tiff",
]
