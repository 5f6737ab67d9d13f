"""Image priors and hyper-priors (no inference here)."""

from bayesdeconv.priors.ard import (
    BLIND_SPARSE_SCALE,
    SPARSE_SCALE,
    GradientARDPrior,
    piecewise,
    sparse,
)
from bayesdeconv.priors.hyper import GammaPosterior, GammaPrior
from bayesdeconv.priors.psf_prior import PSFPrior, check_psf_size
from bayesdeconv.priors.smooth import SmoothPrior, difference_spectrum
from bayesdeconv.priors.stationary import StationaryGaussian, rfft_weights

__all__ = [
    "BLIND_SPARSE_SCALE",
    "SPARSE_SCALE",
    "GammaPosterior",
    "GradientARDPrior",
    "PSFPrior",
    "GammaPrior",
    "SmoothPrior",
    "StationaryGaussian",
    "check_psf_size",
    "difference_spectrum",
    "piecewise",
    "rfft_weights",
    "sparse",
]
