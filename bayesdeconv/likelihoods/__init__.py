"""Noise models: each class both simulates and scores observations.

:class:`Likelihood` is the protocol; :class:`ConjugateGaussianLikelihood` the capability that
unlocks the closed-form engines.
"""

from bayesdeconv.likelihoods.base import ConjugateGaussianLikelihood, CountLikelihood, Likelihood
from bayesdeconv.likelihoods.gaussian import GaussianNoise
from bayesdeconv.likelihoods.poisson import PoissonNoise
from bayesdeconv.likelihoods.poisson_gaussian import (
    EstimatedPoissonGaussianNoise,
    PoissonGaussianNoise,
)

__all__ = [
    "ConjugateGaussianLikelihood",
    "CountLikelihood",
    "EstimatedPoissonGaussianNoise",
    "GaussianNoise",
    "Likelihood",
    "PoissonGaussianNoise",
    "PoissonNoise",
]
