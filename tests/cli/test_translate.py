"""Library errors are printed in the command's spelling: ``--psf-size``, not ``psf_size``."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest

from bayesdeconv.api import deconvolve
from bayesdeconv.cli import build_parser, main
from bayesdeconv.cli.errors import CLIError, Flag, error_line, flags_of, translate
from bayesdeconv.physics.psf import gaussian_psf

PREFIX = "bayesdeconv: error: "
FLAGS = flags_of(build_parser())

#: Messages as raised in bayesdeconv/api.py, bayesdeconv/infer/blind.py, bayesdeconv/priors
#: and bayesdeconv/physics/psf.py, and what the command prints for them.
MESSAGES = [
    (
        "blind deconvolution (psf=None) needs psf_size, the PSF support",
        "--blind needs --psf-size, the PSF support",
    ),
    (
        "psf_size is only used for blind deconvolution (psf=None)",
        "--psf-size is only used with --blind",
    ),
    (
        "psf_init is only used for blind deconvolution (psf=None)",
        "--psf-init is only used with --blind",
    ),
    (
        "psf_covariance must be one of ('full', 'diagonal'), got 'cheap'",
        "--psf-covariance must be one of ('full', 'diagonal'), got 'cheap'",
    ),
    (
        "Vadam gives a diagonal PSF covariance; use psf_covariance='diagonal'",
        "Vadam gives a diagonal PSF covariance; use --psf-covariance diagonal",
    ),
    (
        "psf_init='pyramid' is IVB's coarse-to-fine; use method='ivb'",
        "--psf-init pyramid is IVB's coarse-to-fine; use --method ivb",
    ),
    (
        "psf_update applies to blind method='ivb' or 'gibbs' only",
        "--psf-update applies to blind --method ivb or gibbs only",
    ),
    (
        "guide applies to method='svi' only, not method='map'",
        "--guide applies to --method svi only, not --method map",
    ),
    (
        "method='ivb' needs Gaussian noise; use method='svi' (or 'vadam') for PoissonNoise",
        "--method ivb needs Gaussian noise; use --method svi (or vadam) for PoissonNoise",
    ),
    (
        'IVB needs Gaussian noise; use method="svi" for Poisson data',
        "IVB needs Gaussian noise; use --method svi for Poisson data",
    ),
    (
        "blind deconvolution needs a sparse-gradient prior: prior='piecewise' or 'sparse'",
        "blind deconvolution needs a sparse-gradient prior: --prior piecewise or sparse",
    ),
    (
        "Poisson noise needs non-negative counts, but the image has negative values; "
        "subtract less background or use noise='gaussian'",
        "Poisson noise needs non-negative counts, but the image has negative values; "
        "subtract less background or use --noise gaussian",
    ),
    (
        "steps must be a positive integer, got 0",
        "--steps must be a positive integer, got 0",
    ),
    (
        "psf_size must be odd so that the PSF is centred on a pixel, got 8; use 9",
        "--psf-size must be odd so that the PSF is centred on a pixel, got 8; use 9",
    ),
    (
        "psf_init has shape (7, 7), psf_size is (9, 9)",
        "--psf-init has shape (7, 7), --psf-size is (9, 9)",
    ),
    (
        "psf is not normalised (sum=3); pass normalise_psf=True or divide it by its sum",
        "psf is not normalised (sum=3); pass --normalise-psf or divide it by its sum",
    ),
    (
        "device 'cuda' was requested but no CUDA device is available",
        "--device cuda was requested but no CUDA device is available",
    ),
    (
        "prior 'dip' is planned but not implemented yet; available: ('smooth', 'sparse')",
        "--prior dip is planned but not implemented yet; available: ('smooth', 'sparse')",
    ),
    ("seed=7 and steps=20 were given", "--seed 7 and --steps 20 were given"),
    ("normalise_psf=False and psf_size=None", "no --normalise-psf and no --psf-size"),
]

#: Messages (or parts) that must come out unchanged: words, paths, options, other names.
UNCHANGED = [
    "the mask marks no pixel as observed",
    "mask shape (40, 40) does not match the image shape (48, 48)",
    "blind deconvolution supports 2-D images, got 3-D",
    "blind deconvolution supports methods ('ivb', 'svi', 'vadam', 'gibbs')",
    "unknown noise model 'x'; choose one of ('gaussian', 'poisson')",
    "max_iter must be at least 1 and sweeps_per_scale non-negative",
    "the PSF in /data/psf_size/normalise_psf.tif contains NaN or Inf values",
    "the PSF in run_psf_size_3/k.npy is empty (shape (0, 0))",
    "cannot read psf_init.npy: bad header",
    "give --psf-size or --psf-init, not --normalise-psf",
    "the posterior contains NaN or Inf values; check the image scale and the PSF",
]


@pytest.mark.parametrize(("message", "expected"), MESSAGES)
def test_translate_api_messages(message, expected):
    assert translate(message, FLAGS) == expected


@pytest.mark.parametrize("message", UNCHANGED)
def test_translate_leaves_other_text_alone(message):
    assert translate(message, FLAGS) == message


def test_flags_follow_the_parser():
    """The spelling comes from the parser's actions: renamed options are named as such."""
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    sub = commands.add_parser("run")
    sub.add_argument("--kernel-size", "-k", dest="psf_size", type=int)
    sub.add_argument("--renormalise", dest="normalise_psf", action="store_true")
    sub.add_argument("--engine", dest="method")
    sub.add_argument("--no-psf", dest="blind", action="store_true")
    flags = flags_of(parser)
    assert flags == {
        "psf_size": Flag("--kernel-size", True),
        "normalise_psf": Flag("--renormalise", False),
        "method": Flag("--engine", True),
        "blind": Flag("--no-psf", False),
    }
    assert translate("pass normalise_psf=True, method='svi'", flags) == (
        "pass --renormalise, --engine svi"
    )
    assert translate("blind deconvolution (psf=None) needs psf_size", flags) == (
        "--no-psf needs --kernel-size"
    )


