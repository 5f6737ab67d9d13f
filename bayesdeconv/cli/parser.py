"""The argument parser of the ``bayesdeconv`` command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from bayesdeconv import __version__
from bayesdeconv.cli.choices import (
    filter_bank_names,
    option_choices,
    option_summaries,
    parametric_psf_families,
)
from bayesdeconv.cli.deconvolve import ARVIZ_SAMPLES
from bayesdeconv.cli.demo import DEFAULT_DEMO_DIR
from bayesdeconv.cli.errors import PROG, usage_error
from bayesdeconv.cli.large import add_large_arguments
from bayesdeconv.cli.microscope import DEFAULT_REFRACTIVE_INDEX, parse_voxel_size
from bayesdeconv.cli.vae import PATCH_MULTIPLE, parse_positivity

__all__ = ["Parser", "build_parser"]


class Parser(argparse.ArgumentParser):
    """Argument parser whose usage errors are one line: ``bayesdeconv: error: ...``."""

    def error(self, message: str) -> NoReturn:
        """Report a usage error on one line and exit with status 2."""
        usage_error(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``bayesdeconv`` command.

    Returns
    -------
    argparse.ArgumentParser
        Parser with the ``deconvolve``, ``train-wiener``, ``train-vae`` and ``demo``
        sub-commands.
    """
    choices = option_choices()
    parser = Parser(
        prog=PROG,
        description="Bayesian image deconvolution with posterior uncertainty (Pyro).",
        epilog="Run 'bayesdeconv COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    dec = commands.add_parser(
        "deconvolve",
        help="deconvolve an image file",
        description=(
            "Deconvolve a 2-D or 3-D image (.tif, .tiff, .png or .npy) and write the posterior "
            "mean as a float32 TIFF. The PSF file must be centred at size // 2, non-negative and "
            "sum to 1 (or pass --normalise-psf). Nothing is written unless every step succeeds."
        ),
    )
    dec.add_argument(
        "input",
        metavar="INPUT",
        type=Path,
        help="observed image; or a folder, a quoted glob, a time series (batch)",
    )
    dec.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        type=Path,
        required=True,
        help="posterior mean, float32 TIFF (.tif/.tiff); or an OME-Zarr store (.ome.zarr: "
        "mean and std), a folder for a batch",
    )
    psf = dec.add_argument_group("PSF")
    psf.add_argument(
        "--psf",
        metavar="PSF",
        type=Path,
        help="PSF image file (.tif, .tiff, .npy); or a PSF family whose parameters get a "
        f"posterior: {', '.join(parametric_psf_families())} (with --psf-size N); or 'widefield': "
        "the fixed (non-blind) widefield fluorescence PSF (Born & Wolf) computed from "
        "--wavelength, --na, --refractive-index and the voxel size, on a support of 3 axial "
        "FWHMs and 3 Airy radii (at most the image)",
    )
    psf.add_argument(
        "--psf-sigma",
        metavar="LO:HI",
        help="--psf gaussian: uniform prior range of the width, pixels (default 0.3:size/4)",
    )
    psf.add_argument(
        "--normalise-psf",
        action="store_true",
        help="divide the PSF file by its sum first (measured PSFs are never normalised)",
    )
    psf.add_argument(
        "--crop-psf",
        type=float,
        metavar="ENERGY",
        help="crop the PSF file to the centred box holding this share of its sum (e.g. 0.999); "
        "prints the new size and the energy dropped",
    )
    psf.add_argument("--blind", action="store_true", help="estimate the PSF too")
    psf.add_argument(
        "--psf-size",
        metavar="N",
        type=int,
        help="odd PSF support for --blind (estimated when omitted) or a PSF family (required), "
        "pixels per axis",
    )
    psf.add_argument(
        "--psf-covariance",
        choices=choices["psf_covariance"],
        default="full",
        help="covariance of the PSF posterior with --blind (default: full)",
    )
    psf.add_argument(
        "--psf-update",
        choices=choices["psf_update"],
        default="closed-form",
        help="how --blind --method ivb/gibbs updates the PSF posterior: closed form, Adam on the "
        "reparameterised ELBO, or Vadam (needs --psf-covariance diagonal; default: closed-form)",
    )
    psf.add_argument(
        "--psf-init",
        choices=choices["psf_init"],
        default="search",
        help="where --blind starts the PSF: the best of three L0-gradient kernel searches by the "
        "non-blind ELBO (default), or IVB's own coarse-to-fine sweeps (--method ivb/gibbs)",
    )
    scope = dec.add_argument_group("microscope (--psf widefield)")
    scope.add_argument(
        "--wavelength",
        metavar="UM",
        type=float,
        help="emission wavelength, micrometres (e.g. 0.52 for GFP)",
    )
    scope.add_argument(
        "--na", dest="numerical_aperture", metavar="NA", type=float, help="numerical aperture"
    )
    scope.add_argument(
        "--refractive-index",
        metavar="N",
        type=float,
        help="refractive index of the immersion medium: 1.0 air, 1.33 water, 1.515 oil "
        f"(default {DEFAULT_REFRACTIVE_INDEX})",
    )
    scope.add_argument(
        "--voxel-size",
        metavar="Z,Y,X",
        type=parse_voxel_size,
        help="voxel size in micrometres (Y,X for a 2-D image), overriding the input's OME/ImageJ "
        "metadata; needed by --psf widefield when the file has none; written to the outputs",
    )
    scope.add_argument(
        "--keep-saturated",
        action="store_true",
        help="keep voxels at the integer maximum (65535 for uint16, 255 for uint8) in the "
        "likelihood; by default they are masked as saturated",
    )
    model = dec.add_argument_group("model and inference")
    model.add_argument(
        "--prior",
        choices=choices["prior"],
        default=None,
        help="image prior (default: smooth with --psf, gamma with --noise poisson, sparse with "
        "--blind). " + option_summaries("prior"),
    )
    model.add_argument(
        "--prior-file",
        metavar="FILE.npz",
        type=Path,
        help="learned Wiener filter bank written by 'bayesdeconv train-wiener' (implies --prior "
        "learned-wiener; its filters must be 2-D for an image, 3-D for a stack), or VAE model "
        "written by 'bayesdeconv train-vae' (implies --prior vae; 2-D images, its training "
        "PSF); the kind is read from the file",
    )
    model.add_argument(
        "--any-psf",
        action="store_true",
        help="--prior vae or a VAE --prior-file: accept a PSF other than the model's training "
        "PSF (the decoder's image prior holds for any blur; its encoder's start is then off)",
    )
    model.add_argument(
        "--noise",
        choices=choices["noise"],
        default="gaussian",
        help="noise model (default: gaussian). " + option_summaries("noise"),
    )
    model.add_argument(
        "--method",
        choices=choices["method"],
        default=None,
        help="inference engine (default: the best engine that supports the model). "
        + option_summaries("method")
        + ". gibbs gives a std map that does not collapse in flat or masked regions",
    )
    model.add_argument(
        "--guide",
        choices=choices["guide"],
        help="SVI guide for --method svi (default: mean-field). " + option_summaries("guide"),
    )
    model.add_argument(
        "--steps",
        metavar="N",
        type=int,
        help="iteration limit (IVB sweeps, SVI steps, or Gibbs draws kept)",
    )
    model.add_argument(
        "--mask",
        metavar="MASK",
        type=Path,
        help="observation mask image of the input's shape: nonzero = observed",
    )
    model.add_argument(
        "--boundary",
        choices=choices["boundary"],
        default="valid",
        help="image boundary model (default: valid)",
    )
    model.add_argument(
        "--device", choices=choices["device"], default="cpu", help="compute device (default: cpu)"
    )
    model.add_argument("--seed", metavar="S", type=int, help="random seed")
    model.add_argument(
        "--restarts",
        metavar="N",
        type=int,
        default=1,
        help="deep image priors: seeded runs, the best by its final objective kept (default: 1)",
    )
    out = dec.add_argument_group("further outputs")
    out.add_argument(
        "--std-output",
        metavar="STD",
        type=Path,
        help="posterior standard deviation, float32 TIFF",
    )
    out.add_argument(
        "--psf-output", metavar="PSF_OUT", type=Path, help="PSF (posterior mean), float32 TIFF"
    )
    out.add_argument("--report", metavar="PNG", type=Path, help="diagnostic figure (.png)")
    out.add_argument(
        "--arviz",
        metavar="FILE.nc",
        type=Path,
        help=f"ArviZ InferenceData as NetCDF ({ARVIZ_SAMPLES} posterior draws)",
    )
    add_large_arguments(dec)
    dec.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors (no progress bar)"
    )

    _add_train_wiener(commands)
    _add_train_vae(commands)

    demo = commands.add_parser(
        "demo",
        help="run the embedded examples",
        description=(
            "Deconvolve the embedded demo images (a synthetic fluorescence image and a crop of "
            "a public-domain photograph) and report the PSNR of the observed image and of the "
            "posterior mean against the ground truth."
        ),
    )
    demo.add_argument(
        "-o",
        "--output-dir",
        metavar="DIR",
        type=Path,
        default=Path(DEFAULT_DEMO_DIR),
        help=f"output folder, created if needed (default: ./{DEFAULT_DEMO_DIR})",
    )
    demo.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return parser


