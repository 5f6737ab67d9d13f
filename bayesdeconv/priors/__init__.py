"""Image priors and hyper-priors (no inference here).

:class:`ImagePrior` is the protocol; :class:`CirculantGaussianPrior` and
:class:`GaussianScaleMixturePrior` are the capabilities that unlock the closed-form engines.
"""

from bayesdeconv.priors.ard import (
    BLIND_SPARSE_SCALE,
    SPARSE_SCALE,
    GradientARDPrior,
    piecewise,
    sparse,
)
from bayesdeconv.priors.base import (
    CirculantGaussianPrior,
    GaussianScaleMixturePrior,
    ImagePrior,
    NetworkPrior,
)
from bayesdeconv.priors.dip import DeepImagePrior, DIPSchedule, VariationalDIP
from bayesdeconv.priors.dip_networks import GeneratorShape
from bayesdeconv.priors.extreme_channel import ExtremeChannelPrior
from bayesdeconv.priors.filter_banks import filter_bank, normalise_filters
from bayesdeconv.priors.gamma_field import GammaFieldPrior
from bayesdeconv.priors.hyper import FixedPrecision, GammaPosterior, GammaPrior, as_precision
from bayesdeconv.priors.learned_wiener import LearnedWienerPrior, filter_spectrum
from bayesdeconv.priors.smooth import SmoothPrior, difference_spectrum
from bayesdeconv.priors.stationary import StationaryGaussian, rfft_weights
from bayesdeconv.priors.vae import VAEImagePrior
from bayesdeconv.priors.vae_networks import NetworkShape

__all__ = [
    "BLIND_SPARSE_SCALE",
    "SPARSE_SCALE",
    "CirculantGaussianPrior",
    "DIPSchedule",
    "DeepImagePrior",
    "ExtremeChannelPrior",
    "FixedPrecision",
    "GammaFieldPrior",
    "GammaPosterior",
    "GammaPrior",
    "GaussianScaleMixturePrior",
    "GeneratorShape",
    "GradientARDPrior",
    "ImagePrior",
    "LearnedWienerPrior",
    "NetworkPrior",
    "NetworkShape",
    "SmoothPrior",
    "StationaryGaussian",
    "VAEImagePrior",
    "VariationalDIP",
    "as_precision",
    "difference_spectrum",
    "filter_bank",
    "filter_spectrum",
    "normalise_filters",
    "piecewise",
    "rfft_weights",
    "sparse",
]
