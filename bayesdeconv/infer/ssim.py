r"""A differentiable structural similarity (SSIM) for the loss switch of the deep image prior.

.. math::
    \mathrm{SSIM}(a, b) = \operatorname{mean}_p
    \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}{(\mu_a^2 + \mu_b^2 + C_1)
    (\sigma_a^2 + \sigma_b^2 + C_2)},

with local means, variances and covariance under an 11×11 Gaussian window of width 1.5 over
the windows that fit inside the image, :math:`C_1 = (0.01 L)^2`, :math:`C_2 = (0.03 L)^2`
and :math:`L` the data range (Wang et al. [1]_). With a mask :math:`m`, the local statistics
are normalised convolutions over the observed pixels only (:math:`\mu_a = (w \ast m a) /
(w \ast m)`, and so on), so unobserved values never enter, and each window's SSIM is weighted
by its observed fraction :math:`w \ast m`; an all-ones mask gives the unmasked SSIM.

References
----------
.. [1] Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
   error visibility to structural similarity", IEEE TIP 13(4), 2004.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["ssim"]

WINDOW = 11
WIDTH = 1.5


def _window(dtype, device) -> torch.Tensor:
    t = torch.arange(WINDOW, dtype=dtype, device=device) - WINDOW // 2
    g = torch.exp(-0.5 * (t / WIDTH) ** 2)
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    data_range: float = 1.0,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean SSIM of two 2-D images of the same shape (differentiable in both)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim needs two 2-D images of one shape, got {a.shape} and {b.shape}")
    if min(a.shape) < WINDOW:
        raise ValueError(f"ssim needs images of at least {WINDOW} pixels per axis, got {a.shape}")
    w = _window(a.dtype, a.device)

    def smooth(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t[None, None], w)[0, 0]

    if mask is None:
        weight = None
        mean = smooth
    else:
        m = mask.to(a.dtype)
        weight = smooth(m)
        observed = weight.clamp_min(1e-12)

        def mean(t: torch.Tensor) -> torch.Tensor:
            return smooth(m * t) / observed

    mu_a, mu_b = mean(a), mean(b)
    var_a = mean(a * a) - mu_a**2
    var_b = mean(b * b) - mu_b**2
    cov = mean(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    if weight is None:
        return value.mean()
    return (value * weight).sum() / weight.sum().clamp_min(1e-12)
