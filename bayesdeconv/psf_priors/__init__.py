"""Priors on an unknown PSF (blind deconvolution); the support constraint lives here."""

from bayesdeconv.psf_priors.ard import ARDPSFPrior
from bayesdeconv.psf_priors.base import ConjugateGaussianPSFPrior, PSFPrior, check_psf_size
from bayesdeconv.psf_priors.generated import GeneratedPSF
from bayesdeconv.psf_priors.parametric import (
    DefocusPSF,
    GaussianPSF,
    LinearMotionPSF,
    ParametricPSFPrior,
)
from bayesdeconv.psf_priors.simplex import minimise_on_simplex, project_simplex
from bayesdeconv.psf_priors.widefield import WidefieldPSF

__all__ = [
    "ARDPSFPrior",
    "ConjugateGaussianPSFPrior",
    "DefocusPSF",
    "GaussianPSF",
    "GeneratedPSF",
    "LinearMotionPSF",
    "PSFPrior",
    "ParametricPSFPrior",
    "WidefieldPSF",
    "check_psf_size",
    "minimise_on_simplex",
    "project_simplex",
]
