r"""Poisson–Gaussian camera noise (gain, offset, read noise) as shifted Poisson counts.

A camera reports raw values :math:`y = g P + o + n` with :math:`P \sim \mathrm{Poisson}(Ax)`
photo-electrons, gain :math:`g`, offset :math:`o` and Gaussian read noise
:math:`n \sim \mathcal N(0, \sigma^2)` (Foi et al. 2008). Its likelihood is a Poisson–Gaussian
convolution with no closed form; the **shifted-Poisson approximation** (Snyder et al. 1993;
Chouzenoux et al. 2015) matches its first two moments exactly:

.. math::
    z = \frac{y - o}{g} + \frac{\sigma^2}{g^2}, \qquad
    \mathbb E z = \operatorname{var} z = (Ax) + \frac{\sigma^2}{g^2}, \qquad
    z \overset{\text{approx}}\sim \mathrm{Poisson}\Big(Ax + \frac{\sigma^2}{g^2} + b\Big),

so the model is a :class:`~bayesdeconv.likelihoods.base.CountLikelihood` with background
:math:`\sigma^2/g^2 + b` and counts :math:`\max(z, 0)`, and the closed-form Poisson engine
(:mod:`bayesdeconv.infer.poisson_vb`) runs it unchanged.

References
----------
.. [1] A. Foi, M. Trimeche, V. Katkovnik, K. Egiazarian, "Practical Poissonian-Gaussian noise
   modeling and fitting for single-image raw-data", IEEE TIP 17(10), 2008.
.. [2] D. L. Snyder, A. M. Hammoud, R. L. White, "Image recovery from data acquired with a
   charge-coupled-device camera", JOSA A 10(5), 1993.
.. [3] E. Chouzenoux, A. Jezierska, J.-C. Pesquet, H. Talbot, "A convex approach for image
   restoration with exact Poisson–Gaussian likelihood", SIAM J. Imaging Sci. 8(4), 2015.
"""

from __future__ import annotations

import math

import numpy as np
import pyro.distributions as dist
import torch
from torch.distributions.transforms import AffineTransform

from bayesdeconv.likelihoods.base import CountLikelihood, Likelihood

__all__ = ["EstimatedPoissonGaussianNoise", "PoissonGaussianNoise"]

#: A raw value this many read-noise standard deviations (plus one count) below the offset is
#: taken as evidence of a wrong offset (or gain) when more than ``_BAD_FRACTION`` of the pixels
#: fall there.
_BAD_SIGMAS = 5.0
_BAD_FRACTION = 1e-3


