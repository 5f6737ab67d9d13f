"""A Pyro model of one's own, built from the package's components and fitted with ``fit_svi``.

Two exposures of one scene: a long one, sharp in noise but blurred by an unknown camera shake,
and a short one, unblurred but ten times noisier (the blurred/noisy image pair of Yuan et al.,
SIGGRAPH 2007). Neither ``deconvolve`` nor ``DeconvolutionModel`` has this model, but its
pieces are the package's:

* the scene ``image`` on the latent grid: a sparse-gradient prior (``priors.sparse``);
* the PSF ``psf``: an ARD prior on a 9 x 9 support (``ARDPSFPrior``), applied with the
  ``ConvolutionOperator`` through ``psf_to_otf``;
* two ``GaussianNoise`` likelihoods with learned precisions, one per exposure, their site
  names kept apart by ``pyro.contrib.autoname.scope`` (``long/obs``,
  ``short/noise_precision``, ...).

``fit_svi(model, long, short, guide=...)`` runs the same SVI loop as every engine of the
package and returns a ``PosteriorSummary``: the mean and std of every latent and
deterministic site, summarised through ``pyro.infer.Predictive``.
The sharp noisy exposure fixes the scene, so the PSF is identifiable: the script prints the
scene's PSNR against both exposures and the PSF's error and centroid against the truth.

Run ``python examples/custom_model.py``; with ``BAYESDECONV_SMOKE=1`` (or ``CI`` set) it uses
a smaller image and fewer steps and finishes in a few seconds.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from pyro.contrib.autoname import scope
from pyro.infer.autoguide import AutoNormal
from pyro.infer.autoguide.initialization import init_to_value

from bayesdeconv import sites
from bayesdeconv.datasets import piecewise_constant_image
from bayesdeconv.diagnostics.metrics import psnr
from bayesdeconv.infer.svi import fit_svi
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.physics.convolution import ConvolutionOperator, psf_to_otf
from bayesdeconv.priors import sparse
from bayesdeconv.psf_priors import ARDPSFPrior

SMOKE = bool(os.environ.get("BAYESDECONV_SMOKE") or os.environ.get("CI"))
SIZE = 48 if SMOKE else 96
PSF_SIZE = 9
LONG_NOISE, SHORT_NOISE = 0.01, 0.1
DTYPE = torch.float32


def shake_psf(size: int = PSF_SIZE) -> np.ndarray:
    """An off-centre blur: a Gaussian blob centred 1 px up and 1.5 px right of the support's
    centre (a camera shake that also shifts the image)."""
    yy, xx = np.mgrid[:size, :size]
    c = size // 2
    psf = np.exp(-((yy - (c - 1.0)) ** 2 + (xx - (c + 1.5)) ** 2) / (2 * 1.2**2))
    return psf / psf.sum()


def centroid(psf: np.ndarray) -> np.ndarray:
    """Centre of mass (row, column) relative to the support's centre."""
    weights = np.clip(psf, 0, None)
    grid = np.mgrid[: psf.shape[0], : psf.shape[1]] - np.array(psf.shape)[:, None, None] // 2
    return (grid * weights).sum((1, 2)) / weights.sum()


