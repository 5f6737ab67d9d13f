"""FFT convolution operators for 2-D and 3-D images.

Orientation
-----------
Every operator applies the PSF by *true convolution*,

.. math:: (k \\circledast x)[n] = \\sum_m k[m]\\, x[n - m + c], \\qquad c = \\lfloor s / 2 \\rfloor,

per axis, with the PSF's centre at index ``s // 2`` (``s`` its size along that axis). A kernel that
was measured or published for *correlation* (for example the Levin et al. 2009 kernels) must be
rotated by 180 degrees first: ``np.flip(k)``.

Boundaries
----------
``boundary="circular"``
    The latent image has the observed shape and the blur wraps around (a circulant operator,
    diagonal in Fourier space).
``boundary="valid"``
    The latent image is larger than the observation by at least ``s - 1`` pixels per axis
    (rounded up to an FFT-friendly size, :func:`scipy.fft.next_fast_len`). The blur is a
    circular convolution on that larger grid followed by a crop :math:`S` to the pixels whose
    neighbourhood lies entirely inside the latent grid, so no wrap-around ever reaches an observed
    pixel. The latent border is simply *unobserved*: it is what the observation mask excludes,
    the same mechanism that handles missing pixels.

In both cases the forward operator is :math:`A = S\\,C` with :math:`C` circulant on the latent grid
and :math:`S` a crop (the identity for ``circular``), so :math:`A^\\top = C^\\top S^\\top` and
:math:`A^\\top M A = C^\\top \\operatorname{diag}(S^\\top m)\\, C` for an observation mask ``m``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.fft import next_fast_len

__all__ = [
    "BOUNDARIES",
    "ConvolutionOperator",
    "fft_dims",
    "full_grid",
    "psf_to_otf",
    "squared_modulus",
]

BOUNDARIES = ("circular", "valid")


def squared_modulus(z: torch.Tensor) -> torch.Tensor:
    """:math:`|z|^2` of a complex tensor without the square root of ``abs``."""
    return z.real.square() + z.imag.square()


def fft_dims(ndim: int) -> tuple[int, ...]:
    """The trailing axes an ``ndim``-dimensional image occupies: ``(-ndim, ..., -1)``."""
    return tuple(range(-ndim, 0))


def psf_to_otf(psf: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Optical transfer function of a centred PSF on a periodic grid, in ``rfftn`` layout.

    The PSF (trailing ``len(shape)`` axes; leading axes are batch) is zero-padded to ``shape`` and
    rolled so that its centre ``s // 2`` sits at index 0; the result is ``rfftn`` of that array.
    Differentiable with respect to ``psf``.

    Parameters
    ----------
    psf : torch.Tensor
        PSF of shape ``(..., *s)`` with ``s[i] <= shape[i]``.
    shape : sequence of int
        Latent grid shape.

    Returns
    -------
    torch.Tensor
        Complex tensor of shape ``(..., *shape[:-1], shape[-1] // 2 + 1)``.
    """
    ndim = len(shape)
    size = psf.shape[-ndim:]
    pad: list[int] = []
    for s, n in zip(reversed(size), reversed(shape), strict=True):
        pad += [0, n - s]
    padded = torch.nn.functional.pad(psf, pad)
    shifts = tuple(-(s // 2) for s in size)
    padded = torch.roll(padded, shifts=shifts, dims=fft_dims(ndim))
    return torch.fft.rfftn(padded, dim=fft_dims(ndim))


class ConvolutionOperator:
    """Blur operator :math:`A = S\\,C` with FFT convolution on a periodic latent grid.

    Parameters
    ----------
    psf : array_like or torch.Tensor
        The PSF, 2-D ``(y, x)`` or 3-D ``(z, y, x)``, centred at ``s // 2``. It is used as given
        (validate it with :func:`bayesdeconv.physics.psf.check_psf` first).
    observed_shape : sequence of int
        Shape of the observed image (same number of axes as the PSF).
    boundary : {"circular", "valid"}
        See the module documentation.
    dtype, device
        Where the operator's tensors live; ``float64`` is used for exactness tests.

    Notes
    -----
    ``forward`` maps a latent image ``(..., *latent_shape)`` to ``(..., *observed_shape)``;
    ``adjoint`` maps back. ``crop`` is :math:`S` and ``embed`` is :math:`S^\\top` (zero fill).
    The latent pixels at ``frame`` are the ones co-located with the observed pixels, so
    ``crop(latent)`` is also the estimate on the observed field of view.
    """

    def __init__(
        self,
        psf: np.ndarray | torch.Tensor,
        observed_shape: Sequence[int],
        *,
        boundary: str = "circular",
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
        psf_t = torch.as_tensor(np.asarray(psf) if not torch.is_tensor(psf) else psf)
        psf_t = psf_t.to(dtype=dtype, device=device)
        if psf_t.ndim not in (2, 3):
            raise ValueError(f"psf must be 2-D or 3-D, got {psf_t.ndim}-D")
        observed_shape = tuple(int(n) for n in observed_shape)
        if len(observed_shape) != psf_t.ndim:
            raise ValueError(
                f"psf is {psf_t.ndim}-D but the image shape {observed_shape} has "
                f"{len(observed_shape)} axes"
            )
        if any(s > n for s, n in zip(psf_t.shape, observed_shape, strict=True)):
            raise ValueError(
                f"psf of shape {tuple(psf_t.shape)} is larger than the image of shape "
                f"{observed_shape}"
            )
        self.ndim = psf_t.ndim
        self.boundary = boundary
        self.dtype = dtype
        self.device = psf_t.device
        self.psf = psf_t
        self.observed_shape = observed_shape
        size = tuple(psf_t.shape)
        if boundary == "valid":
            # at least n + s - 1 (no wrap-around reaches an observed pixel), rounded up to a
            # size with small prime factors so the FFTs stay fast; the extra pixels are just
            # more unobserved border
            self.latent_shape = tuple(
                next_fast_len(n + s - 1, real=True)
                for n, s in zip(observed_shape, size, strict=True)
            )
            starts = tuple(s - 1 - s // 2 for s in size)
        else:
            self.latent_shape = observed_shape
            starts = (0,) * self.ndim
        self.frame = tuple(slice(a, a + n) for a, n in zip(starts, observed_shape, strict=True))
        self.dims = fft_dims(self.ndim)
        self.otf = psf_to_otf(psf_t, self.latent_shape)

    def to(self, dtype: torch.dtype) -> ConvolutionOperator:
        """The same operator computing in ``dtype`` (e.g. ``torch.float32`` for speed)."""
        return ConvolutionOperator(
            self.psf.to(dtype), self.observed_shape, boundary=self.boundary, dtype=dtype,
            device=self.device,
        )  # fmt: skip

    # -- shapes -----------------------------------------------------------------------------
    @property
    def is_circulant(self) -> bool:
        """True when :math:`A` itself is circulant (``boundary="circular"``)."""
        return self.boundary == "circular"

    @property
    def _index(self) -> tuple:
        return (Ellipsis, *self.frame)

    def crop(self, latent: torch.Tensor) -> torch.Tensor:
        """:math:`S`: the latent pixels co-located with the observed field of view."""
        return latent[self._index]

    def embed(self, observed: torch.Tensor) -> torch.Tensor:
        """:math:`S^\\top`: place an observed-shape array on the latent grid, zeros elsewhere."""
        if self.boundary == "circular":
            return observed
        out = observed.new_zeros(observed.shape[: observed.ndim - self.ndim] + self.latent_shape)
        out[self._index] = observed
        return out

    # -- operators ----------------------------------------------------------------------------
    def circulant(self, latent: torch.Tensor, otf: torch.Tensor | None = None) -> torch.Tensor:
        """:math:`C x`: circular convolution on the latent grid."""
        otf = self.otf if otf is None else otf
        spec = torch.fft.rfftn(latent, dim=self.dims) * otf
        return torch.fft.irfftn(spec, s=self.latent_shape, dim=self.dims)

    def circulant_adjoint(self, latent: torch.Tensor, otf: torch.Tensor | None = None):
        """:math:`C^\\top x`: circular correlation on the latent grid."""
        otf = self.otf if otf is None else otf
        spec = torch.fft.rfftn(latent, dim=self.dims) * otf.conj()
        return torch.fft.irfftn(spec, s=self.latent_shape, dim=self.dims)

    def forward(self, latent: torch.Tensor, otf: torch.Tensor | None = None) -> torch.Tensor:
        """:math:`A x = S C x`. ``otf`` overrides the operator's PSF (for blind models)."""
        return self.crop(self.circulant(latent, otf))

    def adjoint(self, observed: torch.Tensor, otf: torch.Tensor | None = None) -> torch.Tensor:
        """:math:`A^\\top y = C^\\top S^\\top y`."""
        return self.circulant_adjoint(self.embed(observed), otf)

    __call__ = forward

    def latent_mask(self, mask: torch.Tensor | None = None) -> torch.Tensor:
        """:math:`S^\\top m`: observed latent pixels (1) versus unobserved border or holes (0)."""
        if mask is None:
            mask = torch.ones(self.observed_shape, dtype=self.dtype, device=self.device)
        return self.embed(mask.to(self.dtype))

    def normal_diagonal(self, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Diagonal of :math:`A^\\top M A`: the latent mask correlated with the squared PSF."""
        otf2 = psf_to_otf(self.psf**2, self.latent_shape)
        spec = torch.fft.rfftn(self.latent_mask(mask), dim=self.dims) * otf2.conj()
        return torch.fft.irfftn(spec, s=self.latent_shape, dim=self.dims)

    def power_spectrum(self) -> torch.Tensor:
        """:math:`|K(\\omega)|^2` on the full ``fftn`` grid of the latent shape."""
        return full_grid(squared_modulus(self.otf), self.latent_shape)

    def __repr__(self) -> str:
        return (
            f"ConvolutionOperator(psf_shape={tuple(self.psf.shape)}, "
            f"observed_shape={self.observed_shape}, boundary={self.boundary!r})"
        )


def full_grid(half: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Expand a Hermitian-symmetric real spectrum from ``rfftn`` layout to the full grid.

    For a real image, :math:`F(-\\omega) = \\overline{F(\\omega)}`; a real even function of the
    spectrum (such as :math:`|K|^2`) therefore satisfies ``full[-w] = full[w]``, which fills the
    columns the ``rfftn`` layout omits.
    """
    ndim = len(shape)
    n_last = shape[-1]
    n_missing = n_last - half.shape[-1]
    if n_missing <= 0:
        return half[..., :n_last]
    # columns w = n_last//2+1 .. n_last-1 equal the mirrored frequencies (-w) of the other axes
    source = half[..., 1 : 1 + n_missing].flip(-1)
    other = tuple(range(-ndim, -1))
    if other:
        source = torch.roll(source.flip(other), shifts=(1,) * len(other), dims=other)
    return torch.cat([half, source], dim=-1)
