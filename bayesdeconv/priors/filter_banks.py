r"""Regularising filter banks: zero-mean, unit-norm filters and the dictionaries they start from.

A learned Wiener prior (:class:`~bayesdeconv.priors.learned_wiener.LearnedWienerPrior`) is a
bank of small filters :math:`g_d`. Every filter is kept zero-mean and of unit norm by the
reparameterisation of Salimans & Kingma (weight normalisation), as in the trainable Wiener
filters of Moskalev (2019):

.. math::
    g_d = \frac{v_d - \bar v_d}{\lVert v_d - \bar v_d \rVert},

so the free parameters :math:`v_d` move the filters' directions only; the overall weight of the
regulariser is the prior precision :math:`\alpha`. The dictionaries below are the starting
points of training: the DCT-II basis without its constant atom, Gabor filters, and first
differences (the smooth prior's filters).

References
----------
.. [1] T. Salimans, D. P. Kingma, "Weight normalization: a simple reparameterization to
   accelerate training of deep neural networks", NeurIPS 2016.
.. [2] A. Moskalev, "Trainable regularization for Wiener deconvolution", MSc thesis, Skoltech,
   2019.
"""

from __future__ import annotations

import itertools
import math

import torch

__all__ = ["BANKS", "dct_bank", "difference_bank", "filter_bank", "gabor_bank", "normalise_filters"]

BANKS = ("dct", "gabor", "differences", "random")


def normalise_filters(raw: torch.Tensor, ndim: int) -> torch.Tensor:
    r"""Zero-mean, unit-norm filters :math:`(v - \bar v)/\lVert v - \bar v\rVert`.

    ``raw`` has shape ``(n_filters, *support)`` with ``ndim`` support axes; differentiable.
    """
    dims = tuple(range(-ndim, 0))
    centred = raw - raw.mean(dims, keepdim=True)
    norm = centred.square().sum(dims, keepdim=True).sqrt()
    return centred / norm.clamp_min(torch.finfo(raw.dtype).tiny)


def _support(support: int | tuple[int, ...], ndim: int) -> tuple[int, ...]:
    size = (int(support),) * ndim if isinstance(support, int) else tuple(int(s) for s in support)
    if len(size) != ndim or any(s < 2 for s in size):
        raise ValueError(f"filter support must be {ndim} sizes of at least 2, got {support}")
    return size


def dct_bank(support: int | tuple[int, ...], ndim: int = 2) -> torch.Tensor:
    r"""The separable DCT-II basis of the support without its constant atom.

    :math:`\prod_a \cos\big(\pi (n_a + \tfrac12) k_a / s_a\big)` for every frequency
    :math:`k \ne 0`: :math:`\prod_a s_a - 1` orthogonal zero-mean filters.
    """
    size = _support(support, ndim)
    axes = [torch.arange(s, dtype=torch.float64) + 0.5 for s in size]
    atoms = []
    for freq in itertools.product(*(range(s) for s in size)):
        if not any(freq):
            continue
        atom = torch.ones((), dtype=torch.float64)
        for axis, (k, n) in enumerate(zip(freq, axes, strict=True)):
            view = [1] * ndim
            view[axis] = -1
            atom = atom * torch.cos(math.pi * n * k / size[axis]).reshape(view)
        atoms.append(atom)
    return normalise_filters(torch.stack(atoms), ndim)


def _directions(count: int, ndim: int) -> torch.Tensor:
    """``count`` unit vectors spread over a half-circle (2-D) or a half-sphere (3-D)."""
    if ndim == 2:
        theta = torch.arange(count, dtype=torch.float64) * (math.pi / count)
        return torch.stack([torch.sin(theta), torch.cos(theta)], dim=1)
    # Fibonacci points on the upper half-sphere, axes (z, y, x)
    i = torch.arange(count, dtype=torch.float64) + 0.5
    z = 1.0 - i / count
    r = (1.0 - z**2).sqrt()
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    return torch.stack([z, r * torch.sin(phi), r * torch.cos(phi)], dim=1)


