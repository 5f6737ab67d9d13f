r"""PSF statistics of blind IVB: the masked Gram matrix of the image mean over PSF offsets.

The closed-form :math:`q(k)` update needs :math:`G_{jl} = \sum_p m_p x_{p-j} x_{p-l}`,
:math:`X^\top M y` and :math:`v_j = \sum_p m_p \sigma^2_{p-j}`. For a rectangular mask (a
``valid`` or circular boundary without missing pixels) :func:`rectangle_gram` sums over rows
as one batched product of per-column patch matrices per column lag, and over columns by
cumulative sums; masks with holes use the patch product of :func:`shifted_gram`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["bounding_box", "correlate_window", "pad_for_support", "rectangle_gram", "shifted_gram"]


def correlate_window(a: torch.Tensor, b: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """:math:`c_j = \\sum_p a_p b_{p - j}` for the PSF offsets :math:`j = i - s//2`,
    returned on the PSF grid (circular on the latent grid)."""
    dims = tuple(range(-len(size), 0))
    spec = torch.fft.rfftn(a, dim=dims) * torch.fft.rfftn(b, dim=dims).conj()
    corr = torch.fft.irfftn(spec, s=a.shape, dim=dims)
    corr = torch.roll(corr, shifts=tuple(s // 2 for s in size), dims=dims)
    return corr[tuple(slice(0, s) for s in size)]


def shifted_gram(x: torch.Tensor, mask: torch.Tensor, size: tuple[int, ...], block: int = 24):
    """:math:`G_{jl} = \\sum_p m_p\\, x_{p-j}\\, x_{p-l}` over the PSF offsets (2-D).

    A rectangular ``mask`` (a ``valid`` or periodic boundary without missing pixels) takes
    :func:`rectangle_gram`. Otherwise patches of the circularly padded image are gathered
    row block by row block at the observed pixels only, so memory stays at
    ``block * width * numel(size)`` values.
    """
    box = bounding_box(mask)
    if box is not None:
        return rectangle_gram(x, box, size)
    s0, s1 = size
    padded = pad_for_support(x, size)
    n = s0 * s1
    gram = x.new_zeros(n, n)
    rows = torch.nonzero(mask.any(1)).flatten()
    first, last = int(rows[0]), int(rows[-1]) + 1
    for r0 in range(first, last, block):
        r1 = min(r0 + block, last)
        selected = mask[r0:r1].reshape(-1)
        if not bool(selected.any()):
            continue
        patches = F.unfold(padded[None, None, r0 : r1 + s0 - 1], (s0, s1))[0][:, selected]
        gram += patches @ patches.T
    # patch element i holds x_{p - j} for the PSF index n - 1 - i (both axes reversed)
    return gram.flip(0, 1)


def pad_for_support(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """``x`` padded circularly so that ``padded[p + i] = x[p - j]`` for the PSF index ``j``
    and the reversed index ``i = size - 1 - (j + size // 2)`` (both axes)."""
    (s0, s1), (c0, c1) = size, (size[0] // 2, size[1] // 2)
    return F.pad(x[None, None], (s1 - 1 - c1, c1, s0 - 1 - c0, c0), mode="circular")[0, 0]


def bounding_box(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """``(r0, r1, c0, c1)`` if ``mask`` is exactly the rectangle ``[r0, r1) x [c0, c1)``."""
    rows = torch.nonzero(mask.any(1)).flatten()
    cols = torch.nonzero(mask.any(0)).flatten()
    if rows.numel() == 0:
        return None
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if int(mask.sum()) != (r1 - r0) * (c1 - c0):
        return None
    return r0, r1, c0, c1


def rectangle_gram(x: torch.Tensor, box: tuple[int, int, int, int], size: tuple[int, ...]):
    """The Gram matrix of :func:`shifted_gram` for the mask ``[r0, r1) x [c0, c1)``.

    With the padded image :math:`X` (:func:`pad_for_support`) cut to the rows and columns the
    rectangle's :math:`H \\times W` pixels reach, and reversed PSF indices
    :math:`i = (i_0, i_1)`, :math:`G'_{ik} = \\sum_{u_0 < H,\\, u_1 < W} X_{u+i} X_{u+k}`.
    Summing over the rows first gives, per column :math:`c` of :math:`X` and column lag
    :math:`\\delta = k_1 - i_1 \\ge 0`, the :math:`s_0 \\times s_0` products
    :math:`D_\\delta[c] = U_c^\\top U_{c+\\delta}` with :math:`(U_c)_{u_0 i_0} = X_{u_0+i_0,\\,c}`
    (one batched matrix product per lag). The block :math:`(i_1, k_1)` of :math:`G'` is
    :math:`\\sum_{u_1 < W} D_\\delta[i_1 + u_1]`, a difference of cumulative sums. That is
    :math:`s_1 (W + s_1 - 1) s_0^2 H` multiply-adds instead of the :math:`(s_0 s_1)^2 H W` of
    the patch product, about :math:`s_1` times fewer.
    """
    r0, r1, c0, c1 = box
    s0, s1 = size
    height, width = r1 - r0, c1 - c0
    padded = pad_for_support(x, size)[r0 : r1 + s0 - 1, c0 : c1 + s1 - 1]
    columns = padded.unfold(0, height, 1).permute(1, 0, 2).contiguous()  # (Wp, s0, H): U_c
    n_cols = columns.shape[0]
    gram = x.new_zeros(s0, s1, s0, s1)
    for lag in range(s1):
        products = torch.bmm(columns[: n_cols - lag], columns[lag:].transpose(1, 2))
        cumulative = F.pad(products.cumsum(0), (0, 0, 0, 0, 1, 0))
        i1 = torch.arange(s1 - lag, device=x.device)
        block = cumulative[i1 + width] - cumulative[i1]  # (s1 - lag, s0, s0)
        gram[:, i1, :, i1 + lag] = block
        gram[:, i1 + lag, :, i1] = block.transpose(1, 2)
    n = s0 * s1
    return gram.reshape(n, n).flip(0, 1)
