"""Sample-site names, defined once for models, guides, engines and exports."""

IMAGE = "image"
"""The latent sharp image ``x`` on the latent grid."""
IMAGE_PRECISION = "image_precision"
"""The image prior's precision hyper-parameter ``alpha``."""
NOISE_PRECISION = "noise_precision"
"""The Gaussian noise precision ``gamma``."""
GRADIENT_PRECISION = "gradient_precision"
"""The per-feature precisions ``w`` of a Gaussian scale-mixture prior (uncollapsed models)."""
IMAGE_PRIOR = "image_prior"
"""The factor holding a non-Gaussian image prior's log density (sparse-gradient priors)."""
LATENT = "latent"
"""The latent code ``z`` of a generator image prior (a VAE decoder's input)."""
IMAGE_PENALTY = "image_penalty"
"""The factor holding a generator prior's optional penalties (l1, l2, positivity)."""
EXTREME_CHANNEL = "extreme_channel"
"""The factor of the extreme-channel prior (dark and bright channels of the image)."""
PSF = "psf"
"""The PSF ``k`` (blind models)."""
PSF_PRECISION = "psf_precision"
"""The per-value precisions ``beta`` of an ARD PSF prior (uncollapsed models)."""
PSF_PARAMETER_PREFIX = "psf_"
"""Prefix of the sample sites of a parametric PSF's parameters (``psf_sigma``, ...)."""
OBSERVED = "obs"
"""The observed image ``y``."""


def psf_parameter(name: str) -> str:
    """The sample-site name of the parametric PSF parameter ``name``: ``psf_<name>``."""
    return PSF_PARAMETER_PREFIX + name


__all__ = [
    "EXTREME_CHANNEL",
    "GRADIENT_PRECISION",
    "IMAGE",
    "IMAGE_PRECISION",
    "IMAGE_PENALTY",
    "IMAGE_PRIOR",
    "LATENT",
    "NOISE_PRECISION",
    "OBSERVED",
    "PSF",
    "PSF_PARAMETER_PREFIX",
    "PSF_PRECISION",
    "psf_parameter",
]
