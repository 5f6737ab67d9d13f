r"""The extreme-channel image prior: dark and bright channels pulled towards 0 and 1.

Blur averages a pixel with its neighbours, so it raises the smallest value of every window
and lowers the largest. Pan et al. [1]_ observed that the *dark channel* of a sharp natural
image,

.. math::
    D(x)(p) = \min_{q \in N(p)} x(q),

(:math:`N(p)` the window of :math:`w \times w` pixels, or :math:`w \times w \times w` voxels,
anchored at :math:`p`) is mostly zero, and much less so after blur; Yan et al. [2]_ added the
*bright channel* :math:`B(x)(p) = \max_{q \in N(p)} x(q)`, mostly one on a sharp image with
bright regions. They penalise :math:`\|D(x)\|_0` and :math:`\|1 - B(x)\|_0` inside a MAP
kernel search. :class:`ExtremeChannelPrior` turns the two terms into a factor of a Bayesian
image prior, with the :math:`\ell_0` terms relaxed to :math:`\ell_1` (Laplace) ones:

.. math::
    \log \phi(x) = -\lambda_d \sum_p |D(x)(p)| - \lambda_b \sum_p |1 - B(x)(p)|,
    \qquad p(x) \propto p_{\mathrm{base}}(x)\, \phi(x),

multiplying a base image prior (by default the ``sparse`` gradient preset,
:func:`~bayesdeconv.priors.sparse`). The sums run over the *valid* windows only (every
window inside the latent grid, :math:`n - w + 1` per axis of length :math:`n`), so the border
is neither padded nor wrapped. The channels are computed by max pooling with stride 1
(:math:`\min = -\max(-\cdot)`), whose autograd gradient reaches the arg-min (arg-max) pixel
of each window: a subgradient of :math:`\log\phi`, which is piecewise linear. That is all the
tracing engines (SVI, MAP, Vadam) need; the factor is not conjugate to anything, so the
closed-form engines (IVB, Gibbs) refuse the prior.

The channels are those of a grayscale image (one channel; Pan et al. also take the minimum
over the colour channels) and they assume intensities in [0, 1] (dark 0, bright 1): scale
the data to that range first.

References
----------
.. [1] J. Pan, D. Sun, H. Pfister, M.-H. Yang, "Blind image deblurring using dark channel
   prior", CVPR 2016.
.. [2] Y. Yan, W. Ren, Y. Guo, R. Wang, X. Cao, "Image deblurring via extreme channels
   prior", CVPR 2017.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pyro
import torch
from torch.nn import functional

from bayesdeconv import sites
from bayesdeconv.priors.base import ImagePrior
from bayesdeconv.priors.hyper import Precision

__all__ = [
    "DEFAULT_BRIGHT_WEIGHT",
    "DEFAULT_DARK_WEIGHT",
    "DEFAULT_WINDOW",
    "ExtremeChannelPrior",
    "bright_channel",
    "dark_channel",
]

DEFAULT_WINDOW = 5
"""Side of the default window (pixels); why: ``docs/decisions/0018-extreme-channel-weights.md``."""
DEFAULT_DARK_WEIGHT = 1.0
"""Default :math:`\\lambda_d` ([0, 1] intensities); why: decision 0018."""
DEFAULT_BRIGHT_WEIGHT = 1.0
"""Default :math:`\\lambda_b` ([0, 1] intensities); why: decision 0018."""


def _pool(x: torch.Tensor, window: int, ndim: int) -> torch.Tensor:
    """The maximum of ``x`` over every valid ``window``-sided window of its last ``ndim``
    axes (stride 1, no padding); leading axes are batch."""
    if ndim not in (2, 3):
        raise ValueError(f"extreme channels are defined for 2-D and 3-D images, got {ndim}-D")
    spatial = tuple(x.shape[-ndim:])
    if min(spatial) < window:
        raise ValueError(f"an image of shape {spatial} holds no {window}-pixel window")
    lead = tuple(x.shape[:-ndim])
    flat = x.reshape(-1, 1, *spatial)
    pool = functional.max_pool2d if ndim == 2 else functional.max_pool3d
    out = pool(flat, kernel_size=window, stride=1)
    return out.reshape(*lead, *out.shape[-ndim:])


def dark_channel(x: torch.Tensor, window: int, ndim: int | None = None) -> torch.Tensor:
    r"""The dark channel :math:`D(x)(p) = \min_{q \in N(p)} x(q)` on the valid windows.

    Parameters
    ----------
    x : torch.Tensor
        The image; its last ``ndim`` axes are spatial (2 or 3), any leading axes batch.
    window : int
        Side of the (square or cubic) window.
    ndim : int, optional
        Spatial dimensions (default: ``x.ndim``).

    Returns
    -------
    torch.Tensor
        Shape ``(*batch, n_1 - w + 1, ..., n_d - w + 1)``.
    """
    ndim = x.ndim if ndim is None else ndim
    return -_pool(-x, window, ndim)


def bright_channel(x: torch.Tensor, window: int, ndim: int | None = None) -> torch.Tensor:
    r"""The bright channel :math:`B(x)(p) = \max_{q \in N(p)} x(q)` on the valid windows;
    arguments and shape as :func:`dark_channel`."""
    ndim = x.ndim if ndim is None else ndim
    return _pool(x, window, ndim)


def _weight(name: str, value: float) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


class ExtremeChannelPrior(ImagePrior):
    r"""A base image prior times the extreme-channel factor :math:`\phi(x)` (module
    documentation).

    .. math::
        \log \phi(x) = -\lambda_d \sum_p |D(x)(p)| - \lambda_b \sum_p |1 - B(x)(p)|.

    :meth:`sample` lets the base prior emit the image site ``image`` and its own sites, then
    adds the factor ``extreme_channel`` (:data:`bayesdeconv.sites.EXTREME_CHANNEL`). It is a
    log-density prior only: it does not inherit the base's closed-form capabilities, so
    ``method="ivb"`` and ``"gibbs"`` refuse it and SVI, MAP and Vadam fit it.

    Parameters
    ----------
    base : ImagePrior, optional
        The prior the factor multiplies; default :func:`~bayesdeconv.priors.sparse` (Student-t
        gradients of scale 0.01).
    window : int
        Side :math:`w` of the window :math:`N(p)` (odd, at least 3): squares in 2-D, cubes in
        3-D. Every axis of the latent grid must be at least this long.
    dark_weight : float
        :math:`\lambda_d \ge 0`: the rate of the Laplace factor on each window's minimum (an
        intensity on the [0, 1] scale), i.e. each window's dark value costs :math:`\lambda_d`
        nats per unit of intensity; 0 switches the dark term off. Overlapping windows share
        their arg-min pixel, so a pixel that is the minimum of :math:`m` windows is pulled
        towards 0 with :math:`m \lambda_d` (up to :math:`w^d \lambda_d`).
    bright_weight : float
        :math:`\lambda_b \ge 0`: the same for :math:`1 - B(x)`, the distance of each window's
        maximum from white.

    Notes
    -----
    Pan et al. [1]_ and Yan et al. [2]_ penalise the number of non-zero entries
    (:math:`\ell_0`); the :math:`\ell_1` relaxation used here is a proper log-density term
    with a subgradient everywhere, and a Laplace factor has the same sparsity-promoting
    corner at zero. The defaults (``window=5``, :math:`\lambda_d = \lambda_b = 1`) come from
    non-blind MAP runs on a blurred photograph (``docs/decisions/0018-extreme-channel-
    weights.md``).

    References
    ----------
    .. [1] J. Pan, D. Sun, H. Pfister, M.-H. Yang, "Blind image deblurring using dark channel
       prior", CVPR 2016.
    .. [2] Y. Yan, W. Ren, Y. Guo, R. Wang, X. Cao, "Image deblurring via extreme channels
       prior", CVPR 2017.
    """

    name = "extreme-channel"

    def __init__(
        self,
        base: ImagePrior | None = None,
        *,
        window: int = DEFAULT_WINDOW,
        dark_weight: float = DEFAULT_DARK_WEIGHT,
        bright_weight: float = DEFAULT_BRIGHT_WEIGHT,
    ) -> None:
        if base is None:
            from bayesdeconv.priors.ard import sparse

            base = sparse()
        if not isinstance(base, ImagePrior):
            raise TypeError(f"base must be an ImagePrior, got {type(base).__name__}")
        if isinstance(window, bool) or not isinstance(window, int):
            raise ValueError(f"window must be an odd integer >= 3, got {window!r}")
        if window < 3 or window % 2 == 0:
            raise ValueError(f"window must be an odd integer >= 3, got {window}")
        self.base = base
        self.window = int(window)
        self.dark_weight = _weight("dark_weight", dark_weight)
        self.bright_weight = _weight("bright_weight", bright_weight)

    def log_factor(self, x: torch.Tensor, ndim: int) -> torch.Tensor:
        r""":math:`\log\phi(x)` summed over the last ``ndim`` axes (leading axes batch)."""
        dims = tuple(range(-ndim, 0))
        total = x.new_zeros(x.shape[:-ndim])
        if self.dark_weight:
            dark = dark_channel(x, self.window, ndim)
            total = total - self.dark_weight * dark.abs().sum(dims)
        if self.bright_weight:
            bright = bright_channel(x, self.window, ndim)
            total = total - self.bright_weight * (1.0 - bright).abs().sum(dims)
        return total

    def sample(self, shape, *, dtype, device) -> torch.Tensor:
        shape = tuple(shape)
        x = self.base.sample(shape, dtype=dtype, device=device)
        pyro.factor(sites.EXTREME_CHANNEL, self.log_factor(x, len(shape)))
        return x

    # -- the base's hooks ----------------------------------------------------------------------
    def hyperparameters(self) -> dict[str, Precision]:
        return self.base.hyperparameters()

    def initial_values(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.base.initial_values(image)

    def initial_scales(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.base.initial_scales(image)

    def check_model(self, model) -> None:
        if model.ndim not in (2, 3):
            raise ValueError(
                f"the extreme-channel prior is for 2-D and 3-D images, got a {model.ndim}-D image"
            )
        if min(model.latent_shape) < self.window:
            raise ValueError(
                f"the extreme-channel window ({self.window} pixels) is larger than the latent "
                f"grid {tuple(model.latent_shape)}; pass a smaller window"
            )
        self.base.check_model(model)

    def with_hyperparameters(self, values: Mapping[str, float]) -> ExtremeChannelPrior:
        return ExtremeChannelPrior(
            self.base.with_hyperparameters(values),
            window=self.window,
            dark_weight=self.dark_weight,
            bright_weight=self.bright_weight,
        )

    def __repr__(self) -> str:
        return (
            f"ExtremeChannelPrior({self.base!r}, window={self.window}, "
            f"dark_weight={self.dark_weight:g}, bright_weight={self.bright_weight:g})"
        )
