"""The smooth (Tikhonov, first-difference Gaussian) image prior: the conjugate baseline."""

from __future__ import annotations

import math

import torch

from bayesdeconv.physics.convolution import fft_dims
from bayesdeconv.priors.base import CirculantGaussianPrior
from bayesdeconv.priors.hyper import FixedPrecision, GammaPrior, as_precision

__all__ = ["SmoothPrior", "difference_spectrum"]


def difference_spectrum(shape: tuple[int, ...], *, dtype=torch.float64, device=None):
    """Eigenvalues of :math:`D^\\top D = \\sum_d D_d^\\top D_d` (circular first differences).

    :math:`\\sum_d 2 - 2\\cos(2\\pi k_d / n_d)` on the full ``fftn`` grid of ``shape``.
    """
    total = torch.zeros(shape, dtype=dtype, device=device)
    for axis, n in enumerate(shape):
        freq = torch.arange(n, dtype=dtype, device=device) * (2 * math.pi / n)
        view = [1] * len(shape)
        view[axis] = n
        total = total + (2 - 2 * torch.cos(freq)).reshape(view)
    return total


class SmoothPrior(CirculantGaussianPrior):
    """Gaussian prior on first differences with a precision hyper-parameter.

    .. math::
        p(x \\mid \\alpha) = \\mathcal N\\big(x;\\ 0,\\ (\\alpha Q_0)^{-1}\\big), \\qquad
        Q_0 = D^\\top D + \\varepsilon I, \\qquad \\alpha \\sim \\mathrm{Gamma}(a_0, b_0),

    where :math:`D` stacks the circular first differences along every image axis of the latent
    grid. :math:`\\varepsilon` keeps the prior proper (it bounds the variance of the image mean,
    which the differences leave free); with blur and noise the posterior is dominated by the
    data and the default is small.

    Parameters
    ----------
    precision : float or GammaPrior
        A fixed :math:`\\alpha` or its Gamma hyper-prior (learned by the engines). Default: a
        vague ``GammaPrior()``.
    epsilon : float
        :math:`\\varepsilon > 0`, the absolute ridge added to :math:`D^\\top D`; the prior
        variance of the image mean is :math:`1/(\\alpha\\varepsilon N)`.

    Notes
    -----
    Conjugate with Gaussian noise: given :math:`\\alpha` and the noise precision the posterior of
    :math:`x` is Gaussian, and for a circulant blur it is diagonal in Fourier space.

    References
    ----------
    .. [1] A. N. Tikhonov, V. Y. Arsenin, *Solutions of Ill-Posed Problems*, Winston, 1977.
    .. [2] R. Molina, "On the hierarchical Bayesian approach to image restoration: applications
       to astronomical images", IEEE TPAMI 16(11), 1994.
    """

    name = "smooth"

    def __init__(
        self,
        *,
        precision: float | GammaPrior | FixedPrecision | None = None,
        epsilon: float = 1e-3,
    ) -> None:
        precision = as_precision(precision)
        epsilon = float(epsilon)
        if not math.isfinite(epsilon) or epsilon <= 0:
            raise ValueError(f"epsilon must be positive and finite, got {epsilon}")
        self.precision = precision
        self.epsilon = epsilon

    def spectrum(self, shape: tuple[int, ...], *, dtype=torch.float64, device=None):
        """:math:`Q_0(\\omega)` on the full ``fftn`` grid of the latent ``shape`` (cached)."""
        return self._spectrum_and_log_det(shape, dtype, device)[0]

    def log_det(self, shape: tuple[int, ...], *, dtype=torch.float64, device=None) -> float:
        """:math:`\\log|Q_0| = \\sum_\\omega \\log Q_0(\\omega)` (cached)."""
        return self._spectrum_and_log_det(shape, dtype, device)[1]

    def _spectrum_and_log_det(self, shape, dtype, device) -> tuple[torch.Tensor, float]:
        def compute(grid, on):
            return difference_spectrum(grid, dtype=dtype, device=on) + self.epsilon

        return self._cached_spectrum(shape, dtype, device, compute)

    def diagonal(self, shape: tuple[int, ...] | int) -> float:
        """Every diagonal entry of :math:`Q_0`: :math:`2\\,\\mathrm{ndim} + \\varepsilon`
        (``shape`` is the latent shape or its number of axes)."""
        ndim = shape if isinstance(shape, int) else len(shape)
        return 2.0 * ndim + self.epsilon

    def quadratic(self, x: torch.Tensor, ndim: int) -> torch.Tensor:
        """:math:`x^\\top Q_0 x = \\sum_d \\|D_d x\\|^2 + \\varepsilon \\|x\\|^2` (event axes)."""
        dims = fft_dims(ndim)
        total = self.epsilon * (x**2).sum(dims)
        for d in dims:
            total = total + ((x - torch.roll(x, 1, d)) ** 2).sum(dims)
        return total

    def __repr__(self) -> str:
        return f"SmoothPrior(precision={self.precision!r}, epsilon={self.epsilon})"