def gabor_bank(
    support: int | tuple[int, ...], ndim: int = 2, count: int = 24, *, seed: int = 0
) -> torch.Tensor:
    r"""Gabor filters :math:`\cos(2\pi f\, u\cdot r + \phi)\, e^{-|r|^2/2\sigma^2}`.

    Orientations :math:`u` spread evenly (2-D) or over a half-sphere (3-D), two frequencies
    (:math:`f = 1/4` and :math:`1/2` cycles per pixel), phases :math:`0` and :math:`\pi/2`,
    :math:`\sigma` a third of the support; then made zero-mean and unit-norm. ``seed`` is kept for
    interface symmetry with random banks (the bank is deterministic).
    """
    del seed
    size = _support(support, ndim)
    grids = torch.meshgrid(
        *(torch.arange(s, dtype=torch.float64) - (s - 1) / 2 for s in size), indexing="ij"
    )
    r = torch.stack(grids, dim=-1)
    sigma = max(size) / 3.0
    envelope = torch.exp(-(r**2).sum(-1) / (2 * sigma**2))
    n_dir = max(1, math.ceil(count / 4)) + 2  # spare directions replace null atoms
    atoms = []
    for u in _directions(n_dir, ndim):
        proj = (r * u).sum(-1)
        for f, phase in itertools.product((0.25, 0.5), (0.0, math.pi / 2)):
            atoms.append(torch.cos(2 * math.pi * f * proj + phase) * envelope)
    bank = torch.stack(atoms)
    # a sine at f = 1/2 vanishes on the integer grid of an odd support: drop null atoms
    centred = bank - bank.mean(tuple(range(1, ndim + 1)), keepdim=True)
    keep = centred.flatten(1).norm(dim=1) > 1e-8
    return normalise_filters(bank[keep][:count], ndim)


def difference_bank(ndim: int = 2, support: int = 3) -> torch.Tensor:
    """First differences along every axis, centred on an odd ``support``: the filters of
    :class:`~bayesdeconv.priors.smooth.SmoothPrior` (up to the norm, :math:`\\sqrt2`)."""
    size = _support(support, ndim)
    atoms = []
    for axis in range(ndim):
        atom = torch.zeros(size, dtype=torch.float64)
        centre = [s // 2 for s in size]
        atom[tuple(centre)] = 1.0
        centre[axis] -= 1
        atom[tuple(centre)] = -1.0
        atoms.append(atom)
    return normalise_filters(torch.stack(atoms), ndim)


def filter_bank(
    name: str, support: int | tuple[int, ...], ndim: int, count: int | None = None, *, seed=0
) -> torch.Tensor:
    """A starting bank by name: ``"dct"``, ``"gabor"``, ``"differences"`` or ``"random"``.

    ``count`` keeps the first ``count`` filters of the DCT (lowest frequencies first) or sets the
    number of Gabor/random filters; the difference bank always has one filter per axis.
    """
    if name not in BANKS:
        raise ValueError(f"unknown filter bank {name!r}; choose one of {', '.join(BANKS)}")
    if count is not None and int(count) < 1:
        raise ValueError(f"the number of filters must be positive, got {count}")
    if name == "differences":
        return difference_bank(ndim, support if isinstance(support, int) else max(support))
    if name == "dct":
        bank = dct_bank(support, ndim)
        order = torch.argsort(
            torch.tensor(
                [sum(f) for f in itertools.product(*(range(s) for s in _support(support, ndim)))][
                    1:
                ]
            ),
            stable=True,
        )
        bank = bank[order]
        return bank if count is None else bank[: int(count)]
    if name == "gabor":
        return gabor_bank(support, ndim, 24 if count is None else int(count))
    size = _support(support, ndim)
    generator = torch.Generator().manual_seed(int(seed))
    raw = torch.randn(
        (24 if count is None else int(count), *size), generator=generator, dtype=torch.float64
    )
    return normalise_filters(raw, ndim)
