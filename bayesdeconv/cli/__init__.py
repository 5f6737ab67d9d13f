"""The ``bayesdeconv`` command.

Usage::

    bayesdeconv deconvolve INPUT -o OUTPUT (--psf PSF | --blind [--psf-size N]) [options]
    bayesdeconv deconvolve STACK -o OUTPUT --psf widefield --wavelength UM --na NA [options]
    bayesdeconv deconvolve INPUT -o OUTPUT --psf PSF --prior-file BANK.npz [options]
    bayesdeconv deconvolve INPUT -o OUTPUT --psf PSF --prior-file MODEL.npz [options]
    bayesdeconv train-wiener IMAGE [IMAGE ...] --psf PSF -o BANK.npz [--sharp SHARP ...] [options]
    bayesdeconv train-vae STACK [STACK ...] [--psf PSF] -o MODEL.npz [--resume] [options]
    bayesdeconv demo [-o DIR] [--quiet]
    bayesdeconv --version

``deconvolve`` reads a 2-D or 3-D image (``.tif``, ``.tiff``, ``.png`` or ``.npy``), runs
:func:`bayesdeconv.deconvolve` and writes the posterior mean (and optionally its standard
deviation, the PSF, a PNG report and an ArviZ NetCDF file). ``demo`` runs the embedded
examples of :mod:`bayesdeconv.datasets` and reports the PSNR gain. ``train-wiener`` learns the
filter bank of the ``learned-wiener`` prior from the user's images and writes it for
``deconvolve --prior-file`` (:mod:`~bayesdeconv.cli.wiener`); ``train-vae`` trains a VAE image
prior (DivBlurring, DivNoising) on them, keeping a checkpoint for ``--resume``
(:mod:`~bayesdeconv.cli.vae`).

Exit status
-----------
0 on success; 2 for bad usage or bad input, with one line ``bayesdeconv: error: ...`` on
stderr and no output file written; 1 (with a traceback) for an unexpected failure. Errors
from the library name the command's options, not Python arguments
(:func:`~bayesdeconv.cli.errors.translate`).

Outputs are written atomically, all or none (:mod:`bayesdeconv.cli.outputs`), and never
over an input file. ``deconvolve`` replaces existing outputs; ``train-wiener`` and
``train-vae`` keep an existing bank or model unless ``--force`` is given.

Modules: :mod:`~bayesdeconv.cli.parser` (the options), :mod:`~bayesdeconv.cli.errors`
(one-line messages), :mod:`~bayesdeconv.cli.outputs` (staging and commit of the outputs),
:mod:`~bayesdeconv.cli.capture` (warnings), :mod:`~bayesdeconv.cli.microscope`
(``--psf widefield``, ``--voxel-size``, saturated voxels), :mod:`~bayesdeconv.cli.deconvolve` and
:mod:`~bayesdeconv.cli.demo` (the commands), :mod:`~bayesdeconv.cli.wiener` (``train-wiener``,
``--prior-file``), :mod:`~bayesdeconv.cli.vae` (``train-vae``, VAE ``--prior-file``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bayesdeconv.cli.capture import collect_warnings
from bayesdeconv.cli.deconvolve import run_deconvolve, validate_deconvolve_args
from bayesdeconv.cli.demo import run_demo
from bayesdeconv.cli.errors import INPUT_ERRORS, PROG, CLIError, error_line, flags_of
from bayesdeconv.cli.parser import build_parser
from bayesdeconv.cli.vae import run_train_vae, validate_train_vae_args
from bayesdeconv.cli.wiener import run_train_wiener, validate_train_wiener_args

__all__ = ["CLIError", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bayesdeconv`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for bad usage or bad input (one line on stderr, no
        output written), 130 when interrupted. Unexpected errors propagate.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    bayesdeconv 0.1.0
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "deconvolve":
            validate_deconvolve_args(args)
        elif args.command == "train-wiener":
            validate_train_wiener_args(args)
        elif args.command == "train-vae":
            validate_train_vae_args(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)

    runner = {
        "deconvolve": run_deconvolve,
        "train-wiener": run_train_wiener,
        "train-vae": run_train_vae,
        "demo": run_demo,
    }[args.command]
    warned: list[str] = []
    try:
        with collect_warnings(warned):
            lines = runner(args)
    except (CLIError, *INPUT_ERRORS) as exc:
        print(f"{PROG}: error: {error_line(exc, flags_of(parser))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    if not args.quiet:
        for message in dict.fromkeys(warned):
            print(f"{PROG}: warning: {message}", file=sys.stderr)
        for line in lines:
            print(line)
    return 0
