"""Stationary (circulant-precision) Gaussian random fields as Pyro distributions."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

from bayesdeconv.physics.convolution import fft_dims, squared_modulus

__all__ = ["StationaryGaussian", "rfft_weights"]


def rfft_weights(shape: tuple[int, ...], *, dtype=torch.float64, device=None) -> torch.Tensor:
    """Multiplicities of the ``rfftn`` half-spectrum in the full spectrum.

    ``sum(w * f_half) == sum(f_full)`` for any real even spectral function ``f``: the last axis'
    column 0 (and ``n/2`` for even ``n``) appears once, every other column twice.
    """
    n = shape[-1]
    w = torch.full((n // 2 + 1,), 2.0, dtype=dtype, device=device)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w.expand(*shape[:-1], n // 2 + 1)


class StationaryGaussian(TorchDistribution):
    """Zero-mean Gaussian field with circulant precision :math:`\\alpha\\,Q_0`.

    .. math::
        \\log p(x \\mid \\alpha) = -\\tfrac N2 \\log 2\\pi + \\tfrac N2 \\log\\alpha
        + \\tfrac12 \\sum_\\omega \\log Q_0(\\omega) - \\tfrac\\alpha2\\, x^\\top Q_0 x,

    with :math:`Q_0(\\omega)` the eigenvalues of :math:`Q_0` (its spectrum on the full FFT grid),
    and :math:`x^\\top Q_0 x = N^{-1}\\sum_\\omega Q_0(\\omega) |X(\\omega)|^2`. Samples are drawn
    exactly by colouring white noise, :math:`x = F^{-1}\\,(\\alpha Q_0)^{-1/2}\\, F z`.

    Parameters
    ----------
    precision : torch.Tensor
        :math:`\\alpha > 0`, any batch shape.
    spectrum : torch.Tensor
        :math:`Q_0(\\omega) > 0` on the full ``fftn`` grid; its shape is the event shape.
    quadratic : callable, optional
        A cheaper exact evaluation of :math:`x^\\top Q_0 x` over the event axes (for example by
        finite differences); defaults to the spectral formula.
    log_det : float, optional
        :math:`\\sum_\\omega \\log Q_0(\\omega)` if already known (saves :math:`N` logarithms
        per construction).
    """

    arg_constraints = {"precision": constraints.positive}
    has_rsample = True

    def __init__(
        self,
        precision: torch.Tensor,
        spectrum: torch.Tensor,
        quadratic: Callable[[torch.Tensor], torch.Tensor] | None = None,
        log_det: float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self.precision = precision
        self.spectrum = spectrum
        self._quadratic = quadratic
        event_shape = spectrum.shape
        self._dims = fft_dims(len(event_shape))
        self._half = spectrum[..., : event_shape[-1] // 2 + 1]
        self._log_det = float(spectrum.log().sum()) if log_det is None else float(log_det)
        super().__init__(precision.shape, event_shape, validate_args=validate_args)

    @constraints.dependent_property
    def support(self):
        return constraints.independent(constraints.real, len(self.event_shape))

    @property
    def _event_view(self) -> tuple[int, ...]:
        return self.batch_shape + (1,) * len(self.event_shape)

    def quadratic(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`x^\\top Q_0 x` over the event axes."""
        if self._quadratic is not None:
            return self._quadratic(x)
        spec = squared_modulus(torch.fft.rfftn(x, dim=self._dims))
        w = rfft_weights(self.event_shape, dtype=x.dtype, device=x.device)
        return (w * self._half * spec).sum(self._dims) / self.spectrum.numel()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        n = self.spectrum.numel()
        return (
            -0.5 * n * math.log(2 * math.pi)
            + 0.5 * n * self.precision.log()
            + 0.5 * self._log_det
            - 0.5 * self.precision * self.quadratic(x)
        )

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:  # noqa: B008
        shape = self._extended_shape(sample_shape)
        z = torch.randn(shape, dtype=self.spectrum.dtype, device=self.spectrum.device)
        scale = (self.precision.reshape(self._event_view) * self._half).rsqrt()
        return torch.fft.irfftn(
            torch.fft.rfftn(z, dim=self._dims) * scale, s=self.event_shape, dim=self._dims
        )

    @property
    def mean(self) -> torch.Tensor:
        return self.spectrum.new_zeros(self.batch_shape + self.event_shape)

    @property
    def variance(self) -> torch.Tensor:
        marginal = (1.0 / self.spectrum).mean()
        return (
            (marginal / self.precision)
            .reshape(self._event_view)
            .expand(self.batch_shape + self.event_shape)
        )

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return StationaryGaussian(
            self.precision.expand(batch_shape), self.spectrum, self._quadratic, self._log_det
        )
