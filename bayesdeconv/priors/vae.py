r"""A VAE-decoded image prior: DivNoising and DivBlurring as one Pyro component.

The sharp image is a decoder's output from a standard-normal latent grid,

.. math::
    z \sim \mathcal N(0, I), \qquad x = s\, g_\theta(z), \qquad
    y \mid x \sim p_{noise}(y \mid A x),

with :math:`s` the intensity scale of the training data and :math:`A` the blur (the identity
for DivNoising). The image site is ``pyro.deterministic``; the only latent site is ``latent``
(:data:`bayesdeconv.sites.LATENT`), so SVI, MAP and Vadam fit it like any other model and the
posterior of :math:`x` comes from ``Predictive`` draws (mean, std map, samples: the
"diversity" of DivNoising). Optional penalties of DivBlurring [2] enter the model as one
factor, :math:`\log p(x) \mathrel{+}= -\lambda_1 \lVert x\rVert_1 - \lambda_2 \lVert
x\rVert_2^2 - \kappa \sum_i \min(x_i, 0)^2` (a Laplace, a Gaussian and a one-sided Gaussian
prior factor on the pixels, up to constants); ``positivity="constraint"`` instead maps the
decoder's output through a softplus, so every sample is non-negative.

The encoder, trained with the decoder by :func:`bayesdeconv.training.fit_vae`, is the
amortised guide :math:`q_\phi(z \mid y)`: a new image's fit starts from it
(:meth:`VAEImagePrior.initial_values`, :meth:`VAEImagePrior.initial_scales`) and SVI refines
:math:`q(z)` for that image. ``prior="vae"`` loads the model shipped with the package
(``scripts/make_vae_prior.py``: DivBlurring on generated filament images).

References
----------
.. [1] M. Prakash, A. Krull, F. Jug, "Fully unsupervised diversity denoising with convolutional
   variational autoencoders", ICLR 2021.
.. [2] "Variational autoencoders for image deconvolution in fluorescence microscopy"
   (DivBlurring), internship report (``shared/seeds/002``).
.. [3] D. P. Kingma, M. Welling, "Auto-encoding variational Bayes", ICLR 2014.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from torch import nn

from bayesdeconv import sites
from bayesdeconv.priors.base import ImagePrior
from bayesdeconv.priors.vae_networks import ConvDecoder, ConvEncoder, NetworkShape

__all__ = ["POSITIVITY", "VAEImagePrior"]

POSITIVITY = (None, "constraint")
"""``positivity`` choices besides a penalty weight: none, or a softplus output."""


def _weight(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value}")
    return value


class VAEImagePrior(ImagePrior):
    r"""Image prior :math:`x = s\, g_\theta(z)`, :math:`z \sim \mathcal N(0, I)` on a latent grid.

    Parameters
    ----------
    decoder : torch.nn.Module
        Maps a latent code ``(B, C, h, w)`` to ``(B, 1, f h, f w)``. A
        :class:`~bayesdeconv.priors.vae_networks.ConvDecoder` carries its ``shape``; for another
        module pass ``network`` (``latent_channels`` :math:`C` and the factor :math:`f`).
    encoder : torch.nn.Module, optional
        The amortised guide: image ``(B, 1, H, W)`` (``H``, ``W`` multiples of :math:`f`) to
        ``(loc, scale)`` of :math:`q(z \mid y)`. Without it a fit starts at :math:`z = 0`.
    network : NetworkShape, optional
        The latent grid's channels and factor (default: ``decoder.shape``).
    scale : float
        :math:`s`, the intensity of the training data (the decoder works in units of it).
    positivity : {None, "constraint"} or float
        ``"constraint"``: softplus on the decoder's output (every sample :math:`\ge 0`); a
        number :math:`\kappa`: the penalty :math:`\kappa \sum_i \min(x_i, 0)^2`.
    l1, l2 : float
        :math:`\lambda_1`, :math:`\lambda_2` of the pixel penalties (0: off).
    psf : array_like, optional
        The PSF the model was trained with (DivBlurring); a model with another PSF is refused
        (the encoder's start assumes this blur) unless ``any_psf``. A trained model without
        one (DivNoising: ``training`` set, ``psf=None``) accepts only a delta PSF.
    any_psf : bool
        Accept any PSF: the decoder is a prior on sharp images whatever the blur; only the
        amortised start is then off, and SVI refines from it.
    description : str
        What the model was trained on (kept in its file).
    training : dict, optional
        Training record (data, epochs, losses), kept in the file.
    """

    name = "vae"

    def __init__(
        self,
        decoder: nn.Module,
        *,
        encoder: nn.Module | None = None,
        network: NetworkShape | None = None,
        scale: float = 1.0,
        positivity: str | float | None = None,
        l1: float = 0.0,
        l2: float = 0.0,
        psf=None,
        any_psf: bool = False,
        description: str = "",
        training: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(decoder, nn.Module):
            raise TypeError(f"decoder must be a torch.nn.Module, got {type(decoder).__name__}")
        if encoder is not None and not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        network = network if network is not None else getattr(decoder, "shape", None)
        if not isinstance(network, NetworkShape):
            raise ValueError(
                "pass network=NetworkShape(...) (latent channels and depth) for a decoder "
                "that does not carry its shape"
            )
        scale = float(scale)
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be positive and finite, got {scale}")
        if not (positivity in POSITIVITY or isinstance(positivity, int | float)):
            raise ValueError(
                f"positivity must be None, 'constraint' or a weight, got {positivity!r}"
            )
        self.decoder = decoder
        self.encoder = encoder
        self.network = network
        self.scale = scale
        self.positivity = positivity
        self.positivity_weight = (
            _weight("positivity", positivity) if isinstance(positivity, int | float) else 0.0
        )
        self.l1 = _weight("l1", l1)
        self.l2 = _weight("l2", l2)
        self.psf = None if psf is None else np.asarray(psf, dtype=np.float64)
        self.any_psf = bool(any_psf)
        self.description = str(description)
        self.training = dict(training or {})
        for net in (decoder, encoder):
            if net is not None:
                net.requires_grad_(False)  # fixed weights; fit_vae trains them

    # -- shapes ------------------------------------------------------------------------------
    def latent_grid(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the latent site for an image on the latent grid ``shape``."""
        return self.network.latent_grid(tuple(shape))

    def check_model(self, model) -> None:
        if model.ndim != 2:
            raise ValueError(f"the VAE prior is for 2-D images, got a {model.ndim}-D image")
        if model.blind:
            raise ValueError("the VAE prior needs a known PSF (its encoder was trained for one)")
        if self.any_psf:
            return
        given = model.operator.psf.detach().cpu().double().numpy()
        if self.psf is None:
            # a trained denoiser (DivNoising) models the blurred image: no blur may follow it
            if self.training and np.count_nonzero(given) != 1:
                raise ValueError(
                    "this VAE prior was trained without a PSF (a denoiser of the blurred image); "
                    "denoise with a delta PSF, train a model with your PSF (bayesdeconv "
                    "train-vae --psf), or pass any_psf=True"
                )
            return
        same = given.shape == self.psf.shape and np.allclose(
            given, self.psf, rtol=0, atol=1e-3 * float(np.abs(self.psf).max())
        )
        if not same:
            raise ValueError(
                f"this VAE prior was trained with a {self.psf.shape[0]}×{self.psf.shape[1]} PSF "
                f"({self.description or 'see its file'}); the given "
                f"{given.shape[0]}×{given.shape[1]} PSF differs. Use the training PSF, train a "
                "model for yours (bayesdeconv train-vae), or pass any_psf=True"
            )

    # -- the generator -----------------------------------------------------------------------
    def decode(self, z: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """:math:`s\\, g_\\theta(z)` cropped to ``shape``; leading axes of ``z`` are batch."""
        lead = z.shape[:-3]
        flat = z.reshape(-1, *z.shape[-3:])
        weights = next(self.decoder.parameters(), None)
        if weights is not None and (weights.device, weights.dtype) != (z.device, z.dtype):
            self.decoder.to(device=z.device, dtype=z.dtype)
        out = self.decoder(flat)[:, 0, : shape[0], : shape[1]]
        if self.positivity == "constraint":
            out = nn.functional.softplus(out)
        return (self.scale * out).reshape(*lead, *shape)

    def log_penalty(self, x: torch.Tensor) -> torch.Tensor:
        """The penalty factor :math:`-\\lambda_1\\lVert x\\rVert_1 - \\lambda_2\\lVert x
        \\rVert_2^2 - \\kappa\\sum_i \\min(x_i,0)^2` over the last two axes."""
        total = x.new_zeros(x.shape[:-2])
        for weight, term in ((self.l1, x.abs()), (self.l2, x.square()),
                             (self.positivity_weight, x.clamp(max=0).square())):  # fmt: skip
            if weight:
                total = total - weight * term.sum((-2, -1))
        return total

    @property
    def penalised(self) -> bool:
        return bool(self.l1 or self.l2 or self.positivity_weight)

    def sample(self, shape, *, dtype, device) -> torch.Tensor:
        shape = tuple(shape)
        grid = self.latent_grid(shape)
        zero = torch.zeros((), dtype=dtype, device=device)
        z = pyro.sample(sites.LATENT, dist.Normal(zero, 1.0).expand(grid).to_event(3))
        x = pyro.deterministic(sites.IMAGE, self.decode(z, shape), event_dim=2)
        if self.penalised:
            pyro.factor(sites.IMAGE_PENALTY, self.log_penalty(x))
        return x

    # -- the amortised start -----------------------------------------------------------------
    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r""":math:`q_\phi(z \mid y)` as ``(loc, scale)`` from a starting image on the latent
        grid (the observation extended beyond its frame), leading axes batch."""
        if self.encoder is None:
            raise ValueError("this VAE prior has no encoder")
        shape = tuple(image.shape[-2:])
        lead = image.shape[:-2]
        padded_shape = tuple(self.network.factor * n for n in self.latent_grid(shape)[1:])
        flat = (image / self.scale).reshape(-1, 1, *shape)
        pad = [0, padded_shape[1] - shape[1], 0, padded_shape[0] - shape[0]]
        flat = nn.functional.pad(flat, pad, mode="replicate")
        weights = next(self.encoder.parameters(), None)
        if weights is not None and (weights.device, weights.dtype) != (flat.device, flat.dtype):
            self.encoder.to(device=flat.device, dtype=flat.dtype)
        loc, scale = self.encoder(flat)
        grid = loc.shape[1:]
        return loc.reshape(*lead, *grid), scale.reshape(*lead, *grid)

    def initial_values(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.encoder is None:
            grid = self.latent_grid(tuple(image.shape))
            return {sites.LATENT: image.new_zeros(grid)}
        with torch.no_grad():
            return {sites.LATENT: self.encode(image)[0]}

    def initial_scales(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.encoder is None:
            return {}
        with torch.no_grad():
            return {sites.LATENT: self.encode(image)[1]}

    # -- files -------------------------------------------------------------------------------
    @classmethod
    def shipped(cls, **kwargs) -> VAEImagePrior:
        """The model shipped with the package (``scripts/make_vae_prior.py``)."""
        from bayesdeconv.priors.vae_files import load_shipped

        return load_shipped(cls, **kwargs)

    def save(self, path):
        """Write the networks and settings to ``path`` (``.npz``), atomically."""
        from bayesdeconv.priors.vae_files import save_prior

        return save_prior(self, path)

    @classmethod
    def load(cls, path, **kwargs) -> VAEImagePrior:
        """Read a model written by :meth:`save` (or ``bayesdeconv train-vae``); ``kwargs``
        override its settings (e.g. ``any_psf=True``). A file that is not such a model raises
        ``ValueError`` with its name."""
        from bayesdeconv.priors.vae_files import load_prior

        return load_prior(cls, path, **kwargs)

    @classmethod
    def untrained(cls, network: NetworkShape | None = None, *, seed: int = 0, **kwargs):
        """A fresh encoder–decoder pair (for :func:`~bayesdeconv.training.fit_vae`)."""
        network = network or NetworkShape()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder, decoder = ConvEncoder(network), ConvDecoder(network)
        return cls(decoder, encoder=encoder, network=network, **kwargs)

    def settings(self) -> dict[str, Any]:
        """The constructor's settings other than the networks (for copies and files)."""
        return {
            "network": self.network,
            "scale": self.scale,
            "positivity": self.positivity,
            "l1": self.l1,
            "l2": self.l2,
            "psf": self.psf,
            "any_psf": self.any_psf,
            "description": self.description,
            "training": self.training,
        }

    def __repr__(self) -> str:
        terms = [f"{self.network!r}", f"scale={self.scale:g}"]
        terms += [f"{k}={v!r}" for k, v in (("positivity", self.positivity), ("l1", self.l1),
                                            ("l2", self.l2)) if v]  # fmt: skip
        if self.psf is not None:
            terms.append(f"psf={self.psf.shape}")
        return f"VAEImagePrior({', '.join(terms)})"
