"""Checks of PSF-generator arguments and of user-supplied PSFs (:func:`check_psf`).

The argument checks (:func:`check_positive`, :func:`check_finite`, :func:`check_int`,
:func:`check_shape`) are shared by the generators of :mod:`bayesdeconv.physics.psf`.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_finite",
    "check_int",
    "check_positive",
    "check_psf",
    "check_shape",
    "psf_centroid",
]

#: Largest allowed relative negative value, ``min >= -_NEG_TOL * max``.
_NEG_TOL = 1e-12
#: Centroid offset (pixels, Euclidean) above which :func:`check_psf` warns.
_CENTRE_TOL = 1.5


# ---------------------------------------------------------------------------
# argument validation helpers
# ---------------------------------------------------------------------------
def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float, raising ``ValueError`` unless finite and > 0.

    Parameters
    ----------
    name : str
        Argument name used in the error message.
    value : Any
        Candidate value; a real number (``bool`` is refused).

    Returns
    -------
    float
        ``float(value)``.

    Raises
    ------
    ValueError
        If ``value`` is not a real number, not finite or not positive.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if v <= 0.0:
        raise ValueError(f"{name} must be positive, got {v}")
    return v


def check_finite(name: str, value: Any) -> float:
    """Return ``value`` as a float, raising ``ValueError`` unless it is finite.

    Parameters
    ----------
    name : str
        Argument name used in the error message.
    value : Any
        Candidate value; a real number (``bool`` is refused).

    Returns
    -------
    float
        ``float(value)``.

    Raises
    ------
    ValueError
        If ``value`` is not a finite real number.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising ``ValueError`` unless integral and >= minimum.

    Parameters
    ----------
    name : str
        Argument name used in the error message.
    value : Any
        Candidate value; an integer (``bool`` is refused).
    minimum : int, default 1
        Smallest accepted value.

    Returns
    -------
    int
        ``int(value)``.

    Raises
    ------
    ValueError
        If ``value`` is not an integer or is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v}")
    return v


