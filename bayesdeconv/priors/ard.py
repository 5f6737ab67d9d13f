"""Sparse-gradient image priors: Gaussian differences with per-difference Gamma precisions (ARD).

.. math::
    (D_d x)_p \\mid w_{dp} \\sim \\mathcal N(0, w_{dp}^{-1}), \\qquad
    w_{dp} \\sim \\mathrm{Gamma}(a, b),

for every pixel :math:`p` and axis :math:`d` (circular first differences on the latent grid).
Integrating :math:`w_{dp}` out gives a Student-t on each difference,

.. math::
    p\\big((D_d x)_p\\big) = \\mathrm{St}\\big(0,\\ \\nu = 2a,\\ s^2 = b / a\\big),

so the prior favours images whose gradients are mostly zero with a few large jumps. Given the
precisions the prior is Gaussian, which keeps it conjugate for variational Bayes: the engines
update :math:`q(w_{dp}) = \\mathrm{Gamma}(a + \\tfrac12,\\ b + \\tfrac12\\mathbb E[(D_d x)_p^2])`
in closed form. The product of difference factors is not normalisable in :math:`x` (the
differences over-determine the image); as usual for such priors [1]_, [2]_ the density is used
up to that constant, which does not depend on any variational parameter.

References
----------
.. [1] S. D. Babacan, R. Molina, M. N. Do, A. K. Katsaggelos, "Bayesian blind deconvolution with
   general sparse image priors", ECCV 2012.
.. [2] M. E. Tipping, "Sparse Bayesian learning and the relevance vector machine", JMLR 1, 2001.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bayesdeconv.priors.base import GaussianScaleMixturePrior
from bayesdeconv.priors.differences import (
    difference_diagonal,
    differences,
    differences_adjoint,
)

__all__ = [
    "BLIND_SPARSE_SCALE",
    "SPARSE_SCALE",
    "GradientARDPrior",
    "difference_diagonal",
    "differences",
    "differences_adjoint",
    "piecewise",
    "sparse",
]


@dataclass(frozen=True)
class GradientARDPrior(GaussianScaleMixturePrior):
    """Per-difference Gamma-precision (ARD) prior on image gradients.

    Parameters
    ----------
    shape, rate : float
        :math:`a` and :math:`b` of the Gamma prior on every difference precision. The marginal of
        a difference is Student-t with :math:`\\nu = 2a` degrees of freedom and scale
        :math:`\\sqrt{b/a}`; small :math:`a` means heavy tails.
    epsilon : float
        A ridge :math:`\\tfrac\\varepsilon2\\|x\\|^2` that pins the image mean (the differences
        leave it free); tiny compared with any data term.
    name : str
        Label used in results and reports.
    offsets : tuple of tuple of int, optional
        Difference offsets; default one unit step per image axis.
    integrate : bool
        How the Pyro model expresses the precisions: integrated out (Student-t factor, the
        default for SVI) or as explicit ``gradient_precision`` sites (the model IVB fits).

    See Also
    --------
    piecewise, sparse : the two presets.
    """

    shape: float = 0.5
    rate: float = 5e-5
    epsilon: float = 1e-6
    name: str = "sparse"
    offsets: tuple[tuple[int, ...], ...] | None = None
    integrate: bool = True

    def __post_init__(self) -> None:
        for label in ("shape", "rate", "epsilon"):
            value = getattr(self, label)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive finite number, got {value}")


def piecewise(**overrides) -> GradientARDPrior:
    """Piecewise-constant preset: nearly scale-free Gamma (:math:`a = 10^{-3}`,
    :math:`b = 10^{-7}`), i.e. a Student-t with :math:`\\nu = 0.002`, close to the log prior
    :math:`p(t) \\propto 1/|t|` that drives most differences to zero."""
    return GradientARDPrior(**{"shape": 1e-3, "rate": 1e-7, "name": "piecewise", **overrides})


SPARSE_SCALE = 0.01
"""Gradient scale of the :func:`sparse` preset with a known PSF ([0, 1] intensities)."""
BLIND_SPARSE_SCALE = 0.02
"""Gradient scale of the :func:`sparse` preset in blind deconvolution (``deconvolve`` with
``psf=None``); why: ``docs/decisions/0001-blind-gradient-scale.md``."""


def sparse(scale: float = SPARSE_SCALE, **overrides) -> GradientARDPrior:
    """Natural-image preset: Student-t gradients with :math:`\\nu = 1` (Cauchy) and scale
    ``scale`` on a [0, 1] intensity scale (:math:`a = 0.5`, :math:`b = a\\,\\mathrm{scale}^2`;
    :math:`b = 5\\cdot10^{-5}` for the default 0.01), a heavy-tailed fit to the gradient
    statistics of natural images. Blind deconvolution uses ``BLIND_SPARSE_SCALE`` (0.02)."""
    number = isinstance(scale, (int, float)) and not isinstance(scale, bool)
    if not (number and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    shape = overrides.pop("shape", 0.5)
    rate = overrides.pop("rate", shape * scale**2)
    return GradientARDPrior(**{"shape": shape, "rate": rate, "name": "sparse", **overrides})
