"""Forward physics: FFT convolution operators, OTFs and PSF generators (no Pyro here)."""

from bayesdeconv.physics.convolution import (
    BOUNDARIES,
    ConvolutionOperator,
    fft_dims,
    full_grid,
    psf_to_otf,
)
from bayesdeconv.physics.psf import (
    airy_psf,
    anisotropic_gaussian_psf,
    camera_shake_psf,
    check_psf,
    gaussian_psf,
    motion_psf,
    widefield_psf_3d,
)

__all__ = [
    "BOUNDARIES",
    "ConvolutionOperator",
    "airy_psf",
    "anisotropic_gaussian_psf",
    "check_psf",
    "fft_dims",
    "full_grid",
    "gaussian_psf",
    "camera_shake_psf",
    "motion_psf",
    "psf_to_otf",
    "widefield_psf_3d",
]