def check_shape(name: str, size: Any, ndim: int) -> tuple[int, ...]:
    """Normalise an ``int`` or length-``ndim`` sequence to a shape tuple of ints >= 1.

    Parameters
    ----------
    name : str
        Argument name used in the error message.
    size : Any
        An integer (the same size along every axis) or a sequence of ``ndim`` integers.
    ndim : int
        Number of axes.

    Returns
    -------
    tuple of int
        The shape, ``ndim`` entries, each >= 1.

    Raises
    ------
    ValueError
        If ``size`` is neither, has the wrong length, or holds an entry below 1.
    """
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        return (check_int(name, size),) * ndim
    if isinstance(size, (str, bytes)) or not isinstance(size, Sequence | np.ndarray):
        raise ValueError(
            f"{name} must be an integer or a sequence of {ndim} integers, got {size!r}"
        )
    items = list(size)
    if len(items) != ndim:
        raise ValueError(f"{name} must have {ndim} entries, got {len(items)} ({size!r})")
    return tuple(check_int(f"{name}[{i}]", s) for i, s in enumerate(items))


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _to_numpy(psf: Any) -> np.ndarray:
    """Convert a torch tensor (if torch is loaded) or array-like to a numpy array."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(psf, torch.Tensor):
        psf = psf.detach().cpu()
        if psf.dtype in (torch.float16, torch.bfloat16):
            psf = psf.to(torch.float64)
        return psf.numpy()
    return np.asarray(psf)


def psf_centroid(psf: Any) -> tuple[float, ...]:
    r"""Intensity-weighted centroid of a PSF in index coordinates.

    Parameters
    ----------
    psf : array_like or torch.Tensor
        Non-negative array of any dimension with a positive sum.

    Returns
    -------
    tuple of float
        Centroid :math:`\bar\imath_d` along every axis :math:`d`, in array
        index units (compare with ``s // 2`` for a centred PSF).

    Raises
    ------
    ValueError
        If the array is empty or its sum is not finite and positive.

    Notes
    -----
    .. math::

        \bar\imath_d = \frac{\sum_{\mathbf{i}} i_d\, k[\mathbf{i}]}
                            {\sum_{\mathbf{i}} k[\mathbf{i}]}.

    Examples
    --------
    >>> from bayesdeconv.physics.psf import gaussian_psf
    >>> [round(c, 9) for c in psf_centroid(gaussian_psf(9, sigma=1.0))]
    [4.0, 4.0]
    """
    arr = np.asarray(_to_numpy(psf), dtype=np.float64)
    if arr.size == 0:
        raise ValueError("psf is empty")
    total = arr.sum()
    if not np.isfinite(total) or total <= 0.0:
        raise ValueError(f"psf must have a finite positive sum to compute a centroid, got {total}")
    out = []
    for axis, s in enumerate(arr.shape):
        other = tuple(i for i in range(arr.ndim) if i != axis)
        marginal = arr.sum(axis=other) if other else arr
        out.append(float(np.dot(np.arange(s, dtype=np.float64), marginal) / total))
    return tuple(out)


def check_psf(
    psf: Any,
    *,
    image_shape: Sequence[int] | None = None,
    name: str = "psf",
    normalise: bool = False,
    rtol: float = 1e-3,
    normalise_option: str = "normalise=True",
) -> np.ndarray:
    r"""Validate a user-supplied PSF and return it as a float64 array.

    Parameters
    ----------
    psf : array_like or torch.Tensor
        Candidate PSF, 2-D ``(y, x)`` or 3-D ``(z, y, x)``, centred at
        ``s // 2`` (see :mod:`bayesdeconv.physics.psf`).  Torch tensors are converted
        with ``.detach().cpu().numpy()``.
    image_shape : sequence of int, optional
        Shape of the image the PSF will be applied to; it must have the same
        number of dimensions and be at least as large along every axis.
    name : str, default "psf"
        Name used in error and warning messages.
    normalise : bool, default False
        If ``True``, return the PSF divided by its sum; if ``False``, a sum
        differing from one by more than ``rtol`` is an error.
    rtol : float, default 1e-3
        Tolerance on :math:`|\sum k - 1|`.
    normalise_option : str, default "normalise=True"
        How the caller spells the normalising switch, named in the error for an unnormalised
        PSF (``deconvolve`` passes ``"normalise_psf=True"``).

    Returns
    -------
    numpy.ndarray
        A float64 copy of ``psf`` (tiny negative round-off values set to
        zero; divided by its sum when ``normalise=True``).

    Raises
    ------
    ValueError
        If the PSF is not a 2-D or 3-D array of real numbers, is empty,
        contains NaN or Inf, has negative values below
        :math:`-10^{-12}\max k`, does not have a positive sum, is not
        normalised (and ``normalise=False``), or does not fit ``image_shape``.

    Warns
    -----
    UserWarning
        If the centroid (:func:`psf_centroid`) lies more than 1.5 pixels
        (Euclidean distance) from the centre index ``s // 2``.

    Notes
    -----
    The accepted PSF satisfies :math:`k \ge 0` and
    :math:`|\sum_{\mathbf{i}} k[\mathbf{i}] - 1| \le \mathrm{rtol}`, and the
    warning fires when

    .. math::

        \Big\|\bar{\mathbf{\imath}} - (s_d // 2)_d\Big\|_2 > 1.5.

    Examples
    --------
    >>> from bayesdeconv.physics.psf import gaussian_psf
    >>> k = check_psf(2.0 * gaussian_psf(7, sigma=1.0), normalise=True)
    >>> round(float(k.sum()), 12)
    1.0
    """
    rtol = check_positive("rtol", rtol)
    arr = _to_numpy(psf)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name} must be a 2-D or 3-D array, got {arr.ndim}-D shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    out = np.array(arr, dtype=np.float64, copy=True)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} contains NaN or Inf values")
    vmax = float(out.max())
    vmin = float(out.min())
    if vmin < 0.0:
        if vmin < -_NEG_TOL * max(vmax, 0.0):
            raise ValueError(
                f"{name} has negative values (min={vmin:.3g}, max={vmax:.3g}); a PSF must be "
                "non-negative"
            )
        np.maximum(out, 0.0, out=out)
    total = float(out.sum())
    if total <= 0.0:
        raise ValueError(f"{name} must have a positive sum, got {total:.3g}")
    if normalise:
        out /= total
    elif abs(total - 1.0) > rtol:
        raise ValueError(
            f"{name} is not normalised (sum={total:.6g}); pass {normalise_option} or divide "
            "it by its sum"
        )
    if image_shape is not None:
        img = tuple(int(s) for s in image_shape)
        if len(img) != out.ndim:
            hint = (
                "a z-stack needs a 3-D PSF (z, y, x); add a leading axis (psf[None]) only for "
                "a PSF without axial blur"
                if len(img) == 3
                else "a 2-D image needs a 2-D PSF (y, x)"
            )
            raise ValueError(
                f"{name} is {out.ndim}-D (shape {out.shape}) but the image is {len(img)}-D "
                f"(shape {img}); their dimensionality must match: {hint}"
            )
        if any(p > s for p, s in zip(out.shape, img, strict=True)):
            raise ValueError(f"{name} of shape {out.shape} is larger than the image of shape {img}")
    centroid = np.asarray(psf_centroid(out))
    centre = np.array([s // 2 for s in out.shape], dtype=np.float64)
    offset = float(np.linalg.norm(centroid - centre))
    if offset > _CENTRE_TOL:
        warnings.warn(
            f"{name} is not centred: its centroid {tuple(round(float(c), 2) for c in centroid)} is "
            f"{offset:.2f} pixels from the centre index {tuple(int(c) for c in centre)} "
            "(s // 2); the deconvolved image will be shifted accordingly",
            UserWarning,
            stacklevel=2,
        )
    return out
