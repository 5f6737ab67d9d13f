"""``bayesdeconv train-vae`` and ``deconvolve --prior-file MODEL.npz``: VAE image priors.

Usage::

    bayesdeconv train-vae STACK [STACK ...] [--psf PSF] -o MODEL.npz [options]
    bayesdeconv deconvolve IMAGE --psf PSF --prior-file MODEL.npz -o MEAN.tif [options]

``train-vae`` trains a :class:`~bayesdeconv.priors.VAEImagePrior` on the user's own noisy
images with :func:`bayesdeconv.training.fit_vae` and writes it as a ``.npz`` model:
DivBlurring with ``--psf`` (the images are blurred by it), DivNoising without (a denoising
VAE). Each ``STACK`` is a 2-D image or a 3-D stack of 2-D images along its first axis (a
folder stands for its image files, by name); every image is cut into non-overlapping
``--patch`` × ``--patch`` patches, 10 % of which are held out to report the loss.

Noise (``--noise``, the names of ``deconvolve``): ``gaussian`` has its precision fixed at
the images' noise estimate; ``poisson`` takes the images as photon counts; ``poisson-gaussian``
takes raw camera values, with the gain, offset and read noise measured on the training
patches as ``deconvolve --noise poisson-gaussian`` measures them on its image, or given by
``--gain`` (and ``--offset``, ``--read-noise``, default 0). The model works in the noise
model's signal units, so deconvolve with the same ``--noise``.

Interruption loses at most one epoch: after every epoch the model so far is written
(atomically) to the *checkpoint* ``MODEL.checkpoint.npz`` next to the output
(:func:`checkpoint_path`); ``--resume`` continues it with the same images and options,
checked (only ``--epochs``, ``--learning-rate`` and ``--batch-size`` may change: a larger
``--epochs`` trains further; Adam's moment estimates restart). ``MODEL.npz`` itself is
written only at the end, all at once, and the checkpoint is then removed. An existing
``MODEL.npz`` is kept unless ``--force``; so is a checkpoint, unless ``--resume`` continues it
or ``--force`` starts over.

``deconvolve --prior-file`` tells a VAE model from a learned Wiener bank by the file's content
and then implies ``--prior vae`` (:func:`read_vae_file`). A model is for 2-D images and the PSF
it was trained with; ``--any-psf`` accepts another PSF (the decoder is a prior on sharp images
whatever the blur, only the encoder's starting point is off). A DivNoising model has no PSF:
denoise with a delta PSF (a 3×3 file, 1 at its centre, 0 elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path

import numpy as np

from bayesdeconv.cli.errors import PROG, CLIError, describe, usage_error
from bayesdeconv.cli.outputs import Output, check_outputs, same_file, write_all
from bayesdeconv.cli.wiener import BANK_SUFFIXES, expand_inputs, read_images
from bayesdeconv.priors.vae_networks import NetworkShape

__all__ = [
    "PATCH_MULTIPLE",
    "checkpoint_path",
    "parse_positivity",
    "read_vae_file",
    "run_train_vae",
    "validate_train_vae_args",
]

#: ``train-vae`` patch sizes must be multiples of this (the networks' :math:`2^{depth}`).
PATCH_MULTIPLE = NetworkShape().factor


def checkpoint_path(output: Path) -> Path:
    """The checkpoint of a ``train-vae`` run writing ``output``: ``MODEL.checkpoint.npz``.

    Parameters
    ----------
    output : Path
        The model file (``--output``).

    Returns
    -------
    Path
        The checkpoint next to it.
    """
    return output.with_suffix(".checkpoint.npz")


def parse_positivity(text: str) -> str | float:
    """``--positivity``: ``constraint`` or a non-negative penalty weight.

    Parameters
    ----------
    text : str
        The option's value.

    Returns
    -------
    str or float
        ``"constraint"`` or the weight.

    Raises
    ------
    argparse.ArgumentTypeError
        For anything else.
    """
    if text == "constraint":
        return text
    try:
        weight = float(text)
    except ValueError:
        weight = math.nan
    if not (math.isfinite(weight) and weight >= 0):
        raise argparse.ArgumentTypeError(
            f"must be 'constraint' or a non-negative penalty weight, got {text!r}"
        )
    return weight


# --------------------------------------------------------------------------------------------
# deconvolve --prior-file MODEL.npz
# --------------------------------------------------------------------------------------------


def read_vae_file(path: Path, image_shape: tuple[int, ...], image_name: object, *,
                  any_psf: bool = False):  # fmt: skip
    """Load a VAE model for ``deconvolve --prior-file`` and check it fits the image.

    Parameters
    ----------
    path : Path
        The ``.npz`` model written by ``train-vae`` (or
        :meth:`~bayesdeconv.priors.VAEImagePrior.save`).
    image_shape : tuple of int
        Shape of the image to deconvolve.
    image_name : object
        How the image is named in messages (its path).
    any_psf : bool
        ``--any-psf``: accept a PSF other than the training PSF.

    Returns
    -------
    VAEImagePrior
        The prior of the file (its training PSF is checked against ``--psf`` when the model
        is built, by :meth:`~bayesdeconv.priors.VAEImagePrior.check_model`).

    Raises
    ------
    CLIError
        If the file is missing or not a VAE model, or the image is not 2-D.
    """
    from bayesdeconv.priors import VAEImagePrior

    if not path.is_file():
        reason = "is a directory" if path.is_dir() else "not found"
        raise CLIError(f"--prior-file {path}: {reason}")
    try:
        prior = VAEImagePrior.load(path, **({"any_psf": True} if any_psf else {}))
    except ValueError as error:  # load names the file and says what is wrong with it
        raise CLIError(f"--prior-file {describe(error)}") from None
    if len(image_shape) != 2:
        raise CLIError(
            f"--prior-file {path} is a VAE model of 2-D images but {image_name} is "
            f"{len(image_shape)}-D (shape {tuple(image_shape)}); deconvolve its planes one by "
            "one, or use another --prior"
        )
    return prior


# --------------------------------------------------------------------------------------------
# train-vae
# --------------------------------------------------------------------------------------------


def validate_train_vae_args(args: argparse.Namespace) -> None:
    """Usage rules of ``train-vae`` that argparse cannot express.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``train-vae`` arguments.

    Raises
    ------
    SystemExit
        With code 2 (after one line on stderr) on a violation.
    """
    prog = f"{PROG} train-vae"
    for option, value in (("--epochs", args.epochs), ("--patch", args.patch),
                          ("--batch-size", args.batch_size), ("--width", args.width),
                          ("--latent-channels", args.latent_channels)):  # fmt: skip
        if value < 1:
            usage_error(prog, f"{option} must be a positive integer, got {value}")
    if args.patch % PATCH_MULTIPLE:
        usage_error(prog, f"--patch must be a multiple of {PATCH_MULTIPLE}, got {args.patch}")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        usage_error(prog, f"--learning-rate must be a positive number, got {args.learning_rate:g}")
    for option, value in (("--l1", args.l1), ("--l2", args.l2)):
        if not (math.isfinite(value) and value >= 0):
            usage_error(prog, f"{option} must be a non-negative number, got {value:g}")
    if args.normalise_psf and args.psf is None:
        usage_error(prog, "--normalise-psf is only used with --psf PSF")
    camera = {"--gain": args.gain, "--offset": args.offset, "--read-noise": args.read_noise}
    given = [option for option, value in camera.items() if value is not None]
    if given and args.noise != "poisson-gaussian":
        usage_error(prog, f"{', '.join(given)} need --noise poisson-gaussian")
    for option, value in camera.items():
        if value is not None and not math.isfinite(value):
            usage_error(prog, f"{option} must be a finite number, got {value:g}")
    if args.gain is not None and args.gain <= 0:
        usage_error(prog, f"--gain must be positive, got {args.gain:g}")
    if args.read_noise is not None and args.read_noise < 0:
        usage_error(prog, f"--read-noise must be 0 or more, got {args.read_noise:g}")


# --------------------------------------------------------------------------------------------
# train-vae: the run
# --------------------------------------------------------------------------------------------


def _planes(paths: list[Path], arrays: list[np.ndarray], patch: int) -> list[np.ndarray]:
    """The 2-D training images of the files (a 3-D stack's planes), each at least ``patch``."""
    planes = []
    for path, array in zip(paths, arrays, strict=True):
        if array.ndim not in (2, 3):
            raise CLIError(
                f"STACK {path} is {array.ndim}-D (shape {array.shape}); train-vae needs 2-D "
                "images or 3-D stacks of them (images along the first axis)"
            )
        if min(array.shape[-2:]) < patch:
            size = "x".join(map(str, array.shape[-2:]))
            raise CLIError(
                f"the images of {path} are {size}, smaller than --patch {patch}; give a "
                f"smaller --patch (a multiple of {PATCH_MULTIPLE})"
            )
        planes.extend([array] if array.ndim == 2 else list(array))
    return planes


def _training_psf(args: argparse.Namespace) -> np.ndarray | None:
    """The ``--psf`` array, 2-D and at most the patch (``None`` without ``--psf``)."""
    from bayesdeconv.cli.deconvolve import read_psf
    from bayesdeconv.io import read_image

    if args.psf is None:
        return None
    shape = read_image(args.psf).shape
    if len(shape) == 2 and max(shape) > args.patch:
        raise CLIError(
            f"the PSF in {args.psf} is {shape[0]}x{shape[1]}, larger than --patch {args.patch}; "
            "give a larger --patch or a smaller PSF"
        )
    return read_psf(args.psf, (args.patch, args.patch), normalise=args.normalise_psf)


def _noise(args: argparse.Namespace, data: np.ndarray):
    """The noise model of ``--noise`` (a camera calibrated on the patches ``data``)."""
    from bayesdeconv.likelihoods import EstimatedPoissonGaussianNoise, PoissonGaussianNoise
    from bayesdeconv.registry import LIKELIHOODS
    from bayesdeconv.training.vae import training_noise

    if args.gain is not None:
        noise = PoissonGaussianNoise(args.gain, args.offset or 0.0, args.read_noise or 0.0)
    elif args.noise == "poisson-gaussian":
        options = {"offset": args.offset, "read_noise": args.read_noise}
        noise = EstimatedPoissonGaussianNoise(**{k: v for k, v in options.items() if v is not None})
    else:
        noise = LIKELIHOODS.build(args.noise)
    return training_noise(noise.calibrate(data), data)


def _check_resume(checkpoint: Path, args, psf, noise, count: int) -> int:
    """The epochs done in the checkpoint; refuses one made with other images or options."""
    from bayesdeconv.priors import VAEImagePrior

    try:
        prior = VAEImagePrior.load(checkpoint)
    except ValueError as error:
        raise CLIError(f"--resume: {describe(error)}; pass --force to start over") from None
    record = prior.training
    network = prior.network
    trained = record.get("patches", 0) + record.get("held_out", 0)
    differences = [
        (f"--width {network.width}", network.width != args.width),
        (f"--latent-channels {network.latent_channels}",
         network.latent_channels != args.latent_channels),
        (f"--patch {record.get('patch')}", record.get("patch") != args.patch),
        (f"--seed {record.get('seed')}", record.get("seed") != args.seed),
        (f"--boundary {record.get('boundary')}",
         record.get("boundary") != ("circular" if psf is None else args.boundary)),
        (f"{trained} patches", trained != count),
        (f"the noise {record.get('noise')}", record.get("noise") != repr(noise)),
        ("no --psf" if prior.psf is None else "another --psf",
         (prior.psf is None) != (psf is None) or (psf is not None and (
             prior.psf.shape != psf.shape or not np.allclose(prior.psf, psf)))),
        (f"--positivity {prior.positivity}", prior.positivity != args.positivity),
        (f"--l1 {prior.l1:g}", prior.l1 != args.l1),
        (f"--l2 {prior.l2:g}", prior.l2 != args.l2),
    ]  # fmt: skip
    made = [text for text, differs in differences if differs]
    if made:
        raise CLIError(
            f"--resume: the checkpoint {checkpoint} was made with {', '.join(made)}; resume "
            "with the same images and options, or pass --force to start over"
        )
    return len(record.get("history", []))


def _default_description(args, psf, shape_text: str) -> str:
    kind = "DivNoising" if psf is None else "DivBlurring"
    blur = "" if psf is None else f" with a {psf.shape[0]}x{psf.shape[1]} PSF"
    return (
        f"{kind} VAE trained by '{PROG} train-vae' on {shape_text}{blur}, {args.noise} noise, "
        f"{args.patch}x{args.patch} patches, {args.epochs} epochs"
    )


def run_train_vae(args: argparse.Namespace) -> list[str]:
    """Run ``bayesdeconv train-vae``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed and validated ``train-vae`` arguments.

    Returns
    -------
    list of str
        The summary lines to print.

    Raises
    ------
    CLIError
        For bad input found by the command (see the ``train-vae`` help).
    """
    from bayesdeconv.training import fit_vae
    from bayesdeconv.training.vae import patches

    images = expand_inputs(list(args.images), "STACK")
    output: Path = args.output
    checkpoint = checkpoint_path(output)
    inputs = {f"STACK {i + 1}" if len(images) > 1 else "STACK": p for i, p in enumerate(images)}
    if args.psf is not None:
        inputs["--psf"] = args.psf
    for option, path in inputs.items():  # before the suffix rule: the clearer message
        for what, target in (("--output", output), ("the checkpoint", checkpoint)):
            if same_file(target, path):
                raise CLIError(
                    f"{what} {target} is the {option} file; refusing to overwrite an input"
                )
    check_outputs({"--output": output}, inputs, {"--output": BANK_SUFFIXES})
    if output.exists() and not args.force:
        raise CLIError(f"--output {output} exists; pass --force to replace it")
    if args.resume and not checkpoint.is_file():
        raise CLIError(f"--resume: no checkpoint {checkpoint} to continue; run without --resume")
    if checkpoint.exists() and not (args.resume or args.force):
        raise CLIError(
            f"the checkpoint {checkpoint} of an interrupted run exists; pass --resume to "
            "continue it or --force to start over"
        )

    arrays = read_images(images, "STACK")
    planes = _planes(images, arrays, args.patch)
    psf = _training_psf(args)
    data = patches(planes, args.patch)
    noise = _noise(args, data)
    resumed = _check_resume(checkpoint, args, psf, noise, len(data)) if args.resume else 0
    shapes = sorted({"x".join(map(str, p.shape)) for p in planes})
    files = f"{len(images)} file{'s' if len(images) > 1 else ''}"
    plural = "s" if len(planes) > 1 else ""
    shape_text = f"{len(planes)} 2-D image{plural} ({', '.join(shapes)}) from {files}"
    description = args.description or _default_description(args, psf, shape_text)

    if not args.resume:
        with contextlib.suppress(FileNotFoundError):
            checkpoint.unlink()  # --force: a later --resume must not find the old run
    start = time.perf_counter()
    try:
        prior = fit_vae(
            planes,
            psf,
            noise=noise,
            network=NetworkShape(width=args.width, latent_channels=args.latent_channels),
            patch=args.patch,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.learning_rate,
            positivity=args.positivity,
            l1=args.l1,
            l2=args.l2,
            boundary=args.boundary,
            seed=args.seed,
            checkpoint=checkpoint,
            resume=args.resume,
            description=description,
            progress=not args.quiet,
        )
    except (KeyboardInterrupt, FloatingPointError) as error:
        done = _epochs_done(checkpoint)
        note = f"{done} of {args.epochs} epochs are kept in {checkpoint}: --resume continues"
        if isinstance(error, KeyboardInterrupt):
            if done:
                print(f"{PROG}: {note}", file=sys.stderr)
            raise
        message = describe(error)
        if "lower lr" in message:
            message = message.replace("lower lr", "lower --learning-rate")
        else:
            message += "; lower --learning-rate"
        raise CLIError(f"{message}; {note}" if done else message) from None
    seconds = time.perf_counter() - start
    history = prior.training["history"]
    prior.description = description
    write_all([Output(output, prior.save)])
    with contextlib.suppress(FileNotFoundError):
        checkpoint.unlink()

    kind = "DivNoising" if psf is None else "DivBlurring"
    since = f", resumed after epoch {resumed}" if resumed else ""
    return [
        f"{PROG}: {kind} VAE on {shape_text}, {len(data)} {args.patch}x{args.patch} patches: "
        f"held-out loss {history[0]['held_out']:.4g} -> {history[-1]['held_out']:.4g} per "
        f"pixel, {len(history)} epochs{since}, {seconds:.2f} s; wrote {output}"
    ]


def _epochs_done(checkpoint: Path) -> int:
    """The epochs kept in a checkpoint (0 if there is none, or it cannot be read)."""
    from bayesdeconv.priors import VAEImagePrior

    if not checkpoint.is_file():
        return 0
    try:
        return len(VAEImagePrior.load(checkpoint).training.get("history", []))
    except ValueError:
        return 0
