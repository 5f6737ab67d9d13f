r"""The probability simplex :math:`\Delta = \{k : k \ge 0,\ \sum k = 1\}`, the support of a PSF.

A PSF conserves flux and is non-negative, so its (posterior) mean lives on :math:`\Delta`.
:func:`project_simplex` is the Euclidean projection used by the stochastic engines after each
step; :func:`minimise_on_simplex` solves the quadratic programme of IVB's closed-form
:math:`q(k)` update.
"""

from __future__ import annotations

import math

import torch

__all__ = ["minimise_on_simplex", "project_simplex"]


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection onto :math:`\\{k : k \\ge 0, \\sum k = 1\\}` (any shape).

    The sort-based algorithm: with :math:`u` sorted decreasingly and
    :math:`\\rho = \\max\\{j : u_j > (\\sum_{i \\le j} u_i - 1)/j\\}`, the projection is
    :math:`\\max(v - \\theta, 0)` with :math:`\\theta = (\\sum_{i \\le \\rho} u_i - 1)/\\rho`.

    References
    ----------
    .. [1] J. Duchi, S. Shalev-Shwartz, Y. Singer, T. Chandra, "Efficient projections onto the
       l1-ball for learning in high dimensions", ICML 2008.
    """
    flat = v.reshape(-1)
    u = torch.sort(flat, descending=True).values
    css = torch.cumsum(u, 0) - 1
    index = torch.arange(1, flat.numel() + 1, dtype=v.dtype, device=v.device)
    rho = int(torch.nonzero(u - css / index > 0)[-1]) + 1
    theta = css[rho - 1] / rho
    return (v - theta).clamp(min=0)


def minimise_on_simplex(
    a: torch.Tensor, b: torch.Tensor, start: torch.Tensor, iters: int
) -> torch.Tensor:
    """Minimise :math:`\\tfrac12\\mu^\\top A\\mu - b^\\top\\mu` over the simplex (FISTA).

    Accelerated projected gradient with step :math:`1/\\lambda_{max}(A)` and adaptive restart;
    returns the best iterate, never worse than the (projected) start.

    References
    ----------
    .. [1] A. Beck, M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for linear
       inverse problems", SIAM J. Imaging Sci. 2(1), 2009.
    .. [2] B. O'Donoghue, E. Candès, "Adaptive restart for accelerated gradient schemes",
       Found. Comput. Math. 15, 2015.
    """

    def objective(mu: torch.Tensor) -> float:
        return float(0.5 * mu @ (a @ mu) - b @ mu)

    lipschitz = float(torch.linalg.eigvalsh(a)[-1])
    step = 1.0 / lipschitz
    mu = project_simplex(start)
    best, best_value = mu, objective(mu)
    z, t = mu, 1.0
    for i in range(iters):
        new = project_simplex(z - step * (a @ z - b))
        t_next = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
        z = new + ((t - 1) / t_next) * (new - mu)
        mu, t = new, t_next
        if i % 10 == 9 or i == iters - 1:
            value = objective(mu)
            if value < best_value:
                best, best_value = mu, value
            else:  # adaptive restart
                z, t = best, 1.0
    return best
