"""Learning priors from the user's data (no inference on one image here).

:func:`train_wiener` learns the filter bank of a
:class:`~bayesdeconv.priors.LearnedWienerPrior`, supervised or by the evidence alone.
"""

from bayesdeconv.training.wiener import (
    OBJECTIVES,
    WienerTraining,
    periodic_component,
    train_wiener,
    wiener_estimate,
)

__all__ = ["OBJECTIVES", "WienerTraining", "periodic_component", "train_wiener", "wiener_estimate"]
