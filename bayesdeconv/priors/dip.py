r"""Deep image priors: SelfDeblur's generated image and the variational DIP's guided image.

:class:`DeepImagePrior` (SelfDeblur, Ren et al. [2]_) makes the image a deterministic output
of an untrained skip encoder–decoder :math:`g_\theta` on fixed noise :math:`z`,

.. math::
    x = \sigma\big(g_\theta(z)\big), \qquad \hat\theta = \arg\max_\theta \log p(y \mid x, k),

so the image site is ``pyro.deterministic`` and MAP over the weights (with the kernel from a
:class:`~bayesdeconv.psf_priors.GeneratedPSF`) is SelfDeblur. There is no density on
:math:`x`: the architecture and the optimisation path regularise it (Ulyanov et al. [1]_).

:class:`VariationalDIP` (Huo et al. [3]_) keeps a real image prior :math:`p(x)` (sparse
gradients, extreme channels) in the model, and the network emits the posterior instead:
:math:`q(x) = \mathcal N\big(\sigma(g_\theta(z)_1),\ \mathrm{diag}\,
\mathrm{softplus}(g_\theta(z)_2)^2\big)`, fitted by the ELBO with SVI
(:class:`~bayesdeconv.guides.DIPGuide`).

Both carry a :class:`DIPSchedule` (the document of Brožová 2023 argues that the schedule is
what makes DIP work, so it belongs with the prior), and pick the published network and
schedule on a GPU and a CPU-sized preset on a CPU unless told otherwise. Intensities are
assumed in [0, 1] (the sigmoid output).

References
----------
.. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep image prior", CVPR 2018.
.. [2] D. Ren, K. Zhang, Q. Wang, Q. Hu, W. Zuo, "Neural blind deconvolution using deep
   priors", CVPR 2020.
.. [3] D. Huo, A. Masoumzadeh, R. Kushol, Y.-H. Yang, "Blind image deconvolution using
   variational deep image prior", IEEE TPAMI 45(10), 2023.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pyro
import torch
import torch.nn.functional as F

from bayesdeconv import sites
from bayesdeconv.priors.base import ImagePrior, NetworkPrior
from bayesdeconv.priors.dip_networks import GeneratorShape, SkipGenerator

__all__ = [
    "CPU_NETWORK",
    "CPU_SCHEDULE",
    "CPU_VDIP_SCHEDULE",
    "PUBLISHED_NETWORK",
    "PUBLISHED_SCHEDULE",
    "VDIP_SCHEDULE",
    "DIPSchedule",
    "DeepImagePrior",
    "VariationalDIP",
]

MODULE = "dip_image"
"""Pyro module name of the image generator's parameters (learning rate ``lr_image``)."""


