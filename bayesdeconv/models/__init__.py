"""Pyro models assembling operator, priors and noise model."""

from bayesdeconv import sites
from bayesdeconv.models.deconvolution import DeconvolutionModel

__all__ = ["DeconvolutionModel", "sites"]
