"""Linear solvers shared by the closed-form engines."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["batched_pcg", "jacobi_pcg", "lbfgs_minimise", "pcg"]


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


def _norm(v: torch.Tensor) -> float:
    return float(v.norm())


def pcg(
    apply: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    x0: torch.Tensor,
    precondition: Callable[[torch.Tensor], torch.Tensor],
    *,
    rtol: float,
    max_iter: int,
    inner: Callable[[torch.Tensor, torch.Tensor], float] = _dot,
    norm: Callable[[torch.Tensor], float] = _norm,
) -> tuple[torch.Tensor, int]:
    """Preconditioned conjugate gradients for an SPD operator, warm-started.

    Solves :math:`\\Lambda x = b` with ``apply(v) = Λv`` and ``precondition(r) ≈ Λ⁻¹r``;
    ``inner`` and ``norm`` define the inner product (e.g. Parseval's on half spectra, so the
    iterates can live in Fourier space). Stops when :math:`\\|b - \\Lambda x\\| \\le
    \text{rtol}\\,\\|b\\|`. Each iterate lowers :math:`\tfrac12 x^\top\\Lambda x - b^\top x`, so
    a warm-started, early-stopped solve still raises the ELBO of the engines that call it.
    Returns the solution and the iterations used.

    References
    ----------
    .. [1] Y. Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed., SIAM, 2003, §9.2.
    """
    x = x0.clone()
    r = rhs - apply(x)
    target = rtol * norm(rhs)
    z = precondition(r)
    p = z.clone()
    rz = inner(r, z)
    for i in range(max_iter):
        if norm(r) <= target:
            return x, i
        ap = apply(p)
        alpha = rz / inner(p, ap)
        x = x + alpha * p
        r = r - alpha * ap
        z = precondition(r)
        rz_new = inner(r, z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, max_iter


def jacobi_pcg(
    apply: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    x0: torch.Tensor,
    diag: torch.Tensor,
    rtol: float,
    max_iter: int,
) -> tuple[torch.Tensor, int]:
    """:func:`pcg` with the Jacobi preconditioner :math:`\\operatorname{diag}(\\Lambda)^{-1}`
    (``diag``) and the Euclidean inner product."""
    return pcg(apply, rhs, x0, lambda r: r / diag, rtol=rtol, max_iter=max_iter)


def batched_pcg(
    apply: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    x0: torch.Tensor,
    precondition: Callable[[torch.Tensor], torch.Tensor],
    *,
    rtol: float,
    max_iter: int,
    inner: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, int]:
    r""":func:`pcg` for a batch of independent right-hand sides, solved together.

    ``rhs`` and ``x0`` have a leading batch axis; ``apply`` and ``precondition`` act on the
    whole batch (one batched FFT pair instead of one per system), and ``inner(a, b)`` returns
    the per-system inner products with the batch axis kept and the others of size 1, so the
    step sizes broadcast. Each system takes its own CG steps; a system that has converged
    (:math:`\|b_s - \Lambda x_s\| \le \text{rtol}\,\|b_s\|`) keeps its solution while
    the others go on. Returns the solutions and the iterations of the slowest system.
    """
    target = rtol * inner(rhs, rhs).sqrt()
    x = torch.where(target > 0, x0, torch.zeros_like(x0))  # a zero right-hand side: x = 0
    r = torch.where(target > 0, rhs - apply(x), torch.zeros_like(rhs))
    z = precondition(r)
    p = z.clone()
    rz = inner(r, z)
    for i in range(max_iter):
        active = inner(r, r).sqrt() > target
        if not bool(active.any()):
            return x, i
        ap = apply(p)
        curvature = inner(p, ap)
        step = torch.where(active, rz / torch.where(active, curvature, 1.0), 0.0)
        x = x + step * p
        r = r - step * ap
        z = precondition(r)
        rz_new = inner(r, z)
        p = z + torch.where(active, rz_new / torch.where(active, rz, 1.0), 0.0) * p
        rz = torch.where(active, rz_new, rz)
    return x, max_iter


def lbfgs_minimise(
    objective: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    start: dict[str, torch.Tensor],
    *,
    max_iter: int,
    require_decrease: bool = False,
) -> dict[str, torch.Tensor]:
    """Minimise ``objective(params)`` over a dict of tensors by L-BFGS (strong Wolfe).

    Returns ``start`` unchanged when the line search fails, the result or its objective is
    not finite, or (``require_decrease``) the objective did not go down.
    """
    params = {k: v.detach().clone().requires_grad_(True) for k, v in start.items()}
    optimiser = torch.optim.LBFGS(
        list(params.values()), max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        value = objective(params)
        value.backward()
        return value

    try:
        optimiser.step(closure)
    except (RuntimeError, ValueError):  # pragma: no cover - a failed line search
        return start
    out = {k: v.detach() for k, v in params.items()}
    if not all(bool(torch.isfinite(v).all()) for v in out.values()):  # pragma: no cover
        return start
    with torch.no_grad():
        value = float(objective(out))
        if not math.isfinite(value):  # pragma: no cover
            return start
        if require_decrease and value > float(objective(start)):
            return start
    return out
