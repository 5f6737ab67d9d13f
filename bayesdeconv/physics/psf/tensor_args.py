"""Arguments and grids of the torch PSF generators (:mod:`~bayesdeconv.physics.psf.differentiable`).

Parameters are python reals or 0-d tensors; they are checked on their values and converted
to 0-d tensors without breaking the autograd graph.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal

import torch

from bayesdeconv.physics.psf.checks import check_shape

__all__ = ["Device", "Scalar", "odd_shape", "offsets", "resolve_device", "tensor_param", "unit_sum"]

Scalar = float | torch.Tensor
Device = torch.device | str | None


def odd_shape(size: Any, ndim: int) -> tuple[int, ...]:
    """Validate `size` (an int or `ndim` ints >= 1) and require every entry to be odd.

    Parameters
    ----------
    size : int or sequence of int
        Requested shape.
    ndim : int
        Number of axes.

    Returns
    -------
    tuple of int
        The shape.

    Raises
    ------
    ValueError
        If `size` is not a valid shape or an entry is even.
    """
    shape = check_shape("size", size, ndim)
    if any(s % 2 == 0 for s in shape):
        raise ValueError(f"size must be odd along every axis, got {shape}")
    return shape


def resolve_device(dtype: torch.dtype, device: Device, values: Sequence[Any]) -> torch.device:
    """Check `dtype`; return `device`, else the device of the first tensor in `values`, else CPU.

    Parameters
    ----------
    dtype : torch.dtype
        Requested dtype; must be a real floating dtype.
    device : torch.device or str or None
        Requested device.
    values : sequence
        The parameters, python numbers or tensors.

    Returns
    -------
    torch.device
        The device of the result.

    Raises
    ------
    ValueError
        If `dtype` is not a real floating-point dtype.
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a real floating-point torch dtype, got {dtype!r}")
    if device is not None:
        return torch.device(device)
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
    return torch.device("cpu")


def tensor_param(
    name: str,
    value: Any,
    dtype: torch.dtype,
    device: torch.device,
    kind: Literal["positive", "nonneg", "finite"] = "positive",
) -> torch.Tensor:
    """Return a python real or a 0-d real tensor as a 0-d tensor of `dtype` on `device`.

    Parameters
    ----------
    name : str
        Parameter name used in error messages.
    value : float or torch.Tensor
        The parameter. A tensor is converted with ``.to``, so gradients flow back to it.
    dtype : torch.dtype
        Floating dtype of the result.
    device : torch.device
        Device of the result.
    kind : {"positive", "nonneg", "finite"}, default "positive"
        Required range: > 0, >= 0 or any finite value.

    Returns
    -------
    torch.Tensor
        A 0-d tensor.

    Raises
    ------
    ValueError
        If `value` is not a real number or 0-d real tensor, or is outside the range.
    """
    if isinstance(value, torch.Tensor):
        if value.ndim != 0 or value.is_complex() or value.dtype == torch.bool:
            raise ValueError(
                f"{name} must be a real python number or a 0-d real tensor, got a {value.dtype} "
                f"tensor of shape {tuple(value.shape)}"
            )
        v = float(value.detach())
        out = value.to(dtype=dtype, device=device)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = float(value)
        out = torch.tensor(v, dtype=dtype, device=device)
    else:
        raise ValueError(f"{name} must be a real number or a 0-d tensor, got {value!r}")
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if (kind == "positive" and v <= 0.0) or (kind == "nonneg" and v < 0.0):
        raise ValueError(f"{name} must be {'positive' if kind == 'positive' else '>= 0'}, got {v}")
    return out


def offsets(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
    """Broadcastable offsets ``i - s // 2`` along every axis of `shape` (as ``numpy.ogrid``).

    Parameters
    ----------
    shape : tuple of int
        Array shape.
    dtype : torch.dtype
        Floating dtype of the offsets.
    device : torch.device
        Their device.

    Returns
    -------
    list of torch.Tensor
        One tensor per axis, of length ``s`` along that axis and 1 along the others.
    """
    out = []
    for axis, s in enumerate(shape):
        view = [1] * len(shape)
        view[axis] = s
        out.append(torch.arange(-(s // 2), s - s // 2, dtype=dtype, device=device).view(view))
    return out


def unit_sum(kernel: torch.Tensor) -> torch.Tensor:
    """Divide a non-negative kernel by its sum.

    Parameters
    ----------
    kernel : torch.Tensor
        Non-negative values.

    Returns
    -------
    torch.Tensor
        ``kernel / kernel.sum()``.

    Raises
    ------
    ValueError
        If the kernel has no mass on the grid.
    """
    total = kernel.sum()
    if not float(total.detach()) > 0.0:
        raise ValueError("the PSF has no mass on the requested grid; check the size and parameters")
    return kernel / total