def _add_train_wiener(commands: argparse._SubParsersAction) -> None:
    """The ``train-wiener`` sub-command."""
    train = commands.add_parser(
        "train-wiener",
        help="train a learned Wiener filter bank on your images",
        description=(
            "Learn the filter bank of the learned-wiener prior from your own blurred images "
            "(2-D images or 3-D stacks, all of one kind; a folder stands for its image files, "
            "by name) and write it as a .npz bank for 'deconvolve --prior-file'. Without "
            "--sharp the filters maximise the evidence of the blurred images alone; with "
            "--sharp they maximise the PSNR of the Wiener estimate. Nothing is written unless "
            "every step succeeds, and an existing bank is kept unless --force is given."
        ),
    )
    train.add_argument("images", metavar="IMAGE", type=Path, nargs="+", help="blurred images")
    train.add_argument(
        "--psf",
        metavar="PSF",
        type=Path,
        required=True,
        help="PSF file of the images (.tif, .tiff, .npy), of their dimensionality, centred, "
        "non-negative, sum 1 (or pass --normalise-psf)",
    )
    train.add_argument(
        "-o", "--output", metavar="OUT.npz", type=Path, required=True, help="filter bank (.npz)"
    )
    train.add_argument(
        "--sharp",
        metavar="SHARP",
        type=Path,
        nargs="+",
        help="sharp images, one per IMAGE in the same order: supervised training",
    )
    train.add_argument(
        "--normalise-psf", action="store_true", help="divide the PSF file by its sum first"
    )
    train.add_argument(
        "--filters",
        choices=filter_bank_names(),
        default="dct",
        help="starting bank (default: dct, the DCT basis without its constant atom)",
    )
    train.add_argument(
        "--support",
        metavar="N",
        type=int,
        help="filter support, pixels per axis (default: 5 for 2-D images, 3 for 3-D stacks)",
    )
    train.add_argument(
        "--count",
        metavar="N",
        type=int,
        help="number of filters (default: N^d - 1 for dct, 24 for gabor and random; "
        "differences has one per axis)",
    )
    train.add_argument(
        "--steps", metavar="N", type=int, default=200, help="Adam steps (default: 200)"
    )
    train.add_argument(
        "--learning-rate",
        metavar="LR",
        type=float,
        default=0.01,
        help="Adam step size (default: 0.01)",
    )
    train.add_argument(
        "--no-periodic",
        dest="periodic",
        action="store_false",
        help="the images were blurred circularly (synthetic data): train on them as they are, "
        "not on their periodic components",
    )
    train.add_argument(
        "--seed", metavar="S", type=int, default=0, help="seed of --filters random (default: 0)"
    )
    train.add_argument(
        "--description",
        metavar="TEXT",
        help="where the filters come from, kept in the file (default: the training set)",
    )
    train.add_argument("-f", "--force", action="store_true", help="replace --output if it exists")
    train.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors (no progress bar)"
    )


