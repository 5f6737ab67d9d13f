"""Noise models: each class both simulates and scores observations."""

from bayesdeconv.likelihoods.gaussian import GaussianNoise
from bayesdeconv.likelihoods.poisson import PoissonNoise

__all__ = ["GaussianNoise", "PoissonNoise"]
