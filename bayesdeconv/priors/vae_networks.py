r"""The convolutional encoder and decoder of :class:`~bayesdeconv.priors.vae.VAEImagePrior`.

Both are fully convolutional, so one trained pair serves images of any size: ``depth`` levels
of two :math:`3\times3` convolutions with ReLU, separated by :math:`2\times2` max-pooling in the
encoder and nearest-neighbour upsampling in the decoder (the depth-2 architecture of
DivNoising and DivBlurring). The latent code is a grid of ``latent_channels`` values on the
image grid downsampled :math:`2^{depth}` times.

References
----------
.. [1] M. Prakash, A. Krull, F. Jug, "Fully unsupervised diversity denoising with convolutional
   variational autoencoders", ICLR 2021.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvDecoder", "ConvEncoder", "NetworkShape"]


class NetworkShape:
    """Width, depth and latent channels of an encoder–decoder pair, checked once.

    Parameters
    ----------
    width : int
        Feature channels at full resolution (doubled at every level).
    depth : int
        Number of downsampling levels; the latent grid is :math:`2^{depth}` times coarser.
    latent_channels : int
        Latent values per latent-grid cell.
    """

    def __init__(self, *, width: int = 16, depth: int = 2, latent_channels: int = 16) -> None:
        for name, value, low in (("width", width, 1), ("depth", depth, 0),
                                 ("latent_channels", latent_channels, 1)):  # fmt: skip
            if int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.width, self.depth, self.latent_channels = int(width), int(depth), int(latent_channels)

    @property
    def factor(self) -> int:
        """How many image pixels one latent cell spans per axis, :math:`2^{depth}`."""
        return 2**self.depth

    def latent_grid(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The latent code's shape ``(latent_channels, ceil(H/f), ceil(W/f))`` for an image."""
        return (self.latent_channels, *(-(-n // self.factor) for n in shape))

    def as_dict(self) -> dict[str, int]:
        return {"width": self.width, "depth": self.depth, "latent_channels": self.latent_channels}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NetworkShape) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return "NetworkShape(" + ", ".join(f"{k}={v}" for k, v in self.as_dict().items()) + ")"


def _block(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(n_in, n_out, 3, padding=1, padding_mode="replicate"),
        nn.ReLU(),
        nn.Conv2d(n_out, n_out, 3, padding=1, padding_mode="replicate"),
        nn.ReLU(),
    )


class ConvEncoder(nn.Module):
    r"""Image ``(B, 1, H, W)`` to the Gaussian :math:`q(z \mid y)`: ``(loc, scale)``, each
    ``(B, C, H/f, W/f)`` (``H`` and ``W`` multiples of :math:`f = 2^{depth}`)."""

    def __init__(self, shape: NetworkShape) -> None:
        super().__init__()
        self.shape = shape
        levels, channels = [], 1
        for level in range(shape.depth):
            out = shape.width * 2**level
            levels.append(_block(channels, out))
            channels = out
        self.levels = nn.ModuleList(levels)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Conv2d(channels, 2 * shape.latent_channels, 1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = image
        for level in self.levels:
            h = self.pool(level(h))
        loc, raw = self.head(h).chunk(2, dim=1)
        return loc, nn.functional.softplus(raw) + 1e-4


class ConvDecoder(nn.Module):
    """Latent code ``(B, C, h, w)`` to an image ``(B, 1, f h, f w)`` in the prior's units."""

    def __init__(self, shape: NetworkShape) -> None:
        super().__init__()
        self.shape = shape
        channels = shape.width * 2 ** max(shape.depth - 1, 0)
        self.stem = nn.Conv2d(shape.latent_channels, channels, 1)
        levels = []
        for level in reversed(range(shape.depth)):
            out = shape.width * 2 ** max(level - 1, 0)
            levels.append(_block(channels, out))
            channels = out
        self.levels = nn.ModuleList(levels)
        self.head = nn.Conv2d(channels, 1, 1)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        h = self.stem(code)
        for level in self.levels:
            h = level(nn.functional.interpolate(h, scale_factor=2, mode="nearest"))
        return self.head(h)
