"""Fixtures for the command-line tests: small input files and a subprocess runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

from bayesdeconv.datasets import load_demo

#: Input image side; small so that every run takes about a second.
SIDE = 48
VOXEL = 0.1


@dataclass
class InputFiles:
    """The files of one test: a 48x48 TIFF image with a voxel size and its 13x13 PSF."""

    folder: Path
    image: Path
    psf: Path
    array: np.ndarray
    psf_array: np.ndarray


@pytest.fixture
def inputs(tmp_path: Path) -> InputFiles:
    case = load_demo("natural")
    array = np.ascontiguousarray(case.observed[:SIDE, :SIDE], dtype=np.float32)
    image = tmp_path / "image.tif"
    tifffile.imwrite(
        image,
        array,
        imagej=True,
        resolution=(1 / VOXEL, 1 / VOXEL),
        metadata={"axes": "YX", "unit": "um"},
    )
    psf = tmp_path / "psf.npy"
    np.save(psf, case.psf)
    return InputFiles(tmp_path, image, psf, array, case.psf)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Tiny problems: one thread avoids oversubscription on busy test machines.
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    return env


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m bayesdeconv ARGS`` and return the completed process."""

    def run(
        *args: object, cwd: Path | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bayesdeconv", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=_env(),
        )

    return run