def _add_train_vae(commands: argparse._SubParsersAction) -> None:
    """The ``train-vae`` sub-command."""
    choices = option_choices()
    train = commands.add_parser(
        "train-vae",
        help="train a VAE image prior on your images (DivBlurring, DivNoising)",
        description=(
            "Train a VAE image prior on your own noisy 2-D images (files of 2-D images or 3-D "
            "stacks of them along the first axis; a folder stands for its image files, by "
            "name) and write it as a .npz model for 'deconvolve --prior-file'. With --psf the "
            "images are blurred by it (DivBlurring); without, the model denoises (DivNoising). "
            "After every epoch the model so far is kept in MODEL.checkpoint.npz next to "
            "--output; --resume continues it. --output is written only at the end, and an "
            "existing one is kept unless --force is given."
        ),
    )
    train.add_argument(
        "images", metavar="STACK", type=Path, nargs="+", help="noisy 2-D images or 3-D stacks"
    )
    train.add_argument(
        "--psf",
        metavar="PSF",
        type=Path,
        help="2-D PSF file of the images (.tif, .tiff, .npy), centred, non-negative, sum 1 "
        "(or pass --normalise-psf), at most --patch; without it the model only denoises",
    )
    train.add_argument(
        "-o", "--output", metavar="MODEL.npz", type=Path, required=True, help="model (.npz)"
    )
    train.add_argument(
        "--normalise-psf", action="store_true", help="divide the PSF file by its sum first"
    )
    train.add_argument(
        "--noise",
        choices=choices["noise"],
        default="gaussian",
        help="noise model, as for deconvolve (default: gaussian, its precision fixed at the "
        "images' noise estimate; poisson-gaussian: camera values, calibrated on the patches "
        "unless --gain is given)",
    )
    camera = train.add_argument_group("camera (--noise poisson-gaussian)")
    camera.add_argument("--gain", metavar="G", type=float, help="raw units per photo-electron")
    camera.add_argument(
        "--offset", metavar="O", type=float, help="raw value of zero light (default with --gain: 0)"
    )
    camera.add_argument(
        "--read-noise",
        metavar="S",
        type=float,
        help="read-noise standard deviation, raw units (default with --gain: 0)",
    )
    fit = train.add_argument_group("training")
    fit.add_argument("--epochs", metavar="N", type=int, default=20, help="passes (default: 20)")
    fit.add_argument(
        "--patch",
        metavar="N",
        type=int,
        default=64,
        help=f"patch side, a multiple of {PATCH_MULTIPLE}, at most the images (default: 64)",
    )
    fit.add_argument(
        "--batch-size", metavar="N", type=int, default=32, help="patches per step (default: 32)"
    )
    fit.add_argument(
        "--learning-rate",
        "--lr",
        metavar="LR",
        type=float,
        default=1e-3,
        help="Adam step size (default: 0.001)",
    )
    fit.add_argument(
        "--boundary",
        choices=choices["boundary"],
        default="valid",
        help="blur boundary on each patch (default: valid, the scene extends beyond it)",
    )
    fit.add_argument(
        "--seed",
        metavar="S",
        type=int,
        default=0,
        help="seeds the weights, held-out split and batches (default: 0)",
    )
    fit.add_argument(
        "--resume",
        action="store_true",
        help="continue the checkpoint MODEL.checkpoint.npz of an interrupted run",
    )
    model = train.add_argument_group("model")
    model.add_argument(
        "--width", metavar="N", type=int, default=16, help="network channels (default: 16)"
    )
    model.add_argument(
        "--latent-channels",
        metavar="N",
        type=int,
        default=16,
        help="latent values per 4x4 pixels (default: 16)",
    )
    model.add_argument(
        "--positivity",
        metavar="constraint|W",
        type=parse_positivity,
        help="non-negative images: 'constraint' (softplus output) or the weight W of a "
        "penalty on negative pixels (default: none)",
    )
    model.add_argument("--l1", metavar="W", type=float, default=0.0, help="L1 penalty weight")
    model.add_argument("--l2", metavar="W", type=float, default=0.0, help="L2 penalty weight")
    train.add_argument(
        "--description",
        metavar="TEXT",
        help="what the images are, kept in the file (default: the training set)",
    )
    train.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="replace --output if it exists; start over from a checkpoint not resumed",
    )
    train.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors (no progress bar)"
    )
