"""Priors on an unknown PSF (blind deconvolution); the support constraint lives here."""

from bayesdeconv.psf_priors.ard import ARDPSFPrior
from bayesdeconv.psf_priors.base import ConjugateGaussianPSFPrior, PSFPrior, check_psf_size
from bayesdeconv.psf_priors.parametric import (
    DefocusPSF,
    GaussianPSF,
    LinearMotionPSF,
    ParametricPSFPrior,
)
from bayesdeconv.psf_priors.simplex import minimise_on_simplex, project_simplex

__all__ = [
    "ARDPSFPrior",
    "ConjugateGaussianPSFPrior",
    "DefocusPSF",
    "GaussianPSF",
    "LinearMotionPSF",
    "PSFPrior",
    "ParametricPSFPrior",
    "check_psf_size",
    "minimise_on_simplex",
    "project_simplex",
]