class TwoExposures:
    """The Pyro model: ``model(long, short)`` with both exposures observed (or ``None``)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        start = np.zeros((PSF_SIZE, PSF_SIZE))
        start[PSF_SIZE // 2, PSF_SIZE // 2] = 1.0
        # the operator brings the latent grid and the frame; its PSF is replaced by the site
        self.operator = ConvolutionOperator(start, shape, boundary="valid", dtype=DTYPE)
        self.image_prior = sparse()
        self.psf_prior = ARDPSFPrior((PSF_SIZE, PSF_SIZE))
        self.long_noise, self.short_noise = GaussianNoise(), GaussianNoise()

    def __call__(self, long: torch.Tensor | None, short: torch.Tensor | None) -> None:
        op = self.operator
        psf = self.psf_prior.sample(dtype=DTYPE, device=op.device)
        x = self.image_prior.sample(op.latent_shape, dtype=DTYPE, device=op.device)
        blurred = op.forward(x, psf_to_otf(psf, op.latent_shape))
        with scope(prefix="long"):
            self.long_noise.sample(blurred, long, ndim=2)
        with scope(prefix="short"):
            self.short_noise.sample(op.crop(x), short, ndim=2)

    def start(self, short: np.ndarray) -> dict[str, torch.Tensor]:
        """Starting values: the noisy exposure extended to the latent grid, a flat PSF and
        the noise levels of the simulation's order of magnitude.

        The flat PSF matters: from a centred delta (no blur) the image can absorb the blur
        itself, a local optimum the stochastic steps do not leave.
        """
        op = self.operator
        pad = [(sl.start, n - sl.stop) for sl, n in zip(op.frame, op.latent_shape, strict=True)]
        image = np.pad(short, pad, mode="edge")
        return {
            sites.IMAGE: torch.as_tensor(image, dtype=DTYPE),
            sites.PSF: torch.full((PSF_SIZE, PSF_SIZE), PSF_SIZE**-2.0, dtype=DTYPE),
            f"long/{sites.NOISE_PRECISION}": torch.tensor(1.0 / LONG_NOISE**2, dtype=DTYPE),
            f"short/{sites.NOISE_PRECISION}": torch.tensor(1.0 / SHORT_NOISE**2, dtype=DTYPE),
        }


def simulate(seed: int = 0):
    """Truth, PSF and the two exposures."""
    psf = shake_psf()
    op = ConvolutionOperator(psf, (SIZE, SIZE), boundary="valid", dtype=torch.float64)
    truth = piecewise_constant_image(op.latent_shape, seed=seed)
    rng = np.random.default_rng(seed + 1)
    long = op.forward(torch.tensor(truth)).numpy()
    long = long + LONG_NOISE * rng.standard_normal(long.shape)
    short = truth[op.frame] + SHORT_NOISE * rng.standard_normal((SIZE, SIZE))
    return truth[op.frame], psf, long, short


def main() -> dict[str, float]:
    truth, psf, long, short = simulate()
    model = TwoExposures((SIZE, SIZE))
    # a guide object of one's own: a mean-field Normal, started small (the PSF values are of
    # order 0.01, so the default spread of 0.01 would swamp them at first)
    guide = AutoNormal(model, init_loc_fn=init_to_value(values=model.start(short)), init_scale=1e-3)
    fit = fit_svi(
        model,
        torch.as_tensor(long, dtype=DTYPE),
        torch.as_tensor(short, dtype=DTYPE),
        guide=guide,
        steps=1500 if SMOKE else 3000,
        lr=0.01,
        tol=0,
        seed=0,
        progress=False,
    )
    scene = fit[sites.IMAGE].mean[model.operator.frame]
    estimate = fit[sites.PSF].mean
    start = model.start(short)[sites.PSF].numpy()
    scores = {
        "long": psnr(long, truth, data_range=1.0),
        "short": psnr(short, truth, data_range=1.0),
        "posterior": psnr(scene, truth, data_range=1.0),
        "psf_error": float(np.abs(estimate - psf).sum()),
        "psf_start_error": float(np.abs(start - psf).sum()),
        "centroid_error": float(np.linalg.norm(centroid(estimate) - centroid(psf))),
        "centroid_start_error": float(np.linalg.norm(centroid(start) - centroid(psf))),
    }
    print(f"long exposure (blurred): PSNR {scores['long']:.2f} dB")
    print(f"short exposure (noisy): PSNR {scores['short']:.2f} dB")
    print(f"posterior mean: PSNR {scores['posterior']:.2f} dB")
    print(f"PSF L1 error: {scores['psf_error']:.3f} (start {scores['psf_start_error']:.3f})")
    row, col = centroid(estimate)
    true_row, true_col = centroid(psf)
    print(f"PSF centroid: ({row:+.2f}, {col:+.2f}), true ({true_row:+.2f}, {true_col:+.2f})")
    std = fit[sites.IMAGE].std[model.operator.frame]
    print(f"image std: median {np.median(std):.4f}; {fit.n_iter} steps, {fit.runtime:.1f} s")
    return scores


if __name__ == "__main__":
    main()