class _ContinuousPoisson(dist.Poisson):
    r""":math:`\mathrm{Poisson}` with the log-pmf extended to real values by
    :math:`\log\Gamma` and evaluated at :math:`\max(z, 0)`, the counts the Poisson engine uses."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        value = value.clamp_min(0)
        return value.xlogy(self.rate) - self.rate - torch.lgamma(value + 1)


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


class PoissonGaussianNoise(CountLikelihood):
    r"""Raw camera values :math:`y = g\,P + o + \mathcal N(0, \sigma^2)`,
    :math:`P \sim \mathrm{Poisson}(Ax + b)`, fitted as shifted Poisson counts.

    Parameters
    ----------
    gain : float
        :math:`g > 0`, raw units (ADU) per photo-electron.
    offset : float
        :math:`o`, the raw value of zero light (camera bias).
    read_noise : float
        :math:`\sigma \ge 0`, the standard deviation of the Gaussian read noise in raw units.
    background : float
        An extra known background :math:`b \ge 0` in photo-electrons (stray light, dark
        current), added to the rate like :class:`~bayesdeconv.likelihoods.PoissonNoise`'s.
    floor : float
        The rate is clamped to at least ``floor`` (see ``PoissonNoise``).

    Notes
    -----
    The shifted-Poisson approximation (Snyder et al. 1993; Chouzenoux et al. 2015) treats

    .. math::
        z = \frac{y - o}{g} + \frac{\sigma^2}{g^2}
        \sim \mathrm{Poisson}\Big(Ax + b + \frac{\sigma^2}{g^2}\Big),

    exact in the first two moments: :math:`\mathbb E z = \operatorname{var} z =
    Ax + b + \sigma^2/g^2`. Hence :attr:`background` is :math:`b + \sigma^2/g^2` and
    :meth:`counts` is :math:`\max(z, 0)` for the closed-form engine, and
    :meth:`distribution` is the same law over raw ``y`` (an affine image of the Poisson,
    :math:`y = g z + o - \sigma^2/g`, log-density :math:`\log \mathrm{Poisson}(\max(z,0)) -
    \log g` with :math:`\log\Gamma` for the factorial) for SVI, MAP and Vadam. With
    :math:`g = 1, o = 0, \sigma = 0` it is :class:`~bayesdeconv.likelihoods.PoissonNoise`.
    Use :func:`bayesdeconv.calibration.estimate_poisson_gaussian` to measure
    :math:`g, o, \sigma` (Foi et al. 2008).
    """

    name = "poisson-gaussian"

    def __init__(
        self,
        gain: float,
        offset: float = 0.0,
        read_noise: float = 0.0,
        *,
        background: float = 0.0,
        floor: float = 1e-6,
    ) -> None:
        gain = _finite("gain", gain)
        if gain <= 0:
            raise ValueError(f"gain must be positive (raw units per photo-electron), got {gain}")
        read_noise = _finite("read_noise", read_noise)
        if read_noise < 0:
            raise ValueError(
                f"read_noise is a standard deviation and cannot be negative, got {read_noise}"
            )
        background = _finite("background", background)
        if background < 0:
            raise ValueError(f"background must be non-negative, got {background}")
        floor = float(floor)
        if not math.isfinite(floor) or floor <= 0:
            raise ValueError(f"floor must be positive, got {floor}")
        self.gain = gain
        self.offset = _finite("offset", offset)
        self.read_noise = read_noise
        self.extra_background = background
        self.floor = floor
        self.calibration = None
        """The :class:`~bayesdeconv.calibration.CameraCalibration` it came from, if any."""

    @property
    def shift(self) -> float:
        r""":math:`\sigma^2/g^2`, the read-noise variance in photo-electrons squared."""
        return (self.read_noise / self.gain) ** 2

    @property
    def background(self) -> float:  # type: ignore[override]
        r"""The background of the shifted-Poisson rate, :math:`b + \sigma^2/g^2`."""
        return self.extra_background + self.shift

    def shifted(self, observed):
        r""":math:`z = (y - o)/g + \sigma^2/g^2` (not clamped), for arrays or tensors."""
        return (observed - self.offset) / self.gain + self.shift

    def signal_units(self, observed: torch.Tensor) -> torch.Tensor:
        r""":math:`(y - o)/g`, photo-electrons (the starting image of SVI, MAP and Vadam)."""
        return (observed - self.offset) / self.gain

    def counts(self, observed: torch.Tensor) -> torch.Tensor:
        r""":math:`\max\big((y - o)/g + \sigma^2/g^2,\ 0\big)`, the shifted-Poisson counts."""
        return self.shifted(observed).clamp_min(0)

    def rate(self, mean: torch.Tensor) -> torch.Tensor:
        r""":math:`\max(Ax + b + \sigma^2/g^2, \text{floor})`, the rate of :math:`z`."""
        return (mean + self.background).clamp_min(self.floor)

    def distribution(self, mean: torch.Tensor, parameters: dict | None = None, ndim: int = 2):
        r"""The shifted Poisson over raw values: :math:`y = g z + o - \sigma^2/g`,
        :math:`z \sim \mathrm{Poisson}(\text{rate})` (log-pmf at :math:`\max(z, 0)`)."""
        base = _ContinuousPoisson(self.rate(mean), validate_args=False)
        loc = self.offset - self.read_noise**2 / self.gain
        transform = AffineTransform(loc=loc, scale=self.gain)
        return dist.TransformedDistribution(base, [transform], validate_args=False)

    def check_observed(self, observed: np.ndarray) -> None:
        r"""Values must be finite, and not far below the offset: more than 0.1 % of the pixels
        with :math:`z < -(5\sigma/g + 1)` means a wrong offset or gain. Exact zeros are
        skipped (the engines fill missing pixels with 0)."""
        values = np.asarray(observed, dtype=float)
        if not np.isfinite(values).all():
            raise ValueError(
                "the raw image contains NaN or Inf values; mark them as missing with a mask"
            )
        values = values[values != 0.0]
        if values.size == 0:
            return
        limit = -(_BAD_SIGMAS * self.read_noise / self.gain + 1.0)
        low = self.shifted(values) < limit
        if low.mean() > _BAD_FRACTION:
            raise ValueError(
                f"{int(low.sum())} of {values.size} raw values lie far below the offset "
                f"{self.offset:g} (more than {_BAD_SIGMAS:g} read-noise std below zero light); "
                "check offset and gain, e.g. with bayesdeconv.calibration"
            )

    def simulate(self, mean: np.ndarray, *, rng: np.random.Generator, precision=None):
        r"""Exact Poisson–Gaussian raw frames :math:`g\,\mathrm{Poisson}(\text{mean} + b) + o
        + \sigma\,\varepsilon`, :math:`\varepsilon \sim \mathcal N(0, 1)`."""
        mean = np.asarray(mean, dtype=float)
        if np.any(mean < 0):
            raise ValueError("a Poisson rate cannot be negative")
        photons = rng.poisson(mean + self.extra_background).astype(float)
        return self.gain * photons + self.offset + self.read_noise * rng.standard_normal(mean.shape)

    def __repr__(self) -> str:
        extra = f", background={self.extra_background:g}" if self.extra_background else ""
        return (
            f"PoissonGaussianNoise(gain={self.gain:g}, offset={self.offset:g}, "
            f"read_noise={self.read_noise:g}{extra})"
        )


class EstimatedPoissonGaussianNoise(Likelihood):
    r"""``noise="poisson-gaussian"``: a :class:`PoissonGaussianNoise` whose gain, offset and
    read noise are measured on the image being deconvolved.

    :meth:`calibrate` (run by :func:`~bayesdeconv.deconvolve`) calls
    :func:`~bayesdeconv.calibration.estimate_poisson_gaussian` with ``offset="background"``
    unless ``options`` say otherwise: one image identifies the gain and
    :math:`\sigma^2 - g\,o`, and the offset is taken as the image's darkest level (its 1 %
    quantile of tile means), so that level counts as background rather than signal. The
    calibration used is in ``result.info["calibration"]`` (and the model in
    ``result.info["noise"]``). For a measured camera pass ``noise=PoissonGaussianNoise(gain,
    offset, read_noise)`` or ``estimate_poisson_gaussian(image, dark=frames).likelihood()``.

    Parameters
    ----------
    **options
        Keyword arguments of :func:`~bayesdeconv.calibration.estimate_poisson_gaussian`
        (``offset``, ``read_noise``, ``dark``, ``block``, ...).
    """

    name = "poisson-gaussian"

    def __init__(self, **options) -> None:
        if "mask" in options:
            raise ValueError("the mask comes from deconvolve(mask=...)")
        self.options = options

    def calibrate(self, observed: np.ndarray, mask: np.ndarray | None = None):
        """The :class:`PoissonGaussianNoise` measured on ``observed`` (``.calibration`` set)."""
        from bayesdeconv.calibration import estimate_poisson_gaussian

        options = {"offset": "background", **self.options}
        calibration = estimate_poisson_gaussian(observed, mask=mask, **options)
        noise = calibration.likelihood()
        noise.calibration = calibration
        return noise

    def distribution(self, mean: torch.Tensor, parameters: dict, ndim: int):
        raise RuntimeError(
            "EstimatedPoissonGaussianNoise has no parameters yet: call .calibrate(image) "
            "(deconvolve does) or pass PoissonGaussianNoise(gain, offset, read_noise)"
        )

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self.options.items())
        return f"EstimatedPoissonGaussianNoise({options})"
