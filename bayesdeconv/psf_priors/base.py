r"""The PSF-prior protocol and the conjugate ARD capability.

A :class:`PSFPrior` makes the PSF a latent variable on a fixed odd support: its
:meth:`~PSFPrior.sample` emits the ``psf`` site (and any site of its own) inside a Pyro model.
The constraint on the PSF (non-negative, unit sum) belongs to the prior, not to the engines:
:meth:`~PSFPrior.project` maps a mean onto the support's feasible set after a stochastic step,
and :meth:`~PSFPrior.minimise_quadratic` solves the constrained quadratic programme of IVB's
closed-form update. :class:`ConjugateGaussianPSFPrior` declares independent Gaussian values
with Gamma (ARD) precisions, which IVB updates in closed form.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from bayesdeconv import sites
from bayesdeconv.priors.hyper import conjugate_gamma
from bayesdeconv.psf_priors.simplex import minimise_on_simplex, project_simplex

__all__ = ["ConjugateGaussianPSFPrior", "PSFPrior", "check_psf_size"]


def check_psf_size(psf_size, image_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Validate a PSF support: odd, at least 3, at most the image, one size per image axis.

    An int means a square (cubic) support. Raises ``ValueError`` with the reason otherwise.
    """
    ndim = len(image_shape)
    if isinstance(psf_size, int | float) and not isinstance(psf_size, bool):
        sizes = (psf_size,) * ndim
    else:
        try:
            sizes = tuple(psf_size)
        except TypeError:
            message = f"psf_size must be an int or a tuple of ints, got {psf_size!r}"
            raise ValueError(message) from None
    if len(sizes) != ndim:
        raise ValueError(f"psf_size {sizes} has {len(sizes)} axes but the image has {ndim}")
    out = []
    for s, n in zip(sizes, image_shape, strict=True):
        if isinstance(s, bool) or int(s) != s:
            raise ValueError(f"psf_size must hold integers, got {s!r}")
        s = int(s)
        if s < 3:
            raise ValueError(f"psf_size must be at least 3, got {s}")
        if s % 2 == 0:
            raise ValueError(
                f"psf_size must be odd so that the PSF is centred on a pixel, got {s}; use {s + 1}"
            )
        if s > n:
            raise ValueError(f"psf_size {s} is larger than the image axis of length {n}")
        out.append(s)
    return tuple(out)


class PSFPrior(ABC):
    """A prior on an unknown PSF of a fixed odd support ``size``.

    Subclasses set ``size`` and implement :meth:`sample` and :meth:`resized`. The default
    support is the probability simplex (non-negative, unit sum).
    """

    size: tuple[int, ...]

    parametric: bool = False
    """Capability: the PSF is a deterministic function of named parameter sites
    (:class:`~bayesdeconv.psf_priors.ParametricPSFPrior`), so the ``psf`` site is a
    ``pyro.deterministic`` and engines that update PSF values (projection, closed form) do
    not apply."""

    @property
    def parameter_sites(self) -> tuple[str, ...]:
        """Sample sites of the PSF's parameters (none for a prior on the PSF values)."""
        return ()

    def initial_sites(self, *, dtype, device) -> dict[str, torch.Tensor]:
        """Starting values of the prior's latent sites by name (constrained space)."""
        return {sites.PSF: self.initial_value(dtype=dtype, device=device)}

    @abstractmethod
    def sample(self, *, dtype: torch.dtype, device) -> torch.Tensor:
        """Emit the PSF's sample sites; return the PSF (site :data:`~bayesdeconv.sites.PSF`)."""

    @abstractmethod
    def resized(self, size: tuple[int, ...]) -> PSFPrior:
        """The same prior on another support (coarse levels of a pyramid)."""

    def reset(self, *, seed: int, dtype: torch.dtype, device) -> None:  # noqa: B027
        """Draw fresh random state before a restart (a generator network's weights); the
        priors on PSF values have none."""

    @property
    def numel(self) -> int:
        return math.prod(self.size)

    def project(self, psf: torch.Tensor) -> torch.Tensor:
        """The nearest feasible PSF (Euclidean projection onto the simplex)."""
        return project_simplex(psf)

    def minimise_quadratic(
        self, a: torch.Tensor, b: torch.Tensor, start: torch.Tensor, iters: int
    ) -> torch.Tensor:
        """:math:`\\arg\\min_{k \\text{ feasible}} \\tfrac12 k^\\top A k - b^\\top k`."""
        return minimise_on_simplex(a, b, start, iters)

    def initial_value(self, *, dtype, device) -> torch.Tensor:
        """A feasible start: a centred delta with a floor (close to no blur)."""
        psf = torch.zeros(self.size, dtype=dtype, device=device)
        psf[tuple(s // 2 for s in self.size)] = 1.0
        psf = psf + 0.1 / psf.numel()
        return psf / psf.sum()


class ConjugateGaussianPSFPrior(PSFPrior):
    r"""Capability: independent Gaussian PSF values with Gamma (ARD) precisions.

    .. math::
        k_j \mid \beta_j \sim \mathcal N(0, \beta_j^{-1}), \qquad
        \beta_j \sim \mathrm{Gamma}(a, b),

    so IVB updates :math:`q(\beta_j) = \mathrm{Gamma}(a + \tfrac12, b + \tfrac12\mathbb E
    k_j^2)` and :math:`q(k)` in closed form. Set ``shape`` (:math:`a`) and ``rate``
    (:math:`b`).
    """

    shape: float
    rate: float

    def expected_precision(self, second_moment: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:math:`q(\\beta_j) = \\mathrm{Gamma}(a + \\tfrac12, b + \\tfrac12\\mathbb E k_j^2)`;
        returns ``(E beta, rate)``."""
        shape, rate = conjugate_gamma(self.shape, self.rate, 1.0, second_moment)
        return shape / rate, rate
