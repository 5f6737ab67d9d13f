"""Posterior families (guides) built on Pyro's autoguides."""

from bayesdeconv.guides.dip import DIPGuide
from bayesdeconv.guides.factory import GUIDES, latent_dimension, make_guide

__all__ = ["DIPGuide", "GUIDES", "latent_dimension", "make_guide"]
