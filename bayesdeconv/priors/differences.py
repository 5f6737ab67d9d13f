r"""Circular differences :math:`(D_o x)_p = x_{p+o} - x_p` along a set of offsets.

The features of the sparse-gradient priors. With one unit offset per image axis they are the
first differences; other offsets (diagonals, longer lags) give other filter banks with the
same closed-form algebra.
"""

from __future__ import annotations

import torch

__all__ = [
    "axis_offsets",
    "difference_diagonal",
    "differences",
    "differences_adjoint",
    "feature_diagonal",
    "feature_second_moments",
    "features",
    "features_adjoint",
]


def _roll(x: torch.Tensor, offset: tuple[int, ...], sign: int) -> torch.Tensor:
    """``x`` shifted so that pixel ``p`` holds ``x[p + sign * offset]`` (circularly)."""
    ndim = len(offset)
    pairs = [(-sign * o, x.ndim - ndim + d) for d, o in enumerate(offset) if o]
    if not pairs:
        return x
    shifts, dims = zip(*pairs, strict=True)
    return torch.roll(x, shifts=shifts, dims=dims)


def features(x: torch.Tensor, offsets) -> torch.Tensor:
    """:math:`D_o x` for every offset, stacked on a new axis 0."""
    return torch.stack([_roll(x, o, 1) - x for o in offsets])


def features_adjoint(g: torch.Tensor, offsets) -> torch.Tensor:
    """:math:`\\sum_o D_o^\\top g_o` for stacked features ``g`` of shape ``(n_offsets, ...)``."""
    out = torch.zeros_like(g[0])
    for i, o in enumerate(offsets):
        out = out + _roll(g[i], o, -1) - g[i]
    return out


def feature_diagonal(weights: torch.Tensor, offsets) -> torch.Tensor:
    """Diagonal of :math:`\\sum_o D_o^\\top W_o D_o`: :math:`\\sum_o w_{o,p} + w_{o,p-o}`."""
    out = torch.zeros_like(weights[0])
    for i, o in enumerate(offsets):
        out = out + weights[i] + _roll(weights[i], o, -1)
    return out


def feature_second_moments(mean: torch.Tensor, variance: torch.Tensor, offsets) -> torch.Tensor:
    """:math:`\\mathbb E[(D_o x)_p^2] = (D_o\\mu)_p^2 + \\sigma_p^2 + \\sigma_{p+o}^2` under a
    mean-field Gaussian :math:`q(x)`."""
    d = features(mean, offsets) ** 2
    for i, o in enumerate(offsets):
        d[i] += variance + _roll(variance, o, 1)
    return d


def axis_offsets(ndim: int) -> tuple[tuple[int, ...], ...]:
    """The unit offset along each of ``ndim`` axes (the first differences)."""
    return tuple(tuple(int(i == d) for i in range(ndim)) for d in range(ndim))


def differences(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Circular forward differences along the last ``ndim`` axes, stacked on a new axis 0.

    :math:`(D_d x)_p = x_{p + e_d} - x_p`; output shape ``(ndim, *x.shape)``.
    """
    return features(x, axis_offsets(ndim))


def differences_adjoint(g: torch.Tensor, ndim: int) -> torch.Tensor:
    """:math:`\\sum_d D_d^\\top g_d` for stacked differences ``g`` of shape ``(ndim, ...)``."""
    return features_adjoint(g, axis_offsets(ndim))


def difference_diagonal(weights: torch.Tensor, ndim: int) -> torch.Tensor:
    """Diagonal of :math:`\\sum_d D_d^\\top W_d D_d`: :math:`\\sum_d w_{d,p} + w_{d,p-e_d}`."""
    return feature_diagonal(weights, axis_offsets(ndim))
