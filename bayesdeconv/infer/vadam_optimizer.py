"""Vadam: variational Adam by weight perturbation (Khan et al. 2018)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

__all__ = ["Vadam"]


class Vadam(torch.optim.Optimizer):
    """Adam whose iterates are the mean of a diagonal Gaussian posterior.

    Each :meth:`step` perturbs the parameters, evaluates the loss gradient there and updates a
    mean :math:`\\mu` and a second moment :math:`s` (Khan et al. 2018, Fig. 1):

    .. math::
        \\theta = \\mu + \\varepsilon \\odot \\sigma, \\quad
        \\sigma = (N s + \\lambda)^{-1/2}, \\quad \\varepsilon \\sim \\mathcal N(0, I), \\\\
        g = \\tfrac1S \\sum_{k=1}^S \\nabla \\ell(\\theta_k), \\quad
        m \\leftarrow \\beta_1 m + (1 - \\beta_1)\\big(g + \\tfrac{\\lambda}{N}\\mu\\big), \\quad
        s \\leftarrow \\beta_2 s + (1 - \\beta_2)\\, g \\odot g, \\\\
        \\hat m = \\frac{m}{1 - \\beta_1^t}, \\quad \\hat s = \\frac{s}{1 - \\beta_2^t}, \\quad
        \\mu \\leftarrow \\mu - \\alpha\\, \\frac{\\hat m}{\\sqrt{\\hat s} + \\lambda / N},

    where :math:`\\ell` is the average negative log-likelihood per data point, :math:`N` the
    number of data points and :math:`\\lambda` the precision of an isotropic Gaussian prior
    :math:`\\mathcal N(0, \\lambda^{-1} I)`. The posterior approximation is
    :math:`q(\\theta) = \\mathcal N(\\mu, \\operatorname{diag}(N s + \\lambda)^{-1})`.

    Parameters
    ----------
    params : iterable of torch.Tensor
        The means :math:`\\mu` (updated in place; they hold :math:`\\mu` between steps).
    lr : float
        Step size :math:`\\alpha`.
    betas : (float, float)
        :math:`\\beta_1, \\beta_2`.
    num_data : float
        :math:`N`.
    prior_precision : float
        :math:`\\lambda \\ge 0`; ``0`` when the loss already contains the whole prior.
    init_precision : float or torch.Tensor
        Starting posterior precision :math:`N s_0 + \\lambda > \\lambda`: a number, or a tensor
        broadcastable to every parameter (e.g. a known curvature diagonal).
    num_samples : int
        Perturbations :math:`S` averaged per step.
    eps : float
        Added to the denominator of the mean update, as in Adam, for numerical safety.

    Notes
    -----
    ``step`` needs a closure that zeroes the gradients, evaluates the loss at the current
    (perturbed) parameter values, calls ``backward`` and returns the loss; it is called
    ``num_samples`` times. The parameters are restored to :math:`\\mu` before the update.

    References
    ----------
    .. [1] M. E. Khan, D. Nielsen, V. Tangkaratt, W. Lin, Y. Gal, A. Srivastava, "Fast and
       scalable Bayesian deep learning by weight-perturbation in Adam", ICML 2018,
       arXiv:1806.04854.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        num_data: float = 1.0,
        prior_precision: float = 0.0,
        init_precision: float | torch.Tensor = 1.0,
        num_samples: int = 1,
        eps: float = 1e-8,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        if not num_data > 0:
            raise ValueError(f"num_data must be positive, got {num_data}")
        if not prior_precision >= 0:
            raise ValueError(f"prior_precision must be non-negative, got {prior_precision}")
        if not float(torch.as_tensor(init_precision).min()) > prior_precision:
            raise ValueError("init_precision must exceed prior_precision")
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "num_data": float(num_data),
            "prior_precision": float(prior_precision),
            "init_precision": (
                init_precision.detach().clone()
                if torch.is_tensor(init_precision)
                else float(init_precision)
            ),
            "num_samples": int(num_samples),
            "eps": float(eps),
        }
        super().__init__(params, defaults)

    def _state(self, p: torch.Tensor, group: dict) -> dict:
        state = self.state[p]
        if not state:
            n, lam = group["num_data"], group["prior_precision"]
            state["step"] = 0
            state["m"] = torch.zeros_like(p)
            init = torch.as_tensor(group["init_precision"], dtype=p.dtype, device=p.device)
            state["s"] = ((init - lam) / n).expand_as(p).clone()
        return state

    def precision(self, p: torch.Tensor) -> torch.Tensor:
        """Posterior precision :math:`N s + \\lambda` of parameter ``p`` (its Gaussian factor)."""
        group = next(g for g in self.param_groups if any(q is p for q in g["params"]))
        state = self._state(p, group)
        return group["num_data"] * state["s"] + group["prior_precision"]

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> float:  # type: ignore[override]
        """One Vadam update; returns the loss averaged over the perturbations."""
        if closure is None:
            raise ValueError("Vadam needs a closure that re-evaluates the loss")
        params = [p for g in self.param_groups for p in g["params"]]
        means = [p.detach().clone() for p in params]
        grads = [torch.zeros_like(p) for p in params]
        scales = []
        for group in self.param_groups:
            for p in group["params"]:
                scales.append(self.precision(p).clamp_min(1e-30).rsqrt())
        num_samples = self.param_groups[0]["num_samples"]
        total = 0.0
        for _ in range(num_samples):
            for p, mu, sigma in zip(params, means, scales, strict=True):
                p.copy_(mu + sigma * torch.randn_like(p))
            with torch.enable_grad():
                loss = closure()
            total += float(loss)
            for p, g in zip(params, grads, strict=True):
                if p.grad is not None:
                    g.add_(p.grad)
        i = 0
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            ratio = group["prior_precision"] / group["num_data"]
            for p in group["params"]:
                mu, g = means[i], grads[i] / num_samples
                i += 1
                state = self._state(p, group)
                state["step"] += 1
                t = state["step"]
                state["m"].mul_(beta1).add_(g + ratio * mu, alpha=1 - beta1)
                state["s"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat = state["m"] / (1 - beta1**t)
                s_hat = state["s"] / (1 - beta2**t)
                p.copy_(mu - group["lr"] * m_hat / (s_hat.sqrt() + ratio + group["eps"]))
        return total / num_samples
