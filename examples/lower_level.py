"""The pieces under ``deconvolve``: an operator, a prior, a noise model, a model, an engine.

Builds the smooth-prior model by hand for the demo photograph, blurred periodically (the case
where the exact posterior applies), and fits it three ways: the
closed-form IVB (``fit_ivb``, its ELBO in ``.elbo``), the exact Gaussian posterior at IVB's
learned precisions (``fit_exact``; it needs the circular boundary) and SVI (``fit_svi``). The
three means agree closely; the script prints their PSNRs and the largest difference between the
IVB and exact means.

Run ``python examples/lower_level.py``; with ``BAYESDECONV_SMOKE=1`` (or ``CI`` set) SVI takes
fewer steps.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from bayesdeconv.datasets import load_demo
from bayesdeconv.diagnostics import psnr
from bayesdeconv.infer import fit_exact, fit_ivb
from bayesdeconv.infer.svi import fit_svi
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.priors import GammaPrior, SmoothPrior

SMOKE = bool(os.environ.get("BAYESDECONV_SMOKE") or os.environ.get("CI"))


def main() -> None:
    case = load_demo("natural")
    truth = case.truth_frame
    op = ConvolutionOperator(case.psf, truth.shape, boundary="circular")  # exact needs circular
    rng = np.random.default_rng(0)
    observed = op.forward(torch.as_tensor(truth)).numpy() + 0.01 * rng.standard_normal(truth.shape)
    model = DeconvolutionModel(op, prior=SmoothPrior(precision=GammaPrior()), noise=GaussianNoise())
    ivb = fit_ivb(model, observed, progress=False)
    exact = fit_exact(
        model,
        observed,
        image_precision=ivb.hyperparameters["image_precision"].mean,
        noise_precision=ivb.hyperparameters["noise_precision"].mean,
    )
    svi = fit_svi(model, observed, steps=100 if SMOKE else 300, num_particles=4, seed=0,
                  progress=False)  # fmt: skip
    print(f"observed: PSNR {psnr(observed, truth, data_range=1.0):.2f} dB")
    for name, fit in (("ivb", ivb), ("exact", exact), ("svi", svi)):
        print(f"{name}: PSNR {psnr(fit.mean, truth, data_range=1.0):.2f} dB")
    print(f"max |ivb - exact|: {np.abs(ivb.mean - exact.mean).max():.2e}")


if __name__ == "__main__":
    main()