@dataclass(frozen=True)
class DIPSchedule:
    r"""How a deep image prior is fitted (Adam, step decay, loss switch, pretraining).

    Attributes
    ----------
    steps : int
        Adam steps (SelfDeblur: 5000).
    lr_image, lr_psf : float
        Learning rates of the image generator (and of every other parameter) and of the
        kernel generator (SelfDeblur: 1e-2 and 1e-4).
    milestones : tuple of int
        Steps at which both rates are multiplied by ``gamma`` (SelfDeblur: 2000, 3000, 4000;
        ×0.5).
    gamma : float
    ssim_after : int or None
        Step from which the data term is :math:`1 - \mathrm{SSIM}(k \circledast x, y)`
        instead of the Gaussian likelihood (SelfDeblur: 1000); ``None`` never switches.
    pretrain : int
        Steps first spent on :math:`\alpha\,\mathcal L + (1 - \alpha)\,(\lVert \bar x - y
        \rVert^2 + \lVert k - u \rVert^2)`, pulling the image towards the observation and
        the kernel towards the uniform :math:`u` (Brožová 2023: 500 with
        :math:`\alpha = 0.9`); 0 for none.
    pretrain_weight : float
        :math:`\alpha`.
    kl_warmup : int
        Variational DIP: steps over which the weight of the prior and entropy terms rises
        linearly from 0 to 1 (0: full weight at once).
    """

    steps: int = 5000
    lr_image: float = 1e-2
    lr_psf: float = 1e-4
    milestones: tuple[int, ...] = (2000, 3000, 4000)
    gamma: float = 0.5
    ssim_after: int | None = 1000
    pretrain: int = 0
    pretrain_weight: float = 0.9
    kl_warmup: int = 0

    def __post_init__(self) -> None:
        if int(self.steps) != self.steps or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if not (self.lr_image > 0 and self.lr_psf > 0 and 0 < self.gamma <= 1):
            raise ValueError("need lr_image > 0, lr_psf > 0 and 0 < gamma <= 1")
        if not 0 <= self.pretrain_weight <= 1:
            raise ValueError(f"pretrain_weight must be in [0, 1], got {self.pretrain_weight}")
        for name in ("pretrain", "kl_warmup"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        if self.ssim_after is not None and self.ssim_after < 0:
            raise ValueError(f"ssim_after must be non-negative or None, got {self.ssim_after}")

    def scaled(self, steps: int) -> DIPSchedule:
        """The same schedule over ``steps`` steps (milestones and switches in proportion)."""
        f = steps / self.steps

        def at(value):
            return None if value is None else round(value * f)

        return dataclasses.replace(
            self,
            steps=int(steps),
            milestones=tuple(round(m * f) for m in self.milestones),
            ssim_after=at(self.ssim_after),
            pretrain=round(self.pretrain * f),
            kl_warmup=round(self.kl_warmup * f),
        )


PUBLISHED_NETWORK = GeneratorShape(width=128, depth=5, skip=16, input_channels=8)
"""SelfDeblur's image generator (about 2.3 M weights; 4–10 s a step on two CPU cores)."""
PUBLISHED_SCHEDULE = DIPSchedule()
"""SelfDeblur's schedule: 5000 Adam steps, 1e-2 / 1e-4, ×0.5 at 2k/3k/4k, SSIM after 1k."""
CPU_NETWORK = GeneratorShape(width=16, depth=4, skip=8, input_channels=8)
"""The CPU preset's generator (34 k weights; about 0.15 s a step at 277², two cores)."""
CPU_SCHEDULE = PUBLISHED_SCHEDULE.scaled(600)
"""The CPU preset's schedule: the published one compressed to 600 steps (about 2.5 min at
255² on one core)."""
VDIP_SCHEDULE = dataclasses.replace(PUBLISHED_SCHEDULE, ssim_after=None, pretrain=500)
"""The variational DIP's default: SelfDeblur's rates and decay, 500 pretraining steps and the
Gaussian likelihood throughout (the SSIM switch is an option)."""
CPU_VDIP_SCHEDULE = dataclasses.replace(VDIP_SCHEDULE.scaled(600), lr_psf=1e-3)
"""The variational DIP's CPU preset: 600 steps, and a kernel rate of 1e-3 (600 steps at
1e-4 barely move the kernel: kernel NCC 0.82 against 0.95 at 1e-3 on a 64² test image)."""


def _on_gpu(device) -> bool:
    return torch.device(device or "cpu").type == "cuda"


class _Generated(NetworkPrior):
    """Shared machinery: the generator, its fixed input, the device-dependent preset."""

    channels = 1
    schedules = (PUBLISHED_SCHEDULE, CPU_SCHEDULE)
    """(GPU, CPU) default schedules."""

    def __init__(self, network, schedule, seed) -> None:
        if network is not None and not isinstance(network, GeneratorShape):
            raise TypeError(f"network must be a GeneratorShape, got {network!r}")
        if schedule is not None and not isinstance(schedule, DIPSchedule):
            raise TypeError(f"schedule must be a DIPSchedule, got {schedule!r}")
        self.network, self.schedule, self.seed = network, schedule, int(seed)
        self.generator: SkipGenerator | None = None
        self.input: torch.Tensor | None = None

    def settings(self, device) -> tuple[GeneratorShape, DIPSchedule]:
        gpu = _on_gpu(device)
        network = self.network or (PUBLISHED_NETWORK if gpu else CPU_NETWORK)
        return network, self.schedule or self.schedules[0 if gpu else 1]

    def reset(self, shape, *, seed=None, dtype=torch.float32, device=None) -> None:
        if seed is not None:
            self.seed = int(seed)
        network, _ = self.settings(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            generator = SkipGenerator(network, self.channels)
            noise = 0.1 * torch.rand(1, network.input_channels, *shape)
        self.generator = generator.to(dtype=dtype, device=device)
        self.input = noise.to(dtype=dtype, device=device)

    def network_output(self) -> torch.Tensor:
        return pyro.module(MODULE, self.generator)(self.input)[0]

    def _ready(self, shape, dtype, device) -> None:
        x = self.input
        if (
            x is None
            or tuple(x.shape[2:]) != tuple(shape)
            or x.dtype != dtype
            or (x.device != torch.device(device or "cpu"))
        ):
            self.reset(shape, dtype=dtype, device=device)

    def check_model(self, model) -> None:
        if model.ndim != 2:
            raise ValueError(f"{type(self).__name__} supports 2-D images, got {model.ndim}-D")
        network, _ = self.settings(model.device)
        smallest = network.smallest_image()
        if min(model.latent_shape) < smallest:
            raise ValueError(
                f"the image generator of depth {network.depth} needs at least {smallest} "
                f"pixels per axis, got {model.latent_shape}"
            )

    def blind_psf_prior(self, size):
        from bayesdeconv.psf_priors.generated import GeneratedPSF

        return GeneratedPSF(size, seed=self.seed)


class DeepImagePrior(_Generated):
    r"""SelfDeblur's image: :math:`x = \sigma(g_\theta(z))`, a deterministic site.

    Parameters
    ----------
    network : GeneratorShape, optional
        The generator; default :data:`PUBLISHED_NETWORK` on a GPU, :data:`CPU_NETWORK` on a
        CPU.
    schedule : DIPSchedule, optional
        Default :data:`PUBLISHED_SCHEDULE` on a GPU, :data:`CPU_SCHEDULE` on a CPU.
    seed : int
        Seeds the weights and the input noise (restarts reseed them).

    Notes
    -----
    Fit it with ``deconvolve(y, psf_size=..., prior="dip", method="map")``: blind, the kernel
    comes from a :class:`~bayesdeconv.psf_priors.GeneratedPSF`. The sigmoid keeps the image
    in (0, 1).
    """

    name = "dip"

    def __init__(
        self,
        network: GeneratorShape | None = None,
        schedule: DIPSchedule | None = None,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__(network, schedule, seed)

    @classmethod
    def published(cls, *, seed: int = 0) -> DeepImagePrior:
        """SelfDeblur's network and schedule on every device."""
        return cls(PUBLISHED_NETWORK, PUBLISHED_SCHEDULE, seed=seed)

    @classmethod
    def cpu(cls, *, seed: int = 0) -> DeepImagePrior:
        """The CPU preset on every device."""
        return cls(CPU_NETWORK, CPU_SCHEDULE, seed=seed)

    def sample(self, shape, *, dtype, device) -> torch.Tensor:
        self._ready(shape, dtype, device)
        x = torch.sigmoid(self.network_output()[0])
        return pyro.deterministic(sites.IMAGE, x, event_dim=len(shape))

    def __repr__(self) -> str:
        return f"DeepImagePrior(network={self.network}, schedule={self.schedule})"


class VariationalDIP(_Generated):
    r"""A real image prior whose posterior :math:`q(x)` a deep image prior parameterises.

    The model's image site is the ``base`` prior's (its density enters the ELBO); the
    generator's two output maps are the guide's mean :math:`\sigma(h_1)` and scale
    :math:`s_0\,\mathrm{softplus}(h_2 + c)` with :math:`c` chosen so that the scale starts
    at ``init_scale``.

    Parameters
    ----------
    base : ImagePrior
        The prior on :math:`x`, e.g. ``priors.sparse()`` (VDIP-sparse) or
        :class:`~bayesdeconv.priors.ExtremeChannelPrior` (VDIP-extreme).
    network, schedule, seed
        As :class:`DeepImagePrior`; the default schedule is :data:`VDIP_SCHEDULE` on a GPU
        and :data:`CPU_VDIP_SCHEDULE` on a CPU.
    init_scale : float
        Starting posterior std of every pixel.
    """

    variational = True
    channels = 2
    schedules = (VDIP_SCHEDULE, CPU_VDIP_SCHEDULE)

    def __init__(
        self,
        base: ImagePrior,
        network: GeneratorShape | None = None,
        schedule: DIPSchedule | None = None,
        *,
        seed: int = 0,
        init_scale: float = 0.01,
    ) -> None:
        if not isinstance(base, ImagePrior) or isinstance(base, NetworkPrior):
            raise TypeError(f"base must be an image prior with a density, got {base!r}")
        if not init_scale > 0:
            raise ValueError(f"init_scale must be positive, got {init_scale}")
        super().__init__(network, schedule, seed)
        self.base, self.init_scale = base, float(init_scale)
        self.name = f"vdip-{base.name}"

    def sample(self, shape, *, dtype, device) -> torch.Tensor:
        return self.base.sample(shape, dtype=dtype, device=device)

    def hyperparameters(self):
        return self.base.hyperparameters()

    def initial_values(self, image):
        return self.base.initial_values(image)

    def check_model(self, model) -> None:
        super().check_model(model)
        self.base.check_model(model)

    def guide_moments(self, shape, *, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The guide's per-pixel mean and std of :math:`q(x)`."""
        self._ready(shape, dtype, device)
        h = self.network_output()
        offset = torch.log(torch.expm1(torch.tensor(1.0)))  # softplus(offset) = 1
        scale = self.init_scale * F.softplus(h[1] + offset)
        return torch.sigmoid(h[0]), scale + 1e-6

    def __repr__(self) -> str:
        return f"VariationalDIP(base={self.base!r}, network={self.network})"
