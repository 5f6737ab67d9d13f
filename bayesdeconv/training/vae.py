r"""Training a VAE image prior on the user's own noisy (blurred) images: DivNoising, DivBlurring.

The training model is the deconvolution model itself, in a plate over patches:

.. math::
    z_n \sim \mathcal N(0, I), \quad x_n = s\, g_\theta(z_n), \quad
    y_n \sim p_{noise}(y_n \mid A x_n), \qquad
    q_\phi(z_n \mid y_n) = \mathcal N\big(\mu_\phi(y_n), \operatorname{diag}\sigma^2_\phi(y_n)\big),

fitted by ``pyro.infer.SVI`` with the encoder as the amortised guide (Kingma & Welling 2014),
mini-batches by plate subsampling and the analytic KL (``TraceMeanField_ELBO``):

.. math::
    \mathcal L(\theta, \phi) = \sum_n \mathbb E_{q_\phi}\big[\log p(y_n \mid A\, s\,
    g_\theta(z_n))\big] - \beta\, \mathrm{KL}\big(q_\phi(z_n \mid y_n)\,\|\,\mathcal N(0, I)\big)
    + \log(\text{penalties}).

:math:`A` is the known PSF (DivBlurring) or the identity (``psf=None``: DivNoising); nothing
else differs. :math:`\beta` rises linearly towards 1, reached at epoch ``kl_warmup`` (KL
annealing); the *collapse guard* halves it for the next epoch whenever the held-out KL falls
below ``min_kl`` nats per latent value (the posterior collapsing into the prior, when
the decoder ignores :math:`z`), and lets it recover once the KL does.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, TraceMeanField_ELBO
from pyro.optim import ClippedAdam
from pyro.poutine.messenger import Messenger
from tqdm import tqdm

from bayesdeconv import sites
from bayesdeconv.infer._common import estimate_noise_std, start_image
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.likelihoods.base import Likelihood
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import check_psf
from bayesdeconv.priors.vae import VAEImagePrior
from bayesdeconv.priors.vae_networks import NetworkShape

__all__ = ["fit_vae", "patches", "training_noise", "vae_loss"]


class _KLWeight(Messenger):
    """Multiplies the log densities of the latent site by :math:`\\beta` (model and guide)."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = weight

    def _process_message(self, msg) -> None:
        if msg["name"] == sites.LATENT:
            msg["scale"] = msg["scale"] * self.weight


def patches(images, size: int) -> np.ndarray:
    """Non-overlapping ``size``×``size`` patches of every image of a stack ``(n, H, W)``, a
    list of 2-D images or one image (the remainder of each image is dropped),
    ``(n, size, size)``."""
    if isinstance(images, np.ndarray | torch.Tensor) and images.ndim == 2:
        images = [images]  # one image
    stack = [np.asarray(image, dtype=np.float64) for image in images]
    if not stack:
        raise ValueError("no training images")
    out = []
    for index, image in enumerate(stack):
        if image.ndim != 2:
            raise ValueError(f"training image {index} is {image.ndim}-D; the VAE prior is 2-D")
        if not np.isfinite(image).all():
            raise ValueError(f"training image {index} contains NaN or Inf")
        if min(image.shape) < size:
            raise ValueError(
                f"training image {index} of shape {image.shape} is smaller than the patch {size}"
            )
        rows, cols = image.shape[0] // size, image.shape[1] // size
        tiles = image[: rows * size, : cols * size].reshape(rows, size, cols, size)
        out.append(tiles.transpose(0, 2, 1, 3).reshape(-1, size, size))
    return np.concatenate(out)


def training_noise(noise: Likelihood, data: np.ndarray) -> Likelihood:
    """The noise model with every learned precision fixed: the noise precision at the median
    of the patches' noise estimates (Immerkær); other learned parameters are refused."""
    learned = [name for name, spec in noise.hyperparameters().items() if spec.learned]
    unknown = [name for name in learned if name != sites.NOISE_PRECISION]
    if unknown:
        raise ValueError(f"fix the noise model's {', '.join(unknown)} for training")
    if not learned:
        return noise
    sigma = float(np.median([estimate_noise_std(patch) for patch in data[:512]]))
    return noise.with_hyperparameters({sites.NOISE_PRECISION: 1.0 / sigma**2})


