"""Linear solvers shared by the closed-form engines."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["jacobi_pcg"]


def jacobi_pcg(
    apply: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    x0: torch.Tensor,
    diag: torch.Tensor,
    rtol: float,
    max_iter: int,
) -> tuple[torch.Tensor, int]:
    """Jacobi-preconditioned conjugate gradients for an SPD operator, warm-started.

    Solves :math:`\\Lambda x = b` with ``apply(v) = Λv`` and the preconditioner
    :math:`\\operatorname{diag}(\\Lambda)^{-1}`; stops when :math:`\\|b - \\Lambda x\\| \\le
    \\text{rtol}\\,\\|b\\|`. Each iterate lowers :math:`\\tfrac12 x^\\top\\Lambda x - b^\\top x`,
    so a warm-started, early-stopped solve still raises the ELBO of the engines that call it.
    Returns the solution and the iterations used.

    References
    ----------
    .. [1] Y. Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed., SIAM, 2003, §9.2.
    """
    x = x0.clone()
    r = rhs - apply(x)
    target = rtol * float(rhs.norm())
    z = r / diag
    p = z.clone()
    rz = float((r * z).sum())
    for i in range(max_iter):
        if float(r.norm()) <= target:
            return x, i
        ap = apply(p)
        alpha = rz / float((p * ap).sum())
        x = x + alpha * p
        r = r - alpha * ap
        z = r / diag
        rz_new = float((r * z).sum())
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, max_iter
