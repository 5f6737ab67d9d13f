"""Camera calibration for Poisson–Gaussian noise: gain, offset and read noise from raw images
or dark frames (:mod:`~bayesdeconv.calibration.camera`), and the generalised Anscombe
transform with its unbiased inverse and a baseline built on it
(:mod:`~bayesdeconv.calibration.anscombe`)."""

from bayesdeconv.calibration.anscombe import (
    anscombe_deconvolve,
    generalized_anscombe,
    inverse_generalized_anscombe,
    inverse_photons,
)
from bayesdeconv.calibration.camera import CameraCalibration, estimate_poisson_gaussian
from bayesdeconv.calibration.dark import DarkCalibration, calibrate_from_dark_frames

__all__ = [
    "CameraCalibration",
    "DarkCalibration",
    "anscombe_deconvolve",
    "calibrate_from_dark_frames",
    "estimate_poisson_gaussian",
    "generalized_anscombe",
    "inverse_generalized_anscombe",
    "inverse_photons",
]
