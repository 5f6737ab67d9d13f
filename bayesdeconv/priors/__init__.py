"""Image priors and hyper-priors (no inference here)."""

from bayesdeconv.priors.hyper import GammaPosterior, GammaPrior
from bayesdeconv.priors.smooth import SmoothPrior, difference_spectrum
from bayesdeconv.priors.stationary import StationaryGaussian, rfft_weights

__all__ = [
    "GammaPosterior",
    "GammaPrior",
    "SmoothPrior",
    "StationaryGaussian",
    "difference_spectrum",
    "rfft_weights",
]
