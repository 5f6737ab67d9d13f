"""``bayesdeconv train-wiener`` and ``deconvolve --prior-file``: learned Wiener filter banks.

``train-wiener`` reads the user's blurred images (2-D images or 3-D stacks, all of one
dimensionality), a PSF and optionally the sharp images, runs
:func:`bayesdeconv.training.train_wiener` and writes the trained
:class:`~bayesdeconv.priors.LearnedWienerPrior` as a ``.npz`` bank. ``deconvolve --prior-file
BANK.npz`` deconvolves with such a bank (:func:`read_prior_file`); ``--prior-file`` also takes
a VAE model of ``train-vae`` (:mod:`bayesdeconv.cli.vae`), told apart by the file's content
(:func:`prior_file_kind`).

Unlike ``deconvolve``, which replaces its outputs, ``train-wiener`` refuses to replace an
existing bank unless ``--force`` is given: a bank is the product of a long training run.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from bayesdeconv.cli.errors import PROG, CLIError, describe, usage_error
from bayesdeconv.cli.outputs import Output, check_outputs, same_file, write_all
from bayesdeconv.io import SUPPORTED_SUFFIXES, read_image

__all__ = [
    "BANK_SUFFIXES",
    "DEFAULT_SUPPORT",
    "expand_inputs",
    "prior_file_kind",
    "read_images",
    "read_prior_file",
    "run_train_wiener",
    "validate_prior_file_args",
    "validate_train_wiener_args",
]

#: Suffixes of a filter-bank file (``--output`` of ``train-wiener``, ``--prior-file``).
BANK_SUFFIXES = (".npz",)
#: Filter support (pixels per axis) by image dimensionality when ``--support`` is not given:
#: that of the shipped banks.
DEFAULT_SUPPORT = {2: 5, 3: 3}

# --------------------------------------------------------------------------------------------
# deconvolve --prior-file
# --------------------------------------------------------------------------------------------


def prior_file_kind(path: Path) -> str | None:
    """The prior a ``--prior-file`` holds, by the format of its JSON ``meta`` record.

    Parameters
    ----------
    path : Path
        The file given to ``--prior-file``.

    Returns
    -------
    str or None
        ``"learned-wiener"`` (a bank of ``train-wiener``), ``"vae"`` (a model of
        ``train-vae``), or ``None`` for a file that is neither or cannot be read (its loader
        then says what is wrong).
    """
    from bayesdeconv.priors.learned_wiener import FILE_FORMAT as WIENER_FORMAT
    from bayesdeconv.priors.vae_files import FILE_FORMAT as VAE_FORMAT

    try:  # anything unreadable is simply of no known kind
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
    except Exception:
        return None
    formats = {WIENER_FORMAT: "learned-wiener", VAE_FORMAT: "vae"}
    return formats.get(meta.get("format")) if isinstance(meta, dict) else None


def validate_prior_file_args(prog: str, args: argparse.Namespace) -> None:
    """``--prior-file`` implies the prior its file holds; any other ``--prior`` is an error.

    A learned Wiener bank implies ``--prior learned-wiener``, a VAE model ``--prior vae``
    (:func:`prior_file_kind`); a file of neither kind is read as what ``--prior`` names
    (a bank by default), whose loader reports the problem.

    Parameters
    ----------
    prog : str
        Program name for the hint (``"bayesdeconv deconvolve"``).
    args : argparse.Namespace
        Parsed ``deconvolve`` arguments; ``args.prior`` is set to ``"learned-wiener"`` or
        ``"vae"`` when ``--prior-file`` is given.

    Raises
    ------
    SystemExit
        With code 2 (after one line on stderr) if ``--prior`` names another prior.
    """
    if args.prior_file is None:
        return
    kind = prior_file_kind(args.prior_file) if args.prior_file.is_file() else None
    if kind is None:
        kind = "vae" if args.prior == "vae" else "learned-wiener"
    if args.prior not in (None, kind):
        what = {"learned-wiener": "a learned-wiener filter bank", "vae": "a VAE model"}[kind]
        usage_error(
            prog,
            f"--prior-file is {what}; drop --prior {args.prior} (or give --prior {kind})",
        )
    args.prior = kind


def read_prior_file(path: Path, image_shape: tuple[int, ...], image_name: object):
    """Load a filter bank for ``deconvolve --prior-file`` and check it fits the image.

    Parameters
    ----------
    path : Path
        The ``.npz`` bank written by ``train-wiener`` (or
        :meth:`~bayesdeconv.priors.LearnedWienerPrior.save`).
    image_shape : tuple of int
        Shape of the image to deconvolve.
    image_name : object
        How the image is named in messages (its path).

    Returns
    -------
    LearnedWienerPrior
        The prior with the file's filters.

    Raises
    ------
    CLIError
        If the file is missing or not a bank, or its filters are not of the image's
        dimensionality.
    """
    from bayesdeconv.priors import LearnedWienerPrior

    if not path.is_file():
        reason = "is a directory" if path.is_dir() else "not found"
        raise CLIError(f"--prior-file {path}: {reason}")
    try:
        prior = LearnedWienerPrior.load(path)
    except ValueError as error:  # load names the file and says what is wrong with it
        raise CLIError(f"--prior-file {describe(error)}") from None
    bank_ndim = prior.filters.ndim - 1
    ndim = len(image_shape)
    if bank_ndim != ndim:
        shape = "x".join(map(str, prior.filters.shape[1:]))
        raise CLIError(
            f"--prior-file {path} holds {bank_ndim}-D filters ({shape}) but {image_name} is "
            f"{ndim}-D (shape {tuple(image_shape)}); train a bank on {ndim}-D images with "
            f"'{PROG} train-wiener'"
        )
    return prior


# --------------------------------------------------------------------------------------------
# train-wiener
# --------------------------------------------------------------------------------------------


def validate_train_wiener_args(args: argparse.Namespace) -> None:
    """Usage rules of ``train-wiener`` that argparse cannot express.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``train-wiener`` arguments.

    Raises
    ------
    SystemExit
        With code 2 (after one line on stderr) on a violation.
    """
    prog = f"{PROG} train-wiener"
    if args.support is not None and args.support < 2:
        usage_error(prog, f"--support must be at least 2 pixels, got {args.support}")
    if args.count is not None and args.count < 1:
        usage_error(prog, f"--count must be a positive integer, got {args.count}")
    if args.steps < 1:
        usage_error(prog, f"--steps must be a positive integer, got {args.steps}")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        usage_error(prog, f"--learning-rate must be a positive number, got {args.learning_rate:g}")


def expand_inputs(paths: list[Path], option: str) -> list[Path]:
    """Image paths with each folder replaced by its image files, sorted by name.

    Parameters
    ----------
    paths : list of Path
        Files or folders as given on the command line.
    option : str
        The option they were given to, for messages (``"IMAGE"``, ``"--sharp"``).

    Returns
    -------
    list of Path
        The files, in command-line order (a folder's files by name).

    Raises
    ------
    CLIError
        If a folder holds no image file.
    """
    files: list[Path] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
        )
        if not found:
            raise CLIError(
                f"{option} folder {path} holds no image file ({', '.join(SUPPORTED_SUFFIXES)})"
            )
        files.extend(found)
    return files


def read_images(paths: list[Path], what: str) -> list[np.ndarray]:
    """Read training images, refusing NaN/Inf pixels.

    Parameters
    ----------
    paths : list of Path
        Image files.
    what : str
        How an image is named in messages (``"IMAGE"``, ``"--sharp image"``).

    Returns
    -------
    list of numpy.ndarray
        The images, in order.

    Raises
    ------
    CLIError
        If an image holds NaN or Inf pixels (the file and their count named).
    """
    arrays = []
    for path in paths:
        array = read_image(path).array
        bad = int((~np.isfinite(array)).sum())
        if bad:
            raise CLIError(
                f"{what} {path} contains {bad} NaN or Inf pixel(s); training needs finite images"
            )
        arrays.append(array)
    return arrays


def _check_dimensionality(paths: list[Path], arrays: list[np.ndarray]) -> int:
    """The images' common dimensionality; mixed 2-D and 3-D images are an error."""
    ndim = arrays[0].ndim
    for path, array in zip(paths, arrays, strict=True):
        if array.ndim != ndim:
            raise CLIError(
                f"the images mix 2-D and 3-D: {paths[0]} is {ndim}-D (shape {arrays[0].shape}), "
                f"{path} is {array.ndim}-D (shape {array.shape}); train one bank per "
                "dimensionality"
            )
    return ndim


def _default_description(args, objective: str, count: int, support, shape_text: str) -> str:
    sizes = "x".join(map(str, support))
    return (
        f"{count} {sizes} filters, {objective}-trained on {shape_text} by '{PROG} train-wiener' "
        f"({args.filters} start, {args.steps} steps, learning rate {args.learning_rate:g}"
        f"{'' if args.periodic else ', circular blur'})"
    )


def run_train_wiener(args: argparse.Namespace) -> list[str]:
    """Run ``bayesdeconv train-wiener``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed and validated ``train-wiener`` arguments.

    Returns
    -------
    list of str
        The one summary line to print.

    Raises
    ------
    CLIError
        For bad input found by the command (see the ``train-wiener`` help).
    """
    from bayesdeconv.cli.deconvolve import read_psf
    from bayesdeconv.training import train_wiener

    images = expand_inputs(list(args.images), "IMAGE")
    sharp = None if args.sharp is None else expand_inputs(list(args.sharp), "--sharp")
    output: Path = args.output

    inputs = {f"IMAGE {i + 1}" if len(images) > 1 else "IMAGE": p for i, p in enumerate(images)}
    inputs["--psf"] = args.psf
    for i, path in enumerate(sharp or []):
        inputs[f"--sharp {i + 1}" if len(sharp) > 1 else "--sharp"] = path
    for option, path in inputs.items():  # before the suffix rule: the clearer message
        if same_file(output, path):
            raise CLIError(
                f"--output {output} is the {option} file; refusing to overwrite an input"
            )
    check_outputs({"--output": output}, inputs, {"--output": BANK_SUFFIXES})
    if output.exists() and not args.force:
        raise CLIError(f"--output {output} exists; pass --force to replace it")
    if sharp is not None and len(sharp) != len(images):
        raise CLIError(
            f"{len(sharp)} --sharp images for {len(images)} IMAGEs; give one sharp image per "
            "IMAGE, in the same order"
        )

    arrays = read_images(images, "IMAGE")
    ndim = _check_dimensionality(images, arrays)
    truths = None
    if sharp is not None:
        truths = read_images(sharp, "--sharp image")
        for blurred, path, array, truth in zip(images, sharp, arrays, truths, strict=True):
            if truth.shape != array.shape:
                raise CLIError(
                    f"--sharp image {path} has shape {truth.shape} but its IMAGE {blurred} has "
                    f"shape {array.shape}"
                )
    psf_ndim = read_image(args.psf).ndim
    if psf_ndim != ndim:
        axes = "(z, y, x)" if ndim == 3 else "(y, x)"
        raise CLIError(
            f"the PSF in {args.psf} is {psf_ndim}-D but the images are {ndim}-D; give a "
            f"{ndim}-D PSF {axes}"
        )
    smallest = tuple(int(n) for n in np.min([a.shape for a in arrays], axis=0))
    psf = read_psf(args.psf, smallest, normalise=args.normalise_psf)

    support = DEFAULT_SUPPORT[ndim] if args.support is None else args.support
    shapes = sorted({"x".join(map(str, a.shape)) for a in arrays})
    plural = "s" if len(arrays) > 1 else ""
    shape_text = f"{len(arrays)} {ndim}-D image{plural} ({', '.join(shapes)})"
    objective = "evidence" if truths is None else "supervised"
    training = train_wiener(
        arrays,
        psf,
        sharp=truths,
        filters=args.filters,
        support=support,
        count=args.count,
        steps=args.steps,
        learning_rate=args.learning_rate,
        periodic=args.periodic,
        seed=args.seed,
        progress=not args.quiet,
        description="",
    )
    prior = training.prior
    history = training.history
    if not (np.isfinite(history).all() and bool(np.isfinite(prior.filters.numpy()).all())):
        raise FloatingPointError(
            "the training diverged (objective NaN or Inf); lower --learning-rate or --steps"
        )
    bank = prior.filters
    prior.description = args.description or _default_description(
        args, objective, bank.shape[0], tuple(bank.shape[1:]), shape_text
    )
    write_all([Output(output, prior.save)])

    unit = "log evidence per pixel" if objective == "evidence" else "PSNR"
    value = "{:.4f}" if objective == "evidence" else "{:.2f} dB"
    sizes = "x".join(map(str, bank.shape[1:]))
    return [
        f"{PROG}: {objective} training of {bank.shape[0]} {sizes} filters on {shape_text}: "
        f"{unit} {value.format(history[0])} -> {value.format(history[-1])}, "
        f"{args.steps} steps, {training.seconds:.2f} s; wrote {output}"
    ]