def test_the_command_knows_every_api_argument_it_passes():
    for dest in ("psf_size", "psf_covariance", "psf_update", "psf_init", "normalise_psf"):
        assert dest in FLAGS
    assert FLAGS["normalise_psf"] == Flag("--normalise-psf", False)
    assert FLAGS["psf_covariance"] == Flag("--psf-covariance", True)


def test_error_line_translates_library_errors_only():
    assert error_line(ValueError("use method='svi'"), FLAGS) == "use --method svi"
    assert error_line(NotImplementedError("prior 'vae' is planned"), FLAGS) == (
        "--prior vae is planned"
    )
    assert error_line(CLIError("steps must be odd"), FLAGS) == "steps must be odd"
    error = FileNotFoundError(2, "No such file or directory", "psf_size.npy")
    assert error_line(error, FLAGS) == "psf_size.npy: No such file or directory"


def _raised(**kwargs) -> str:
    image = np.random.default_rng(0).random((24, 24))
    with pytest.raises(ValueError) as info:
        deconvolve(image, progress=False, **kwargs)
    return str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"psf": None, "psf_size": 8}, "--psf-size must be odd"),
        ({"psf": gaussian_psf(5, 1.0), "psf_size": 5}, "--psf-size is only used with --blind"),
        (
            {"psf": None, "psf_size": 5, "method": "svi", "psf_init": "pyramid"},
            "--psf-init pyramid",
        ),
        ({"psf": 3 * gaussian_psf(5, 1.0)}, "pass --normalise-psf or divide it by its sum"),
        (
            {"psf": gaussian_psf(5, 1.0), "noise": "poisson", "prior": "smooth", "method": "ivb"},
            "use --method svi",
        ),
    ],
)
def test_translate_live_api_errors(kwargs, expected):
    """Errors raised by the API now: no Python argument spelling is left."""
    line = translate(_raised(**kwargs), FLAGS)
    assert expected in line
    assert not re.search(r"\b(psf_size|psf_init|normalise_psf|method=|psf=None)", line), line


def _cli(inputs, *extra: str) -> list[str]:
    out = inputs.folder / "out.tif"
    return ["deconvolve", str(inputs.image), "-o", str(out), *extra]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ("--blind", "--psf-size", "9", "--method", "svi", "--psf-init", "pyramid"),
            "--psf-init pyramid is IVB's coarse-to-fine; use --method ivb",
        ),
        (
            ("--blind", "--psf-size", "9", "--psf-update", "vadam"),
            "use --psf-covariance diagonal",
        ),
        (
            ("--psf", "PSF", "--noise", "poisson", "--prior", "smooth", "--method", "ivb"),
            "Gaussian) noise model, got PoissonNoise; use --method svi",
        ),
        (("--psf", "PSF", "--steps", "0"), "--steps must be a positive integer, got 0"),
    ],
)
def test_cli_prints_api_errors_with_flags(inputs, capsys, extra, expected):
    args = _cli(inputs, *(str(inputs.psf) if a == "PSF" else a for a in extra))
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), captured.err
    assert expected in lines[0]
    assert "=" not in lines[0].removeprefix(PREFIX), lines[0]
    assert captured.out == ""
    assert not (inputs.folder / "out.tif").exists()


def test_cli_api_error_in_a_real_process(inputs, run_cli):
    proc = run_cli(*_cli(inputs, "--blind", "--psf-size", "9", "--psf-update", "vadam"))
    assert proc.returncode == 2
    assert proc.stderr.startswith(PREFIX) and proc.stderr.count("\n") == 1, proc.stderr
    assert "use --psf-covariance diagonal" in proc.stderr
    assert "psf_covariance" not in proc.stderr
