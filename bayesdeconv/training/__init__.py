"""Learning priors from the user's data (no inference on one image here).

:func:`train_wiener` learns the filter bank of a
:class:`~bayesdeconv.priors.LearnedWienerPrior`, supervised or by the evidence alone;
:func:`fit_vae` the encoder and decoder of a :class:`~bayesdeconv.priors.VAEImagePrior` from
noisy (blurred) images alone (DivNoising, DivBlurring).
"""

from bayesdeconv.training.vae import fit_vae
from bayesdeconv.training.wiener import (
    OBJECTIVES,
    WienerTraining,
    periodic_component,
    train_wiener,
    wiener_estimate,
)

__all__ = [
    "OBJECTIVES",
    "WienerTraining",
    "fit_vae",
    "periodic_component",
    "train_wiener",
    "wiener_estimate",
]
