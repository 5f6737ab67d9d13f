"""Microscope habits of ``bayesdeconv deconvolve``: ``--psf widefield``, ``--voxel-size`` and
saturated voxels.

``--psf widefield`` is the *fixed* widefield PSF (non-blind deconvolution), computed by
:func:`~bayesdeconv.physics.psf.widefield_psf` from ``--wavelength``, ``--na``,
``--refractive-index`` and the voxel size, which comes from the input file's metadata (OME,
ImageJ or resolution tags) unless ``--voxel-size`` overrides it. Integer voxels at their
type's maximum (65535 for ``uint16``, 255 for ``uint8``) are saturated: the detector clipped
them, so they are left out of the likelihood like the unobserved voxels of ``--mask``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from bayesdeconv.cli.errors import CLIError, usage_error
from bayesdeconv.io import ImageData

__all__ = [
    "DEFAULT_REFRACTIVE_INDEX",
    "MAX_SATURATED_SHARE",
    "PSF_MODELS",
    "note",
    "parse_voxel_size",
    "psf_model",
    "saturation_mask",
    "validate_microscope_args",
    "voxel_size_of",
    "widefield_from_args",
]

#: The fixed PSF models ``--psf`` names (computed, not read from a file, not estimated).
PSF_MODELS = ("widefield",)
#: Immersion oil, the default of ``--refractive-index``.
DEFAULT_REFRACTIVE_INDEX = 1.515
#: Above this share of saturated voxels the image is refused (too little left to fit).
MAX_SATURATED_SHARE = 0.5

_OPTICS = ("wavelength", "numerical_aperture", "refractive_index")


def parse_voxel_size(text: str) -> tuple[float, ...]:
    """``"Z,Y,X"`` or ``"Y,X"`` (micrometres) as a tuple of positive finite floats.

    Parameters
    ----------
    text : str
        The option's value.

    Returns
    -------
    tuple of float
        The voxel size, in the order of the image axes.

    Raises
    ------
    argparse.ArgumentTypeError
        If it is not two or three comma-separated positive finite numbers.
    """
    try:
        sizes = tuple(float(v) for v in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) not in (2, 3):
        raise argparse.ArgumentTypeError(f"must be Z,Y,X or Y,X in micrometres, got {text!r}")
    if not all(math.isfinite(v) and v > 0 for v in sizes):
        raise argparse.ArgumentTypeError(
            f"voxel sizes must be positive finite numbers (micrometres), got {text!r}"
        )
    return sizes


def psf_model(args: argparse.Namespace) -> str | None:
    """The fixed PSF model ``--psf`` names (``widefield``), or None.

    A file of that name wins, so an existing file is never reinterpreted."""
    psf = args.psf
    if psf is None or str(psf) not in PSF_MODELS or Path(psf).exists():
        return None
    return str(psf)


def validate_microscope_args(prog: str, args: argparse.Namespace) -> bool:
    """Usage rules of ``--psf widefield`` and the optics options.

    Parameters
    ----------
    prog : str
        Program name for the hint (``"bayesdeconv deconvolve"``).
    args : argparse.Namespace
        Parsed ``deconvolve`` arguments.

    Returns
    -------
    bool
        True if ``--psf`` names a fixed PSF model (its rules are then all checked).

    Raises
    ------
    SystemExit
        With code 2 (after one line on stderr) on a violation.
    """
    model = psf_model(args)
    given = [name for name in _OPTICS if getattr(args, name) is not None]
    if model is None:
        if given:
            usage_error(
                prog, "--wavelength, --na and --refractive-index are only used with --psf widefield"
            )
        return False
    if args.blind or args.psf_size is not None:
        usage_error(prog, f"--psf {model} is a fixed PSF; drop --blind and --psf-size")
    if args.normalise_psf or args.psf_sigma is not None:
        usage_error(prog, f"--normalise-psf and --psf-sigma are not used with --psf {model}")
    if args.wavelength is None or args.numerical_aperture is None:
        usage_error(prog, f"--psf {model} needs --wavelength UM and --na NA")
    index = DEFAULT_REFRACTIVE_INDEX if args.refractive_index is None else args.refractive_index
    for option, value in (("--wavelength", args.wavelength), ("--na", args.numerical_aperture)):
        if not (math.isfinite(value) and value > 0):
            usage_error(prog, f"{option} must be a positive number, got {value:g}")
    if not (math.isfinite(index) and index >= 1):
        usage_error(prog, f"--refractive-index must be at least 1 (air), got {index:g}")
    if args.numerical_aperture > index:
        usage_error(
            prog,
            f"--na {args.numerical_aperture:g} cannot exceed the refractive index {index:g} "
            "(--refractive-index)",
        )
    if args.crop_psf is not None and not 0 < args.crop_psf <= 1:
        usage_error(prog, "--crop-psf ENERGY needs 0 < ENERGY <= 1")
    return True


def voxel_size_of(
    args: argparse.Namespace, image: ImageData
) -> tuple[tuple[float, ...] | None, str | None]:
    """The voxel size of the run: ``--voxel-size`` if given, else the input file's.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``deconvolve`` arguments.
    image : ImageData
        The input image.

    Returns
    -------
    voxel_size : tuple of float or None
        One entry per image axis, or None if neither gives one.
    unit : str or None
        ``"um"`` for ``--voxel-size``, else the file's unit.

    Raises
    ------
    CLIError
        If ``--voxel-size`` does not have one entry per axis of the image.
    """
    if args.voxel_size is None:
        return image.voxel_size, image.unit
    if len(args.voxel_size) != image.ndim:
        order = "Z,Y,X" if image.ndim == 3 else "Y,X"
        raise CLIError(
            f"--voxel-size has {len(args.voxel_size)} values but {args.input} is {image.ndim}-D "
            f"(shape {image.shape}); give {order}"
        )
    return tuple(args.voxel_size), "um"


def widefield_from_args(
    args: argparse.Namespace, image: ImageData, voxel: tuple[float, ...] | None, unit: str | None
) -> np.ndarray:
    """The fixed widefield PSF of ``--psf widefield`` for the input image.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed and validated ``deconvolve`` arguments.
    image : ImageData
        The input image (its shape bounds the PSF's support).
    voxel, unit : tuple of float or None, str or None
        The run's voxel size and unit (:func:`voxel_size_of`).

    Returns
    -------
    numpy.ndarray
        The PSF, 2-D or 3-D like the image, normalised.

    Raises
    ------
    CLIError
        If there is no voxel size, or it is in a unit other than micrometres (or none).
    """
    from bayesdeconv.physics.psf import widefield_psf

    order = "Z,Y,X" if image.ndim == 3 else "Y,X"
    if voxel is None:
        raise CLIError(
            f"{args.input} records no voxel size; pass --voxel-size {order} (micrometres)"
        )
    if unit not in ("um", None):
        raise CLIError(
            f"the voxel size of {args.input} is in {unit!r}, not micrometres; pass "
            f"--voxel-size {order} in micrometres"
        )
    index = DEFAULT_REFRACTIVE_INDEX if args.refractive_index is None else args.refractive_index
    psf = widefield_psf(
        voxel,
        wavelength=args.wavelength,
        numerical_aperture=args.numerical_aperture,
        refractive_index=index,
        max_shape=image.shape,
    )
    sizes = " x ".join(f"{v:.4g}" for v in voxel)
    optics = f"NA {args.numerical_aperture:g}, n {index:g}, wavelength {args.wavelength:g} um"
    note(args, f"widefield PSF {'x'.join(map(str, psf.shape))} on {sizes} um voxels ({optics})")
    return psf


def saturation_mask(
    args: argparse.Namespace, image: ImageData, mask: np.ndarray | None
) -> np.ndarray | None:
    """The observation mask with the saturated voxels left out (unless ``--keep-saturated``).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``deconvolve`` arguments.
    image : ImageData
        The input image; :attr:`~bayesdeconv.io.ImageData.saturated` marks its saturated
        voxels.
    mask : numpy.ndarray of bool or None
        The ``--mask`` (True = observed), or None.

    Returns
    -------
    numpy.ndarray of bool or None
        `mask` and not saturated; `mask` itself if no voxel is saturated.

    Raises
    ------
    CLIError
        If more than :data:`MAX_SATURATED_SHARE` of the (observed) voxels are saturated.
    """
    saturated = image.saturated
    if args.keep_saturated or saturated is None:
        return mask
    if mask is not None and mask.shape != saturated.shape:
        return mask  # deconvolve reports the mismatch
    observed = saturated if mask is None else saturated & mask
    count = int(observed.sum())
    if count == 0:
        return mask
    total = saturated.size if mask is None else int(mask.sum())
    value = f"{image.saturation:.0f}"
    if count > MAX_SATURATED_SHARE * total:
        raise CLIError(
            f"{count} of {total} voxels of {args.input} are saturated (value {value}): too "
            "few are left to deconvolve; lower the exposure or gain, or pass --keep-saturated"
        )
    note(args, f"masked {count} saturated voxels (value {value})")
    return ~saturated if mask is None else mask & ~saturated


def note(args: argparse.Namespace, text: str) -> None:
    """Print one line of progress to stdout unless ``--quiet``."""
    if not args.quiet:
        print(text, flush=True)
