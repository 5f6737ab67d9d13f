"""Forward physics: FFT convolution operators, OTFs and PSF generators (no Pyro here)."""

from bayesdeconv.physics.convolution import (
    BOUNDARIES,
    ConvolutionOperator,
    fft_dims,
    full_grid,
    psf_to_otf,
)

__all__ = ["BOUNDARIES", "ConvolutionOperator", "fft_dims", "full_grid", "psf_to_otf"]
