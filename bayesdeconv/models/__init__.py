"""Pyro models assembling operator, priors and noise model."""

from bayesdeconv.models import sites
from bayesdeconv.models.deconvolution import DeconvolutionModel

__all__ = ["DeconvolutionModel", "sites"]
