r"""The untrained networks of the deep image prior: a skip encoder–decoder for the image and a
fully connected generator for the kernel.

The image generator is the "skip" architecture of Ulyanov et al. [1]_ as SelfDeblur uses it
[2]_: ``depth`` levels, each a strided convolution down and a convolution (batch norm,
leaky ReLU), a 1×1 skip branch, and on the way up a bilinear upsampling, the skip joined by
concatenation, two convolutions. Batch norm always uses the statistics of the current input
(``track_running_stats=False``), so the network is the same function in training and when
summarised. The kernel generator is a two-layer perceptron whose softmax output lies on the
simplex: :math:`k = \mathrm{softmax}(W_2\,\mathrm{ReLU6}(W_1 z_k))`.

References
----------
.. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep image prior", CVPR 2018.
.. [2] D. Ren, K. Zhang, Q. Wang, Q. Hu, W. Zuo, "Neural blind deconvolution using deep
   priors", CVPR 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GeneratorShape", "KernelGenerator", "SkipGenerator"]


@dataclass(frozen=True)
class GeneratorShape:
    """Size of the image generator.

    Attributes
    ----------
    width : int
        Channels of every encoder and decoder level (SelfDeblur: 128).
    depth : int
        Levels (each halves the grid; SelfDeblur: 5).
    skip : int
        Channels of each skip branch (SelfDeblur: 16).
    input_channels : int
        Channels of the fixed input noise (SelfDeblur: 8).
    """

    width: int = 128
    depth: int = 5
    skip: int = 16
    input_channels: int = 8

    def __post_init__(self) -> None:
        for name in ("width", "depth", "input_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.skip, bool) or int(self.skip) != self.skip or self.skip < 0:
            raise ValueError(f"skip must be a non-negative integer, got {self.skip!r}")

    def smallest_image(self) -> int:
        """The shortest image axis the network accepts (batch norm needs more than one pixel
        at the coarsest level)."""
        return 2**self.depth + 1


def _block(channels_in: int, channels_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, kernel, stride=stride, padding=kernel // 2,
                  padding_mode="reflect"),
        nn.BatchNorm2d(channels_out, track_running_stats=False),
        nn.LeakyReLU(0.2),
    )  # fmt: skip


class SkipGenerator(nn.Module):
    """Skip encoder–decoder from ``input_channels`` noise maps to ``out_channels`` maps of the
    same size (no output nonlinearity: the prior applies its own)."""

    def __init__(self, shape: GeneratorShape, out_channels: int = 1) -> None:
        super().__init__()
        self.shape = shape
        w, s = shape.width, shape.skip
        self.down = nn.ModuleList()
        self.skips = nn.ModuleList()
        self.up = nn.ModuleList()
        channels = shape.input_channels
        for _ in range(shape.depth):
            self.skips.append(_block(channels, s, kernel=1) if s else nn.Identity())
            self.down.append(nn.Sequential(_block(channels, w, stride=2), _block(w, w)))
            channels = w
        for _ in range(shape.depth):
            incoming = w + s
            self.up.append(
                nn.Sequential(
                    nn.BatchNorm2d(incoming, track_running_stats=False),
                    _block(incoming, w),
                    _block(w, w, kernel=1),
                )
            )
        self.out = nn.Conv2d(w, out_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        skips, sizes = [], []
        h = z
        for skip, down in zip(self.skips, self.down, strict=True):
            skips.append(skip(h) if self.shape.skip else None)
            sizes.append(h.shape[-2:])
            h = down(h)
        for up, joined, size in zip(self.up, reversed(skips), reversed(sizes), strict=True):
            h = F.interpolate(h, size=size, mode="bilinear", align_corners=False)
            if joined is not None:
                h = torch.cat([h, joined], dim=1)
            h = up(h)
        return self.out(h)


class KernelGenerator(nn.Module):
    """Fully connected kernel generator: fixed noise of ``input_dim`` values to a kernel of
    ``size`` on the simplex (softmax)."""

    def __init__(self, size: tuple[int, int], input_dim: int = 200, hidden: int = 1000) -> None:
        super().__init__()
        self.size = tuple(size)
        self.hidden = nn.Linear(input_dim, hidden)
        self.out = nn.Linear(hidden, math.prod(self.size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        logits = self.out(F.relu6(self.hidden(z)))
        return torch.softmax(logits, dim=-1).reshape(self.size)
