r"""A Gaussian image prior whose circulant precision is a bank of learned filters.

The trainable Wiener filter (Moskalev 2019; Kruse, Rother & Schmidt 2017 for the FFT-based
stages) regularises with learned filters :math:`g_d` instead of first differences:

.. math::
    \hat x = F^{H}\,\frac{\overline{K}\,F y}{|K|^2 + e^{a} \sum_d |G_d|^2}.

In Bayesian terms that is the posterior mean under the stationary Gaussian prior

.. math::
    p(x \mid \alpha) = \mathcal N\big(x;\ 0,\ (\alpha Q_0)^{-1}\big), \qquad
    Q_0(\omega) = \sum_d |G_d(\omega)|^2 + \varepsilon,

with :math:`G_d` the DFT of :math:`g_d` on the image grid and :math:`e^{a} = \alpha/\gamma`. It is
a :class:`~bayesdeconv.priors.base.CirculantGaussianPrior`, so every closed-form engine applies
unchanged: the exact posterior and evidence, Fourier IVB with :math:`\alpha` and the noise
precision learned, exact sampling. The filters are trained by
:func:`bayesdeconv.training.train_wiener` (supervised, or by the evidence of blurred images
alone); two trained banks ship with the package (``prior="learned-wiener"`` picks one by the
image's dimensionality).

References
----------
.. [1] A. Moskalev, "Trainable regularization for Wiener deconvolution", MSc thesis, Skoltech,
   2019.
.. [2] J. Kruse, C. Rother, U. Schmidt, "Learning to push the limits of efficient FFT-based
   image deconvolution", ICCV 2017.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from bayesdeconv.io.atomic import atomic_write
from bayesdeconv.priors.base import CirculantGaussianPrior
from bayesdeconv.priors.hyper import FixedPrecision, GammaPrior, as_precision

__all__ = ["FILE_FORMAT", "LearnedWienerPrior", "filter_spectrum"]

FILE_FORMAT = "bayesdeconv-learned-wiener-1"
_SHIPPED = {2: "learned_wiener_2d.npz", 3: "learned_wiener_3d.npz"}


def _autocorrelation(filters: torch.Tensor) -> torch.Tensor:
    r""":math:`r(\tau) = \sum_d \sum_u g_d(u + \tau)\, g_d(u)` on :math:`(2s - 1)` offsets."""
    ndim = filters.ndim - 1
    conv = {
        1: torch.nn.functional.conv1d,
        2: torch.nn.functional.conv2d,
        3: torch.nn.functional.conv3d,
    }[ndim]
    size = filters.shape[1:]
    bank = filters.unsqueeze(0)
    return conv(bank, bank, padding=tuple(s - 1 for s in size))[0, 0]


def filter_spectrum(filters: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    r""":math:`\sum_d |G_d(\omega)|^2` on the full ``fftn`` grid of ``shape``; differentiable.

    Computed with one FFT: the filters' summed autocorrelation :math:`r(\tau)` is placed on the
    periodic grid (offsets wrap around, so grids smaller than the filters are exact too) and
    :math:`\sum_d |G_d|^2 = F r`, real because :math:`r` is symmetric.

    Parameters
    ----------
    filters : torch.Tensor
        ``(n_filters, *support)``, one axis of support per image axis.
    shape : tuple of int
        The image grid.
    """
    ndim = len(shape)
    if filters.ndim != ndim + 1:
        raise ValueError(
            f"the filters are {filters.ndim - 1}-D, the image is {ndim}-D; use filters "
            "learned for images of this dimensionality"
        )
    corr = _autocorrelation(filters)
    index = [
        (torch.arange(m, device=filters.device) - (m - 1) // 2) % n
        for m, n in zip(corr.shape, shape, strict=True)
    ]
    grid = torch.zeros(shape, dtype=filters.dtype, device=filters.device)
    grid = grid.index_put(tuple(torch.meshgrid(*index, indexing="ij")), corr, accumulate=True)
    return torch.fft.fftn(grid).real.clamp_min(0.0)


class LearnedWienerPrior(CirculantGaussianPrior):
    r"""Stationary Gaussian prior with a learned filter bank, :math:`Q_0 = \sum_d |G_d|^2 +
    \varepsilon`.

    Parameters
    ----------
    filters : array_like, optional
        ``(n_filters, *support)`` filters (2-D or 3-D support). ``None`` (default): the trained
        bank shipped with the package for the image's dimensionality (photographs for 2-D,
        widefield fluorescence volumes for 3-D), chosen when the prior meets the image.
    precision : float or GammaPrior, optional
        :math:`\alpha` fixed, or its Gamma hyper-prior (default: vague, learned by the
        engines, as for :class:`~bayesdeconv.priors.SmoothPrior`).
    epsilon : float
        :math:`\varepsilon > 0`, the ridge that keeps the prior proper (the zero-mean filters
        leave the image mean free).
    regularisation : float, optional
        :math:`e^{a} = \alpha/\gamma` of a supervised training (informative only; the engines
        learn :math:`\alpha` and :math:`\gamma` from the image).
    description : str
        Where the filters come from (kept in the saved file).

    Notes
    -----
    With :math:`\sum_d |g_d|^2 = D` the mean of :math:`Q_0(\omega)` is :math:`D + \varepsilon`;
    the first-difference bank of :func:`~bayesdeconv.priors.filter_banks.difference_bank` scaled
    by :math:`\sqrt2` is :class:`~bayesdeconv.priors.SmoothPrior` exactly (tested).
    """

    name = "learned-wiener"

    def __init__(
        self,
        filters=None,
        *,
        precision: float | GammaPrior | FixedPrecision | None = None,
        epsilon: float = 1e-3,
        regularisation: float | None = None,
        description: str = "",
    ) -> None:
        epsilon = float(epsilon)
        if not math.isfinite(epsilon) or epsilon <= 0:
            raise ValueError(f"epsilon must be positive and finite, got {epsilon}")
        self.precision = as_precision(precision)
        self.epsilon = epsilon
        self.regularisation = None if regularisation is None else float(regularisation)
        self.description = str(description)
        self._filters = None if filters is None else _check_filters(filters)

    # -- the filters -------------------------------------------------------------------------
    @property
    def filters(self) -> torch.Tensor | None:
        """The filter bank ``(n_filters, *support)``, or ``None`` for the shipped banks."""
        return self._filters

    def filters_for(self, ndim: int) -> torch.Tensor:
        """The bank used on ``ndim``-dimensional images."""
        if self._filters is not None:
            if self._filters.ndim - 1 != ndim:
                raise ValueError(
                    f"the learned filters are {self._filters.ndim - 1}-D but the image is "
                    f"{ndim}-D; train or load filters for {ndim}-D images"
                )
            return self._filters
        return LearnedWienerPrior.shipped(ndim).filters

    @classmethod
    def shipped(cls, ndim: int, **kwargs) -> LearnedWienerPrior:
        """The trained bank shipped for ``ndim``-D images (``scripts/make_learned_wiener.py``)."""
        if ndim not in _SHIPPED:
            raise ValueError(f"learned Wiener filters ship for 2-D and 3-D images, not {ndim}-D")
        path = resources.files("bayesdeconv") / "data" / _SHIPPED[ndim]
        with resources.as_file(path) as file:
            return cls.load(file, **kwargs)

    # -- the spectrum ------------------------------------------------------------------------
    def spectrum(self, shape: tuple[int, ...], *, dtype=torch.float64, device=None):
        """:math:`Q_0(\\omega)` on the full ``fftn`` grid of the latent ``shape`` (cached)."""
        return self._spectrum_and_log_det(shape, dtype, device)[0]

    def log_det(self, shape: tuple[int, ...], *, dtype=torch.float64, device=None) -> float:
        """:math:`\\log|Q_0|` (cached)."""
        return self._spectrum_and_log_det(shape, dtype, device)[1]

    def _spectrum_and_log_det(self, shape, dtype, device) -> tuple[torch.Tensor, float]:
        def compute(grid, on):
            filters = self.filters_for(len(grid)).to(device=on)
            return filter_spectrum(filters, grid) + self.epsilon

        return self._cached_spectrum(shape, dtype, device, compute)

    def diagonal(self, shape: tuple[int, ...]) -> float:
        """Every diagonal entry of :math:`Q_0`:
        :math:`\\sum_d \\lVert g_d\\rVert^2 + \\varepsilon`."""
        return float(self.filters_for(len(shape)).square().sum()) + self.epsilon

    # -- files -------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the bank to ``path`` (``.npz``), atomically."""
        if self._filters is None:
            raise ValueError("this prior uses the shipped filters; there is nothing to save")
        meta = {
            "format": FILE_FORMAT,
            "epsilon": self.epsilon,
            "regularisation": self.regularisation,
            "description": self.description,
        }

        def write(name: str) -> None:
            with open(name, "wb") as handle:
                np.savez(handle, filters=self._filters.numpy(), meta=json.dumps(meta))

        return atomic_write(path, write)

    @classmethod
    def load(cls, path, **kwargs) -> LearnedWienerPrior:
        """Read a bank written by :meth:`save`; ``kwargs`` (e.g. ``precision``) go to the
        constructor. A file that is not such a bank raises ``ValueError`` with its name."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        try:  # any unreadable or malformed file gives one message naming it
            with np.load(path, allow_pickle=False) as archive:
                filters = _check_filters(archive["filters"])
                meta = json.loads(str(archive["meta"]))
            if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
                raise ValueError(f"format {meta!r}")
            options = {
                "epsilon": float(meta["epsilon"]),
                "regularisation": meta.get("regularisation"),
                "description": str(meta.get("description", "")),
            }
        except Exception as error:
            raise ValueError(f"{path} is not a learned Wiener filter file ({error})") from None
        return cls(filters, **{**options, **kwargs})

    def __repr__(self) -> str:
        bank = "shipped" if self._filters is None else f"{tuple(self._filters.shape)} filters"
        return f"LearnedWienerPrior({bank}, precision={self.precision!r}, epsilon={self.epsilon})"


def _check_filters(filters) -> torch.Tensor:
    bank = torch.as_tensor(np.asarray(filters, dtype=np.float64))
    if bank.ndim not in (3, 4) or bank.shape[0] < 1 or min(bank.shape[1:]) < 1:
        raise ValueError(
            "filters must have shape (n_filters, *support) with a 2-D or 3-D support, "
            f"got {tuple(bank.shape)}"
        )
    if not torch.isfinite(bank).all():
        raise ValueError("filters contain NaN or Inf")
    if float(bank.square().sum()) == 0:
        raise ValueError("filters are all zero")
    return bank
