"""Load the Levin et al. (CVPR 2009) blind-deblurring benchmark (numpy/skimage).

Data: section 1 of ``shared/data/README.md``. Blurred images match *correlation* with the stored
kernels ``f`` (true convolution with :attr:`LevinCase.psf` = ``rot90(f, 2)``) up to a sub-pixel
shift of a few pixels, so scores are taken after alignment, on a cropped central region: the
scoring (alignment, PSNR / SSIM, error ratio, success rate) is :mod:`bayesdeconv.diagnostics.levin`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.io import imread

ENV_VAR = "BAYESDECONV_LEVIN_DIR"
N_IMAGES = 4
N_KERNELS = 8

_DEFAULT_ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "levin2009"
_FALLBACK_ROOT = Path("/work/shared/data/levin2009")
_Root = str | os.PathLike[str] | None


@dataclass(frozen=True)
class LevinCase:
    """One benchmark case.

    Attributes
    ----------
    image_index, kernel_index : int
        1-based (images 1..4, kernels 1..8).
    sharp, blurred : numpy.ndarray
        (255, 255) float64 in [0, 1].
    kernel : numpy.ndarray
        ``f`` as stored (MATLAB orientation: ``blurred`` ~ correlation with it).
    """

    image_index: int
    kernel_index: int
    sharp: np.ndarray
    blurred: np.ndarray
    kernel: np.ndarray

    @property
    def psf(self) -> np.ndarray:
        """The kernel in true-convolution orientation (``np.rot90(kernel, 2)``)."""
        return np.rot90(self.kernel, 2).copy()

    @property
    def name(self) -> str:
        """A short identifier such as ``"im1_k4"``."""
        return f"im{self.image_index}_k{self.kernel_index}"


def find_root(root: _Root = None) -> Path:
    """Locate the ``levin2009`` data folder (holding ``sharp/``, ``blurred/``, ``kernels/``).

    Order: ``root``; else the environment variable ``BAYESDECONV_LEVIN_DIR``; else
    ``<repo>/../shared/data/levin2009``; else ``/work/shared/data/levin2009``. Raises
    ``FileNotFoundError`` if the chosen folder (or, with no choice made, every default) lacks it.
    """
    if root is None and os.environ.get(ENV_VAR):
        root = os.environ[ENV_VAR]
    candidates = [Path(root)] if root is not None else [_DEFAULT_ROOT, _FALLBACK_ROOT]
    for cand in candidates:
        if all((cand / sub).is_dir() for sub in ("sharp", "blurred", "kernels")):
            return cand.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"Levin 2009 benchmark data not found (tried: {tried}). Expected a folder with sharp/, "
        f"blurred/ and kernels/; pass root=... or set {ENV_VAR}."
    )


def _read_gray(path: Path) -> np.ndarray:
    img = np.asarray(imread(path))
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"{path}: expected an 8-bit grayscale image, got {img.dtype} {img.shape}")
    return img.astype(np.float64) / 255.0


def load_case(image_index: int, kernel_index: int, root: _Root = None) -> LevinCase:
    """Load one case (image ``image_index`` in 1..4 blurred by kernel ``kernel_index`` in 1..8)."""
    if not (1 <= image_index <= N_IMAGES and 1 <= kernel_index <= N_KERNELS):
        raise ValueError(f"need 1 <= image <= {N_IMAGES} and 1 <= kernel <= {N_KERNELS}")
    base = find_root(root)
    sharp = _read_gray(base / "sharp" / f"im{image_index}.png")
    blurred = _read_gray(base / "blurred" / f"im{image_index}_kernel{kernel_index}_img.png")
    kernel = np.load(base / "kernels" / f"kernel{kernel_index}.npy")
    return LevinCase(image_index, kernel_index, sharp, blurred, kernel)


def load_all(root: _Root = None) -> list[LevinCase]:
    """Load all 32 cases in image-major order (im1_k1, im1_k2, ..., im4_k8)."""
    base = find_root(root)
    return [load_case(i, j, base) for i in range(1, N_IMAGES + 1) for j in range(1, N_KERNELS + 1)]