def _split(n: int, held_out: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_held = max(1, int(round(held_out * n))) if held_out > 0 else 0
    if n - n_held < 1:
        raise ValueError(f"{n} patches are too few to hold {held_out:.0%} of them out")
    return order[n_held:], order[:n_held]


def _programs(model: DeconvolutionModel, prior: VAEImagePrior, *, train: bool = True):
    """The training model and its amortised guide over a mini-batch ``index`` of ``size``
    patches; ``train`` registers the networks' weights with Pyro (else they stay fixed)."""

    def program(batch: torch.Tensor, size: int, index: torch.Tensor, beta: float):
        if train:
            pyro.module("vae_decoder", prior.decoder)
        with pyro.plate("patches", size, subsample=index), _KLWeight(beta):
            model(batch)

    def guide(batch: torch.Tensor, size: int, index: torch.Tensor, beta: float):
        if train:
            pyro.module("vae_encoder", prior.encoder)
        with pyro.plate("patches", size, subsample=index), _KLWeight(beta):
            loc, scale = prior.encode(start_image(model, batch))
            pyro.sample(sites.LATENT, dist.Normal(loc, scale).to_event(3))

    return program, guide


def vae_loss(prior: VAEImagePrior, model: DeconvolutionModel, batch: torch.Tensor) -> float:
    """Negative ELBO per pixel of ``batch`` under ``model`` (analytic KL, one draw)."""
    program, guide = _programs(model, prior, train=False)
    index = torch.arange(len(batch), device=batch.device)
    with torch.no_grad():
        loss = TraceMeanField_ELBO().loss(program, guide, batch, len(batch), index, 1.0)
    return loss / batch.numel()


def _kl_per_value(prior: VAEImagePrior, model: DeconvolutionModel, batch: torch.Tensor) -> float:
    with torch.no_grad():
        loc, scale = prior.encode(start_image(model, batch))
    kl = 0.5 * (loc.square() + scale.square() - 1.0) - scale.log()
    return float(kl.mean())


def fit_vae(
    images,
    psf=None,
    *,
    noise: Likelihood | None = None,
    network: NetworkShape | None = None,
    patch: int = 64,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 1e-3,
    lr_decay: float = 0.1,
    kl_start: float = 0.1,
    kl_warmup: int = 5,
    min_kl: float = 1e-3,
    held_out: float = 0.1,
    positivity: str | float | None = None,
    l1: float = 0.0,
    l2: float = 0.0,
    boundary: str = "valid",
    seed: int = 0,
    checkpoint=None,
    resume: bool = False,
    description: str = "",
    device: str | torch.device | None = None,
    progress: bool = True,
) -> VAEImagePrior:
    r"""Train a :class:`~bayesdeconv.priors.VAEImagePrior` on noisy (blurred) images.

    Parameters
    ----------
    images : array_like or sequence of arrays
        2-D images (a stack ``(n, H, W)`` or a list), in the units the prior will see; cut
        into non-overlapping ``patch``×``patch`` patches.
    psf : array_like, optional
        The blur of the images (DivBlurring); ``None`` trains a denoising VAE (DivNoising).
    noise : Likelihood, optional
        Noise model (default :class:`~bayesdeconv.likelihoods.GaussianNoise`); a learned
        noise precision is fixed at the median noise estimate of the patches
        (:func:`training_noise`).
    network : NetworkShape, optional
        Encoder–decoder shape (default width 16, depth 2, 16 latent channels, about 30k
        weights).
    patch, epochs, batch_size, lr
        Patch size (a multiple of :math:`2^{depth}`), passes over the data, mini-batch size,
        Adam learning rate (gradients clipped at norm 10).
    lr_decay : float
        The learning rate decays geometrically to ``lr * lr_decay`` over the ``epochs``.
    kl_start, kl_warmup : float, int
        KL annealing: :math:`\beta = \beta_0 + (1 - \beta_0) \min(1, e / w)` in epoch
        :math:`e = 1, 2, \dots` (:math:`\beta_0` = ``kl_start``, :math:`w` = ``kl_warmup``).
    min_kl : float
        Collapse guard threshold, nats per latent value on the held-out patches.
    held_out : float
        Fraction of the patches kept out of training; their loss is reported per epoch.
    positivity, l1, l2
        Penalties of the model (see :class:`~bayesdeconv.priors.VAEImagePrior`).
    boundary : {"valid", "circular"}
        Boundary of the blur on each patch (``"valid"``: the scene extends beyond it).
    seed : int
        Seeds the initial weights, the held-out split and the mini-batch order.
    checkpoint : path, optional
        Written (atomically) after every epoch; with ``resume=True`` an existing checkpoint
        is continued from its last completed epoch (weights and schedule; Adam's moment
        estimates restart).
    description : str
        What the data are (kept in the model file).
    device : str or torch.device, optional
        Where to train (``"cuda"`` for a GPU; default the CPU). The saved model is the same.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    VAEImagePrior
        The trained prior; ``prior.training["history"]`` lists per epoch the training loss
        (the :math:`\beta`-weighted negative ELBO per pixel, averaged over the epoch's steps),
        the held-out loss (negative ELBO per pixel at :math:`\beta = 1`), the held-out KL per
        latent value, :math:`\beta`, the learning rate, whether the collapse guard acted and
        the elapsed seconds. Training leaves the caller's random state as it was.
    """
    network = network or NetworkShape()
    for name, value in (("patch", patch), ("epochs", epochs), ("batch_size", batch_size),
                        ("kl_warmup", kl_warmup)):  # fmt: skip
        if int(value) != value or value < (0 if name == "kl_warmup" else 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if patch % network.factor:
        raise ValueError(f"patch must be a multiple of {network.factor}, got {patch}")
    if not lr > 0 or not 0 < lr_decay <= 1 or not 0 < kl_start <= 1 or not 0 <= held_out < 1:
        raise ValueError("need lr > 0, 0 < lr_decay <= 1, 0 < kl_start <= 1, 0 <= held_out < 1")
    data = patches(images, patch)
    psf_array = None if psf is None else check_psf(psf, image_shape=(patch, patch))
    noise = training_noise(noise if noise is not None else GaussianNoise(), data)
    noise.check_observed(data)
    signal = noise.signal_units(torch.as_tensor(data)).numpy()
    scale = float(max(np.percentile(signal, 99.9), 1e-12))
    rng = np.random.default_rng(seed)
    train, held = _split(len(data), held_out, rng)
    boundary = "circular" if psf_array is None else boundary
    record = {"patch": int(patch), "patches": len(train), "held_out": len(held),
              "epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr),
              "lr_decay": float(lr_decay), "seed": int(seed), "noise": repr(noise),
              "boundary": boundary, "history": []}  # fmt: skip
    prior = None
    if resume and checkpoint is not None and Path(checkpoint).exists():
        prior = VAEImagePrior.load(checkpoint)
        _check_resumable(prior, checkpoint, record, network, psf_array,
                         {"positivity": positivity, "l1": float(l1), "l2": float(l2)})  # fmt: skip
        record["history"] = list(prior.training.get("history", []))
    if prior is None:
        prior = VAEImagePrior.untrained(network, seed=seed, scale=scale, positivity=positivity,
                                        l1=l1, l2=l2, description=description)  # fmt: skip
    prior.scale = scale
    prior.psf = psf_array
    device = torch.device("cpu" if device is None else device)
    operator = ConvolutionOperator(
        np.ones((1, 1)) if psf_array is None else psf_array, (patch, patch),
        boundary="circular" if psf_array is None else boundary, dtype=torch.float32,
        device=device,
    )  # fmt: skip
    model = DeconvolutionModel(operator, prior=prior, noise=noise)
    for net in (prior.encoder, prior.decoder):
        net.to(device)
    tensors = torch.as_tensor(data, dtype=torch.float32, device=device)
    held_batch = tensors[held[:256]] if len(held) else tensors[train[:256]]
    program, guide = _programs(model, prior)
    first = len(record["history"])
    factor = 1.0 if not record["history"] else record["history"][-1]["guard"]
    start_time = time.perf_counter() - (record["history"][-1]["seconds"] if first else 0.0)
    for net in (prior.encoder, prior.decoder):
        net.requires_grad_(True)
    devices = [device] if device.type == "cuda" else []
    try:  # the caller's random state is left as it was
        with pyro.get_param_store().scope(), torch.random.fork_rng(devices=devices):
            per_epoch = -(-len(train) // batch_size)
            optim = ClippedAdam({
                "lr": lr * lr_decay ** (first / epochs),
                "lrd": lr_decay ** (1.0 / (epochs * per_epoch)),
                "clip_norm": 10.0,
            })  # fmt: skip
            svi = SVI(program, guide, optim, TraceMeanField_ELBO())
            bar = tqdm(range(first, epochs), desc="VAE", file=sys.stderr, disable=not progress,
                       leave=False, initial=first, total=epochs)  # fmt: skip
            for epoch in bar:
                ramp = 1.0 if kl_warmup == 0 else min(1.0, (epoch + 1) / kl_warmup)
                beta = factor * (kl_start + (1.0 - kl_start) * ramp)
                order = np.random.default_rng([seed, epoch]).permutation(train)
                torch.manual_seed(int(np.random.default_rng([seed, epoch, 1]).integers(2**62)))
                total, steps = 0.0, 0
                for lo in range(0, len(order), batch_size):
                    index = torch.as_tensor(order[lo : lo + batch_size], device=device)
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", "Encountered NaN")
                        loss = svi.step(tensors[index], len(train), index, beta)
                    if not math.isfinite(loss):
                        raise FloatingPointError(
                            f"VAE training diverged in epoch {epoch}; lower lr"
                        )
                    total, steps = total + loss, steps + 1
                kl = _kl_per_value(prior, model, held_batch)
                collapsed = kl < min_kl and epoch + 1 >= kl_warmup
                factor = max(factor / 2, 0.05) if collapsed else min(1.0, factor * 2)
                entry = {
                    "epoch": epoch + 1,
                    "train": total / (steps * len(train) * patch * patch),
                    "held_out": vae_loss(prior, model, held_batch),
                    "kl_per_value": kl,
                    "beta": beta,
                    "lr": lr * lr_decay ** (epoch / epochs),
                    "guard": factor,
                    "collapsed": bool(collapsed),
                    "seconds": time.perf_counter() - start_time,
                }
                record["history"].append(entry)
                bar.set_postfix(loss=f"{entry['held_out']:.4g}", kl=f"{kl:.3g}", refresh=False)
                if checkpoint is not None:
                    prior.training = dict(record)
                    prior.save(checkpoint)
            bar.close()
    finally:
        for net in (prior.encoder, prior.decoder):
            net.requires_grad_(False)
    if record["history"] and record["history"][-1]["collapsed"]:
        warnings.warn(
            "the VAE's posterior collapsed (held-out KL below min_kl): the decoder ignores its "
            "latent code; train longer with a slower KL warm-up or a smaller network",
            RuntimeWarning, stacklevel=2,
        )  # fmt: skip
    prior.training = record
    return prior


def _check_resumable(prior, checkpoint, record: dict, network, psf, penalties: dict) -> None:
    """Refuse to continue a checkpoint made with other data or settings."""
    saved = prior.training
    differences = [key for key in ("patch", "patches", "held_out", "seed", "noise", "boundary")
                   if saved.get(key) != record[key]]  # fmt: skip
    if prior.network != network:
        differences.append("network")
    same_psf = (prior.psf is None) == (psf is None) and (
        psf is None or (prior.psf.shape == psf.shape and np.allclose(prior.psf, psf))
    )
    if not same_psf:
        differences.append("psf")
    differences += [key for key, value in penalties.items() if getattr(prior, key) != value]
    if differences:
        raise ValueError(
            f"{checkpoint} was trained with other settings or data ({', '.join(differences)}); "
            "resume with the same ones, or start afresh"
        )
