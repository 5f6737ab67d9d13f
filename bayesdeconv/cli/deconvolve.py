"""``bayesdeconv deconvolve``: read the inputs, run :func:`bayesdeconv.deconvolve`, write."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from bayesdeconv.cli.errors import PROG, CLIError, usage_error
from bayesdeconv.cli.large import is_large_run, run_large, validate_large_args
from bayesdeconv.cli.microscope import (
    note,
    psf_model,
    saturation_mask,
    validate_microscope_args,
    voxel_size_of,
    widefield_from_args,
)
from bayesdeconv.cli.outputs import TIFF_SUFFIXES, Output, check_outputs, write_all
from bayesdeconv.cli.vae import read_vae_file
from bayesdeconv.cli.wiener import read_prior_file, validate_prior_file_args
from bayesdeconv.io import read_image, write_tiff

__all__ = ["ARVIZ_SAMPLES", "read_mask", "read_psf", "run_deconvolve", "validate_deconvolve_args"]

#: Posterior draws stored in the ArviZ file.
ARVIZ_SAMPLES = 200


def read_psf(path: Path, image_shape: tuple[int, ...], *, normalise: bool = False) -> np.ndarray:
    """Read and validate a PSF file (finite, non-negative, normalised, not too large).

    Parameters
    ----------
    path : Path
        PSF image file.
    image_shape : tuple of int
        Shape of the image the PSF is for.
    normalise : bool
        Divide the PSF by its sum (``--normalise-psf``) instead of refusing a PSF whose sum
        is not 1.

    Returns
    -------
    numpy.ndarray
        The validated PSF (float64; divided by its sum when ``normalise``).

    Raises
    ------
    CLIError
        If the PSF has not as many axes as the image (singleton axes of the file removed).
    ValueError
        If the PSF is not acceptable (see :func:`bayesdeconv.physics.psf.check_psf`); an
        unnormalised one is named with the ``--normalise-psf`` remedy.
    """
    from bayesdeconv.physics.psf import check_psf

    array = read_image(path).array
    if array.ndim != len(image_shape):
        hint = (
            "a z-stack needs a 3-D PSF (z, y, x), such as --psf widefield"
            if len(image_shape) == 3
            else "a 2-D image needs a 2-D PSF (y, x)"
        )
        raise CLIError(
            f"the PSF in {path} is {array.ndim}-D (shape {array.shape}) but the image is "
            f"{len(image_shape)}-D (shape {tuple(image_shape)}); {hint}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deconvolve checks it again and warns then
        return check_psf(
            array,
            image_shape=image_shape,
            name=f"the PSF in {path}",
            normalise=normalise,
            normalise_option="--normalise-psf",
        )


def read_mask(path: Path) -> np.ndarray:
    """Read a mask file: nonzero pixels are observed.

    Parameters
    ----------
    path : Path
        Mask image file.

    Returns
    -------
    numpy.ndarray of bool
        True where a pixel is observed.

    Raises
    ------
    CLIError
        If the mask contains NaN or Inf values.
    """
    array = read_image(path).array
    if not np.isfinite(array).all():
        raise CLIError(f"the mask in {path} contains NaN or Inf values")
    return array != 0


def validate_deconvolve_args(args: argparse.Namespace) -> None:
    """Usage rules argparse cannot express; exits with status 2 on a violation.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``deconvolve`` arguments.

    Raises
    ------
    SystemExit
        With code 2 (after one line on stderr) on a violation.
    """
    prog = f"{PROG} deconvolve"
    validate_large_args(prog, args)
    if is_large_run(args):
        return
    validate_prior_file_args(prog, args)
    if args.any_psf and args.prior != "vae":
        usage_error(prog, "--any-psf is used only with --prior vae or a VAE --prior-file")
    if validate_microscope_args(prog, args):
        return
    family = psf_family(args)
    if family is not None:
        if args.blind:
            usage_error(prog, f"--psf {family} already asks for the PSF; drop --blind")
        if args.psf_size is None:
            usage_error(prog, f"--psf {family} needs --psf-size N, the PSF support")
        if args.normalise_psf or args.crop_psf is not None:
            usage_error(prog, "--normalise-psf and --crop-psf are only used with a PSF file")
        if args.psf_size < 1:
            usage_error(prog, f"--psf-size must be a positive integer, got {args.psf_size}")
        if args.psf_sigma is not None:
            if family != "gaussian":
                usage_error(prog, "--psf-sigma is used only with --psf gaussian")
            _sigma_range(prog, args.psf_sigma)
        return
    if args.psf_sigma is not None:
        usage_error(prog, "--psf-sigma is used only with --psf gaussian")
    if args.psf is not None and args.blind:
        usage_error(prog, "give either --psf PSF or --blind, not both")
    if args.psf is None and not args.blind:
        usage_error(prog, "give --psf PSF or --blind [--psf-size N]")
    if args.psf_size is not None and not args.blind:
        usage_error(prog, "--psf-size is only used with --blind")
    if args.normalise_psf and args.psf is None:
        usage_error(prog, "--normalise-psf is only used with --psf PSF")
    if args.crop_psf is not None and (args.psf is None or not 0 < args.crop_psf <= 1):
        usage_error(prog, "--crop-psf ENERGY needs --psf PSF and 0 < ENERGY <= 1")
    if args.psf_size is not None and args.psf_size < 1:
        usage_error(prog, f"--psf-size must be a positive integer, got {args.psf_size}")


def psf_family(args: argparse.Namespace) -> str | None:
    """The parametric PSF family ``--psf`` names (``gaussian``, ...), or ``None`` for a file.

    A file of that name wins, so an existing file is never reinterpreted."""
    from bayesdeconv.cli.choices import parametric_psf_families

    if args.psf is None or args.psf.exists() or str(args.psf) not in parametric_psf_families():
        return None
    return str(args.psf)


def _sigma_range(prog: str, text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(":"))
    except ValueError:
        usage_error(prog, f"--psf-sigma must be LO:HI in pixels, e.g. 0.5:4, got {text!r}")
    if not (0 < low < high) or not np.isfinite(high):
        usage_error(prog, f"--psf-sigma needs 0 < LO < HI, got {text!r}")
    return low, high


def _parametric_psf(args: argparse.Namespace, family: str):
    """The parametric PSF prior ``--psf FAMILY --psf-size N [--psf-sigma LO:HI]`` names."""
    import pyro.distributions as dist

    from bayesdeconv.psf_priors import GaussianPSF
    from bayesdeconv.registry import PSF_PRIORS

    size = (args.psf_size, args.psf_size)
    if family == "gaussian" and args.psf_sigma is not None:
        low, high = _sigma_range(f"{PROG} deconvolve", args.psf_sigma)
        width = dist.Uniform(low, high)
        return GaussianPSF(size, sigma_x=width, sigma_y=width)
    return PSF_PRIORS.build(family, size=size)


def _outputs_to_check(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """Inputs, outputs and allowed output suffixes by option name."""
    inputs = {"INPUT": args.input}
    if args.psf is not None and psf_family(args) is None and psf_model(args) is None:
        inputs["--psf"] = args.psf
    if args.mask is not None:
        inputs["--mask"] = args.mask
    if args.prior_file is not None:
        inputs["--prior-file"] = args.prior_file
    outputs = {"--output": args.output}
    suffixes = {"--output": TIFF_SUFFIXES}
    for option, path, allowed in (
        ("--std-output", args.std_output, TIFF_SUFFIXES),
        ("--psf-output", args.psf_output, TIFF_SUFFIXES),
        ("--report", args.report, (".png",)),
        ("--arviz", args.arviz, (".nc",)),
    ):
        if path is not None:
            outputs[option] = path
            suffixes[option] = allowed
    return outputs, inputs, suffixes


def run_deconvolve(args: argparse.Namespace) -> list[str]:
    """Run ``bayesdeconv deconvolve``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed and validated ``deconvolve`` arguments.

    Returns
    -------
    list of str
        The summary lines to print.
    """
    from bayesdeconv.api import deconvolve

    if is_large_run(args):
        return run_large(args)
    check_outputs(*_outputs_to_check(args))

    image = read_image(args.input)
    voxel, unit = voxel_size_of(args, image)
    psf = None
    family = psf_family(args)
    if family is not None:
        psf = _parametric_psf(args, family)
    elif psf_model(args) is not None:
        psf = widefield_from_args(args, image, voxel, unit)
    elif args.psf is not None:
        psf = read_psf(args.psf, image.shape, normalise=args.normalise_psf)
    if args.crop_psf is not None:
        from bayesdeconv.physics.psf import crop_psf

        full = psf.shape
        psf, dropped = crop_psf(psf, args.crop_psf)
        shape = "x".join(map(str, psf.shape))
        note(args, f"PSF cropped from {'x'.join(map(str, full))} to {shape} "
                   f"(drops {100 * dropped:.3g} % of its energy)")  # fmt: skip
    prior = args.prior
    if args.prior_file is not None and prior == "vae":
        prior = read_vae_file(args.prior_file, image.shape, args.input, any_psf=args.any_psf)
    elif args.prior_file is not None:
        prior = read_prior_file(args.prior_file, image.shape, args.input)
    elif prior == "vae" and args.any_psf:  # the shipped model, for any PSF
        from bayesdeconv.priors import VAEImagePrior

        prior = VAEImagePrior.shipped(any_psf=True)
    mask = read_mask(args.mask) if args.mask is not None else None
    mask = saturation_mask(args, image, mask)
    # No --method: leave the engine to deconvolve's own default.
    engine = {} if args.method is None else {"method": args.method}
    result = deconvolve(
        image.array,
        psf,
        prior=prior,
        noise=args.noise,
        guide=args.guide,
        boundary=args.boundary,
        psf_size=None if family is not None else args.psf_size,
        psf_covariance=args.psf_covariance,
        psf_update=args.psf_update,
        psf_init=args.psf_init,
        mask=mask,
        normalise_psf=args.normalise_psf,
        steps=args.steps,
        seed=args.seed,
        restarts=args.restarts,
        device=args.device,
        progress=not args.quiet,
        **engine,
    )
    if not (np.isfinite(result.mean).all() and np.isfinite(result.std).all()):
        raise FloatingPointError(
            "the posterior contains NaN or Inf values; check the image scale and the PSF"
        )

    tiff = {"voxel_size": voxel, "unit": unit or "um"}
    files = [Output(args.output, lambda p: write_tiff(p, result.mean, **tiff))]
    if args.std_output is not None:
        files.append(Output(args.std_output, lambda p: write_tiff(p, result.std, **tiff)))
    if args.psf_output is not None:
        psf_tiff = tiff if result.psf.ndim == image.ndim else {}
        files.append(Output(args.psf_output, lambda p: write_tiff(p, result.psf, **psf_tiff)))
    if args.report is not None:
        from bayesdeconv.diagnostics.plots import describe_result, save_report  # at run time

        title = f"{args.input.name}: {result.method}, {result.n_iter} iterations"
        report = {
            "observed": image.array,
            "mean": result.mean,
            "std": result.std,
            "psf": result.psf,
            "title": title,
            **describe_result(result),
        }
        files.append(Output(args.report, lambda p: save_report(p, **report)))
    if args.arviz is not None:
        from bayesdeconv.diagnostics.arviz_export import save_arviz

        # ARVIZ_SAMPLES draws in 4 chains, the image included; a sampler's own chain as it is
        per_chain = None if result.samples is not None else ARVIZ_SAMPLES // 4
        idata = result.to_arviz(num_samples=per_chain, chains=4, pixels=True, seed=args.seed)
        files.append(Output(args.arviz, lambda p: save_arviz(idata, p)))
    write_all(files)

    if result.burn_in is not None:  # a sampler: no stopping rule
        state = f"{result.n_iter - result.burn_in} draws kept after burn-in"
    else:
        state = "converged" if result.converged else "iteration limit reached"
    written = ", ".join(str(f.path) for f in files)
    lines = [
        f"{PROG}: {result.method}, {result.n_iter} iterations ({state}), "
        f"{result.runtime:.2f} s; wrote {written}"
    ]
    if result.info.get("psf_size_estimated"):
        support = "x".join(str(s) for s in result.info["psf_size"])
        lines.append(f"{PROG}: PSF support {support} (estimated; --psf-size sets it)")
    for name, q in result.psf_parameters.items():
        lines.append(f"{PROG}: {name} = {q.mean:.4g} ± {q.std:.2g}")
    return lines
