"""Load and score the Levin et al. (CVPR 2009) blind-deblurring benchmark (numpy/scipy/skimage).

Data: section 1 of ``shared/data/README.md``. Blurred images match *correlation* with the stored
kernels ``f`` (true convolution with :attr:`LevinCase.psf` = ``rot90(f, 2)``) up to a sub-pixel
shift of a few pixels, so scores are taken after alignment, on a cropped central region.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.signal import correlate
from skimage.io import imread
from skimage.metrics import structural_similarity

ENV_VAR = "BAYESDECONV_LEVIN_DIR"
N_IMAGES = 4
N_KERNELS = 8
SUCCESS_RATIO = 3.0
"""A result with error ratio <= 3 counts as a success (Levin et al. 2009)."""

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


def _check_pair(a: np.ndarray, b: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"need two 2-D images of the same shape, got {a.shape} and {b.shape}")
    if crop < 0 or 2 * crop >= min(a.shape):
        raise ValueError(f"crop={crop} leaves nothing of a {a.shape} image")
    return a, b


def _central(img: np.ndarray, crop: int) -> np.ndarray:
    h, w = img.shape
    return img[crop : h - crop, crop : w - crop]


def _cubic_weights(t: float) -> tuple[float, float, float, float]:
    """Cubic B-spline weights of the taps at offsets -1, 0, 1, 2 for a position ``t`` in [0, 1)."""
    g = 1.0 - t
    return g**3 / 6, 2 / 3 - t**2 + t**3 / 2, 2 / 3 - g**2 + g**3 / 2, t**3 / 6


def align(
    estimate: np.ndarray, reference: np.ndarray, max_shift: float = 8.0, crop: int = 15
) -> tuple[np.ndarray, tuple[float, float]]:
    """Shift ``estimate`` onto ``reference`` by the sub-pixel shift with least central MSE.

    The MSE is taken on ``reference[crop:-crop, crop:-crop]``. An integer grid search over
    ``|dy|, |dx| <= max_shift`` is followed by a pattern search (steps 1/2 .. 1/64 px) with cubic
    spline interpolation; values outside the frame repeat the edge (``mode="nearest"``).

    Parameters
    ----------
    estimate, reference : numpy.ndarray
        2-D images of the same shape.
    max_shift : float
        Largest shift per axis, in pixels.
    crop : int
        Border (pixels) left out of the comparison on every side.

    Returns
    -------
    shifted : numpy.ndarray
        ``scipy.ndimage.shift(estimate, (dy, dx), order=3, mode="nearest")``.
    shift : tuple of float
        ``(dy, dx)``; ``shifted[i, j] ~ estimate[i - dy, j - dx]``.
    """
    est, ref = _check_pair(estimate, reference, crop)
    (h, w), target = ref.shape, _central(ref, crop)
    m, pad = int(math.floor(max_shift)), int(math.ceil(max_shift)) + 12
    raw = np.pad(est, pad, mode="edge")
    coef = ndimage.spline_filter(raw, order=3, mode="mirror")
    r0, r1, c0, c1 = crop + pad, h - crop + pad, crop + pad, w - crop + pad

    def mse_int(dy: int, dx: int) -> float:
        diff = raw[r0 - dy : r1 - dy, c0 - dx : c1 - dx] - target
        return float(np.mean(diff * diff))

    def mse(dy: float, dx: float) -> float:  # separable cubic spline on the coefficients
        ny, nx = math.floor(-dy), math.floor(-dx)
        wy, wx = _cubic_weights(-dy - ny), _cubic_weights(-dx - nx)
        rows = sum(wy[k + 1] * coef[r0 + ny + k : r1 + ny + k] for k in range(-1, 3))
        vals = sum(wx[k + 1] * rows[:, c0 + nx + k : c1 + nx + k] for k in range(-1, 3))
        diff = vals - target
        return float(np.mean(diff * diff))

    grid = [(mse_int(dy, dx), dy, dx) for dy in range(-m, m + 1) for dx in range(-m, m + 1)]
    best_err, by, bx = min(grid)
    best, step = (float(by), float(bx)), 0.5
    while step >= 1 / 64:  # pattern search: 8 neighbours at a halving step
        centre = best
        for sy, sx in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
            cand = (float(np.clip(centre[0] + sy * step, -max_shift, max_shift)),
                    float(np.clip(centre[1] + sx * step, -max_shift, max_shift)))  # fmt: skip
            err = mse(*cand)
            if err < best_err:
                best_err, best = err, cand
        step /= 2
    if best == (0.0, 0.0):
        return est.copy(), best
    return ndimage.shift(est, best, order=3, mode="nearest"), best


def score(
    estimate: np.ndarray, sharp: np.ndarray, crop: int = 15, max_shift: float = 8.0
) -> dict[str, Any]:
    """Shift-tolerant PSNR / SSIM / MSE of ``estimate`` (not clipped) against ``sharp``.

    Returns ``{"psnr", "ssim", "mse", "shift"}``: PSNR in dB with peak 1.0 (``inf`` if exact),
    SSIM with ``data_range=1.0``, both on the central region after :func:`align`; ``shift`` is
    its ``(dy, dx)``.
    """
    shifted, shift = align(estimate, sharp, max_shift=max_shift, crop=crop)
    a, b = _central(shifted, crop), _central(np.asarray(sharp, dtype=np.float64), crop)
    err = float(np.mean((a - b) ** 2))
    psnr = math.inf if err == 0 else 10 * math.log10(1.0 / err)
    ssim = float(structural_similarity(a, b, data_range=1.0))
    return {"psnr": psnr, "ssim": ssim, "mse": err, "shift": shift}


def error_ratio(
    estimate: np.ndarray,
    reference_estimate: np.ndarray,
    sharp: np.ndarray,
    crop: int = 15,
    max_shift: float = 8.0,
) -> float:
    """Levin et al. error ratio: SSD(estimate) / SSD(reference_estimate), both vs ``sharp``.

    ``reference_estimate`` is the non-blind deconvolution with the true kernel. Each image is
    aligned to ``sharp`` first and the SSD is taken on the central region. A ratio of at most
    :data:`SUCCESS_RATIO` counts as a success.
    """
    _check_pair(estimate, sharp, crop)
    _, truth = _check_pair(reference_estimate, sharp, crop)
    truth, ssd = _central(truth, crop), []
    for img in (estimate, reference_estimate):
        shifted, _ = align(img, sharp, max_shift=max_shift, crop=crop)
        ssd.append(float(np.sum((_central(shifted, crop) - truth) ** 2)))
    if ssd[1] == 0:
        return 1.0 if ssd[0] == 0 else math.inf
    return ssd[0] / ssd[1]


def kernel_ncc(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Normalised cross-correlation of two kernels (means removed), maximised over shifts."""
    a, b = estimate - estimate.mean(), truth - truth.mean()
    return float(correlate(a, b, mode="full").max() / np.sqrt((a * a).sum() * (b * b).sum()))


def summarise(rows: list[dict[str, Any]]) -> dict[str, float | int]:
    """Aggregate per-image dicts (keys ``psnr``, ``ssim``, ``error_ratio``, ``seconds``).

    Returns ``n``, ``psnr_mean``, ``ssim_mean``, ``success_rate`` (share with error ratio
    <= :data:`SUCCESS_RATIO`), ``error_ratio_mean/median/max`` and ``seconds_mean``.
    """
    if not rows:
        raise ValueError("summarise needs at least one row")
    ratios = np.array([r["error_ratio"] for r in rows], dtype=np.float64)
    return {
        "n": len(rows),
        "psnr_mean": float(np.mean([r["psnr"] for r in rows])),
        "ssim_mean": float(np.mean([r["ssim"] for r in rows])),
        "success_rate": float(np.mean(ratios <= SUCCESS_RATIO)),
        "error_ratio_mean": float(np.mean(ratios)),
        "error_ratio_median": float(np.median(ratios)),
        "error_ratio_max": float(np.max(ratios)),
        "seconds_mean": float(np.mean([r["seconds"] for r in rows])),
    }
