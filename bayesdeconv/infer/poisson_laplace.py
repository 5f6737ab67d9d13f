r"""Calibrated per-voxel uncertainty for Poisson deconvolution: a locally stationary Laplace
approximation in log intensity.

The mean-field posterior of :mod:`~bayesdeconv.infer.poisson_vb` splits each count among its
sources independently of the neighbours that compete for it, so its Gamma factors are far
too narrow (90 % intervals cover 20–50 % of voxels on data drawn from the model). This module
gives the std map the engine reports instead. In :math:`u = \log x` the Gamma prior's
log-density is :math:`a u - \beta e^u`, and with the expected Fisher information of the
Poisson likelihood the negative log posterior has the Hessian

.. math::
    H_u = X A^\top W A X + \beta X, \qquad W = \operatorname{diag}\Big(\frac{M}{A\hat x + b}\Big),
    \quad X = \operatorname{diag}(\hat x).

Replacing :math:`A^\top W A` near voxel :math:`j` by the circulant :math:`w_j C^\top C` with the
local Fisher weight :math:`w_j = [A^\top W 1]_j` (a PSF-weighted average of :math:`W`) gives

.. math::
    \operatorname{Var}(x_j) \approx \hat x_j^2 [H_u^{-1}]_{jj}
    \approx \frac1N \sum_\omega \frac{1}{w_j |K(\omega)|^2 + \beta / \hat x_j}
    = \frac{G(r_j)}{w_j}, \qquad r_j = \frac{\beta}{\hat x_j w_j},
    \quad G(r) = \frac1N \sum_\omega \frac{1}{|K(\omega)|^2 + r},

so the whole map costs one forward and one adjoint convolution and a table of :math:`G`. Without
blur it is exact: :math:`w_j = 1/\hat x_j` and the variance is :math:`\hat x_j / (1 + \beta)`,
the variance of the conjugate posterior :math:`\mathrm{Gamma}(a + y_j, \beta + 1)` at its mean
(tested). Draws are independent Gamma voxels with that mean and variance (marginals only); on
data drawn from the model their 90 % intervals cover 89–90 % of voxels (3-D, 1 to 50 photons
per voxel, circular and ``valid`` boundaries; ``benchmarks/bench_fluorescence.py``).

References
----------
.. [1] L. Tierney, J. B. Kadane, "Accurate approximations for posterior moments and marginal
   densities", JASA 81(393), 1986 (the Laplace approximation).
.. [2] J. A. Fessler, W. L. Rogers, "Spatial resolution properties of penalized-likelihood image
   reconstruction: space-invariant tomographs", IEEE TIP 5(9), 1996 (the locally
   shift-invariant approximation of :math:`A^\top W A`).
"""

from __future__ import annotations

import math

import torch

from bayesdeconv.physics.convolution import ConvolutionOperator

__all__ = ["laplace_variance"]

#: the table of G spans r in [10^-10, 10^10] at 20 points per decade; with cubic
#: (Catmull-Rom) interpolation in log-log it is accurate to about 3e-6 relative
_LOG10_RANGE = (-10.0, 10.0)
_TABLE_SIZE = 401


def _g_table(op: ConvolutionOperator) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``log r`` on a grid and :math:`\log G(r)` for the operator's :math:`|K(\omega)|^2`."""
    power = op.power_spectrum().flatten()
    # the mean over frequencies: every frequency up to 2^18, an even stride through them beyond
    power = power[:: max(1, power.numel() >> 18)].to(torch.float32)
    log_r = torch.linspace(*_LOG10_RANGE, _TABLE_SIZE, dtype=torch.float64, device=power.device)
    log_r = log_r * math.log(10.0)
    g = torch.stack([(1.0 / (power + r)).mean(dtype=torch.float64) for r in log_r.exp()])
    return log_r, g.log()


def _catmull_rom(table: torch.Tensor, lower: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Cubic interpolation of a uniformly tabulated function between ``lower`` and
    ``lower + 1`` at fraction ``t``."""
    p0, p1, p2, p3 = (table[lower + k] for k in (-1, 0, 1, 2))
    return p1 + 0.5 * t * (
        p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0))
    )


def laplace_variance(
    op: ConvolutionOperator,
    mean: torch.Tensor,
    rate: float,
    *,
    background: float = 0.0,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Per-voxel posterior variance of the intensities (module documentation).

    Parameters
    ----------
    op : ConvolutionOperator
        The blur :math:`A` (any boundary).
    mean : torch.Tensor
        Posterior mean :math:`\hat x` on the latent grid.
    rate : float
        The Gamma prior's rate :math:`\beta` (its posterior mean when learned).
    background : float
        The known background :math:`b` of the counts.
    mask : torch.Tensor, optional
        Observed pixels (1) of the observation.

    Returns
    -------
    torch.Tensor
        :math:`\operatorname{Var}(x_j)` on the latent grid, in ``mean``'s dtype.
    """
    tiny = torch.finfo(mean.dtype).tiny
    expected = (op.forward(mean) + background).to(torch.float64)
    # a rate of ~0 (an EM fit's zeros, FFT round-off) must not give an infinite weight: floor
    # it at a millionth of the largest predicted count
    weights = 1.0 / expected.clamp_min(max(1e-6 * float(expected.max()), 1e-300))
    if mask is not None:
        weights = weights * mask.to(weights.dtype)
    local = op.to(torch.float64).adjoint(weights).clamp_min(0)  # w_j
    prior = rate / mean.to(torch.float64).clamp_min(tiny)  # beta / x_j
    log_r, log_g = _g_table(op)
    with torch.no_grad():
        log_ratio = prior.log() - local.log()  # +inf where unobserved, -inf for a flat prior
        log_ratio = torch.nan_to_num(log_ratio, nan=math.inf)  # 0 / 0: nothing known
        clamped = log_ratio.clamp(float(log_r[0]), float(log_r[-1]))
        position = (clamped - log_r[0]) / (log_r[1] - log_r[0])
        lower = position.floor().clamp(1, _TABLE_SIZE - 3).long()
        log_gr = _catmull_rom(log_g, lower, position - lower)
        # Var = G(r) / w where the data dominate, r G(r) / (beta / x) where the prior does
        # (r G(r) rises to 1 as r -> inf, so unobserved voxels get the prior variance x / beta)
        log_var = torch.where(
            log_ratio < 0, log_gr - local.log(), (log_gr + clamped).clamp(max=0.0) - prior.log()
        )
    return log_var.exp().to(mean.dtype)
