r"""Training learned Wiener filters: supervised on (blurred, sharp) pairs, or by the evidence.

Two objectives for the same filter bank :math:`g_d = (v_d - \bar v_d)/\lVert v_d - \bar
v_d\rVert` of a :class:`~bayesdeconv.priors.LearnedWienerPrior`, both through the FFT solve
with automatic differentiation (the closed-form gradients of Moskalev 2019 are what autograd
computes here):

* **supervised** (the thesis' recipe): minimise :math:`\frac1I\sum_i 10\log_{10}
  \mathrm{MSE}(\hat x_i, x_i)` (that is, maximise the mean PSNR) of the Wiener estimate
  :math:`\hat x_i = F^H \overline{K_i} F y_i / (|K_i|^2 + e^{a} Q_0)` over the filters and one
  regularisation weight :math:`e^{a}`;
* **evidence** (the Bayesian way, blurred images only): maximise the exact log evidence
  :math:`\sum_i \log p(y_i \mid Q_0, \alpha_i, \gamma_i)` of the circulant Gaussian model
  (:func:`~bayesdeconv.infer.exact.spectral_log_evidence`) over the filters and every image's
  prior and noise precisions :math:`\alpha_i, \gamma_i` — no sharp images needed.

The circulant model treats every image as periodic; ``periodic=True`` first removes the smooth
component that the image's border jumps would otherwise add to the spectrum (the
periodic-plus-smooth decomposition of Moisan 2011), which matters for real, non-periodic data.

References
----------
.. [1] A. Moskalev, "Trainable regularization for Wiener deconvolution", MSc thesis, Skoltech,
   2019.
.. [2] L. Moisan, "Periodic plus smooth image decomposition", J. Math. Imaging Vis. 39, 2011.
.. [3] D. J. C. MacKay, "Bayesian interpolation", Neural Computation 4(3), 1992 (the evidence).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from bayesdeconv.api import prepare_image
from bayesdeconv.infer._common import estimate_noise_std
from bayesdeconv.infer.exact import spectral_log_evidence
from bayesdeconv.physics.convolution import fft_dims, psf_to_otf, squared_modulus
from bayesdeconv.physics.psf import check_psf
from bayesdeconv.priors.filter_banks import filter_bank, normalise_filters
from bayesdeconv.priors.learned_wiener import LearnedWienerPrior, filter_spectrum
from bayesdeconv.priors.stationary import rfft_weights

__all__ = ["OBJECTIVES", "WienerTraining", "periodic_component", "train_wiener", "wiener_estimate"]

OBJECTIVES = ("evidence", "supervised")


@dataclass(frozen=True)
class WienerTraining:
    """What :func:`train_wiener` returns.

    Attributes
    ----------
    prior : LearnedWienerPrior
        The trained bank (``prior.save(path)`` writes it).
    objective : str
        ``"evidence"`` or ``"supervised"``.
    history : list of float
        Per step: the mean log evidence per pixel (evidence) or the mean PSNR in dB
        (supervised), evaluated before that step's update; the last entry is after training.
    image_precision, noise_precision : numpy.ndarray
        Every training image's :math:`\\alpha_i`, :math:`\\gamma_i` (evidence training).
    regularisation : float or None
        :math:`e^{a} = \\alpha/\\gamma` (supervised training).
    seconds : float
        Wall time of the training loop.
    """

    prior: LearnedWienerPrior
    objective: str
    history: list[float] = field(repr=False)
    image_precision: np.ndarray | None = field(default=None, repr=False)
    noise_precision: np.ndarray | None = field(default=None, repr=False)
    regularisation: float | None = None
    seconds: float = 0.0


def periodic_component(image: torch.Tensor, ndim: int | None = None) -> torch.Tensor:
    r"""The periodic component :math:`p` of :math:`u = p + s` (Moisan 2011), any dimension.

    :math:`s` is the smooth image whose discrete Laplacian equals the border jumps of
    :math:`u`'s periodic extension, :math:`\hat s(\omega) = \hat b(\omega) / \sum_d (2\cos
    \omega_d - 2)` with :math:`\hat s(0) = 0`; the spectrum of :math:`p` has no cross of border
    artefacts, so a circulant model fits it.
    """
    ndim = image.ndim if ndim is None else ndim
    dims = fft_dims(ndim)
    jumps = torch.zeros_like(image)
    denominator = torch.zeros(image.shape[-ndim:], dtype=image.dtype, device=image.device)
    for axis, d in enumerate(dims):
        n = image.shape[d]
        jump = image.select(d, 0) - image.select(d, n - 1)  # u(first) - u(last)
        jumps.select(d, 0).sub_(jump)
        jumps.select(d, n - 1).add_(jump)
        freq = torch.arange(n, dtype=image.dtype, device=image.device) * (2 * math.pi / n)
        view = [1] * ndim
        view[axis] = n
        denominator = denominator + (2 * torch.cos(freq) - 2).reshape(view)
    denominator.view(-1)[0] = 1.0
    smooth_hat = torch.fft.fftn(jumps, dim=dims) / denominator  # the jumps sum to 0: s̄ = 0
    return image - torch.fft.ifftn(smooth_hat, dim=dims).real


def wiener_estimate(
    image: torch.Tensor, otf: torch.Tensor, q0_half: torch.Tensor, regularisation
) -> torch.Tensor:
    r""":math:`F^H \overline{K} F y / (|K|^2 + \lambda Q_0)` from ``rfftn`` half spectra."""
    shape = tuple(image.shape)
    dims = fft_dims(len(shape))
    y_hat = torch.fft.rfftn(image, dim=dims)
    x_hat = otf.conj() * y_hat / (squared_modulus(otf) + regularisation * q0_half)
    return torch.fft.irfftn(x_hat, s=shape, dim=dims)


@dataclass
class _Item:
    y: torch.Tensor
    otf: torch.Tensor
    power: torch.Tensor
    k2: torch.Tensor
    sharp: torch.Tensor | None


def _items(images, psf, sharp, periodic: bool) -> list[_Item]:
    images = list(images) if isinstance(images, (list, tuple)) else [images]
    if not images:
        raise ValueError("train_wiener needs at least one image")
    arrays = [prepare_image(image) for image in images]
    ndims = {a.ndim for a in arrays}
    if len(ndims) != 1:
        raise ValueError("the training images mix 2-D and 3-D; train one bank per dimensionality")
    psfs = list(psf) if isinstance(psf, (list, tuple)) else [psf] * len(arrays)
    if len(psfs) != len(arrays):
        raise ValueError(f"{len(psfs)} PSFs for {len(arrays)} images; give one or one per image")
    if sharp is not None:
        sharp = list(sharp) if isinstance(sharp, (list, tuple)) else [sharp]
        if len(sharp) != len(arrays):
            raise ValueError(f"{len(sharp)} sharp images for {len(arrays)} blurred ones")
    items = []
    for i, (array, k) in enumerate(zip(arrays, psfs, strict=True)):
        kernel = check_psf(k, image_shape=array.shape, name=f"psf {i}")
        y = torch.as_tensor(array, dtype=torch.float64)
        if periodic:
            y = periodic_component(y)
        otf = psf_to_otf(torch.as_tensor(kernel), y.shape)
        power = squared_modulus(torch.fft.rfftn(y))
        truth = None
        if sharp is not None:
            truth = torch.as_tensor(prepare_image(sharp[i]), dtype=torch.float64)
            if truth.shape != y.shape:
                raise ValueError(
                    f"sharp image {i} has shape {tuple(truth.shape)}, "
                    f"its blurred image {tuple(y.shape)}"
                )
        items.append(_Item(y, otf, power, squared_modulus(otf), truth))
    return items


def _initial_filters(filters, support, count, ndim: int, seed: int) -> torch.Tensor:
    if isinstance(filters, str):
        return filter_bank(filters, support, ndim, count, seed=seed)
    bank = torch.as_tensor(np.asarray(filters, dtype=np.float64))
    if bank.ndim != ndim + 1:
        raise ValueError(f"initial filters must be (n_filters, *support) with {ndim} support axes")
    return normalise_filters(bank, ndim)


def train_wiener(
    images,
    psf,
    *,
    sharp=None,
    filters: str | np.ndarray = "dct",
    support: int | tuple[int, ...] = 5,
    count: int | None = None,
    steps: int = 200,
    learning_rate: float = 0.01,
    epsilon: float = 1e-3,
    periodic: bool = True,
    seed: int = 0,
    progress: bool = True,
    description: str = "",
) -> WienerTraining:
    r"""Learn a Wiener filter bank from the user's images.

    Parameters
    ----------
    images : array_like or sequence of array_like
        Blurred, noisy images (all 2-D or all 3-D; shapes may differ).
    psf : array_like or sequence of array_like
        One PSF for all images, or one per image (centred, non-negative, sum 1).
    sharp : sequence of array_like, optional
        The sharp images: train supervised (maximise the Wiener estimate's PSNR). Without
        them, train by the exact evidence of ``images`` alone.
    filters : {"dct", "gabor", "differences", "random"} or array_like
        The starting bank, or its name (:func:`~bayesdeconv.priors.filter_banks.filter_bank`).
    support, count : int
        Filter support (pixels per axis) and number of filters for a named bank (default: the
        whole DCT basis, :math:`s^n - 1` filters).
    steps, learning_rate : int, float
        Adam iterations over the whole training set, and its step size.
    epsilon : float
        The prior's ridge :math:`\varepsilon`.
    periodic : bool
        Train on the periodic components of the images (default; see the module notes). Set
        ``False`` for data blurred circularly (synthetic benchmarks).
    seed : int
        Seeds the random bank.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    WienerTraining
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    items = _items(images, psf, sharp, periodic)
    ndim = items[0].y.ndim
    objective = "evidence" if sharp is None else "supervised"
    start = _initial_filters(filters, support, count, ndim, seed)
    raw = start.clone().requires_grad_(True)
    log_alpha, log_gamma, log_lambda = _initial_precisions(items, start, epsilon)
    params = [raw, log_lambda] if objective == "supervised" else [raw, log_alpha, log_gamma]
    optimiser = torch.optim.Adam(params, lr=float(learning_rate))
    loss_fn = _supervised_loss if objective == "supervised" else _negative_evidence
    history: list[float] = []
    begin = time.perf_counter()
    bar = tqdm(
        range(int(steps)),
        desc=f"training Wiener filters ({objective})",
        unit="step",
        file=sys.stderr,
        disable=not progress,
    )
    for _ in bar:
        optimiser.zero_grad()
        loss = loss_fn(
            items, normalise_filters(raw, ndim), epsilon, log_alpha, log_gamma, log_lambda
        )
        loss.backward()
        optimiser.step()
        history.append(-float(loss.detach()))
        bar.set_postfix({"objective": f"{history[-1]:.4f}"})
    with torch.no_grad():
        bank = normalise_filters(raw, ndim)
        history.append(-float(loss_fn(items, bank, epsilon, log_alpha, log_gamma, log_lambda)))
    seconds = time.perf_counter() - begin
    regularisation = float(log_lambda.detach().exp()) if objective == "supervised" else None
    prior = LearnedWienerPrior(
        bank.detach(), epsilon=epsilon, regularisation=regularisation, description=description
    )
    evidence = objective == "evidence"
    return WienerTraining(
        prior=prior,
        objective=objective,
        history=history,
        image_precision=log_alpha.detach().exp().numpy() if evidence else None,
        noise_precision=log_gamma.detach().exp().numpy() if evidence else None,
        regularisation=regularisation,
        seconds=seconds,
    )


def _spectra(items: Sequence[_Item], bank: torch.Tensor, epsilon: float) -> dict:
    """:math:`Q_0` half spectra by image shape (one FFT per distinct shape)."""
    spectra = {}
    for item in items:
        shape = tuple(item.y.shape)
        if shape not in spectra:
            spectra[shape] = (filter_spectrum(bank, shape) + epsilon)[..., : shape[-1] // 2 + 1]
    return spectra


def _negative_evidence(items, bank, epsilon, log_alpha, log_gamma, _log_lambda):
    spectra = _spectra(items, bank, epsilon)
    total = 0.0
    for i, item in enumerate(items):
        shape = tuple(item.y.shape)
        evidence = spectral_log_evidence(
            item.power, item.k2, spectra[shape], log_alpha[i].exp(), log_gamma[i].exp(), shape
        )
        total = total + evidence / item.y.numel()
    return -total / len(items)


def _supervised_loss(items, bank, epsilon, _log_alpha, _log_gamma, log_lambda):
    spectra = _spectra(items, bank, epsilon)
    total = 0.0
    for item in items:
        estimate = wiener_estimate(item.y, item.otf, spectra[tuple(item.y.shape)], log_lambda.exp())
        mse = (estimate - item.sharp).square().mean()
        peak = item.sharp.max() - item.sharp.min()
        total = total + 10 * torch.log10(peak.square() / mse)
    return -total / len(items)


def _initial_precisions(items, bank, epsilon):
    r"""Starting :math:`\alpha_i, \gamma_i` (the image as a typical prior draw; Immerkær's
    noise estimate) and :math:`\lambda = \bar\gamma^{-1} \bar\alpha`."""
    alphas, gammas = [], []
    spectra = _spectra(items, bank, epsilon)
    for item in items:
        shape = tuple(item.y.shape)
        n = item.y.numel()
        w = rfft_weights(shape)
        quad = float((w * spectra[shape] * item.power).sum()) / n
        alphas.append(n / max(quad, 1e-300))
        sigma = max(estimate_noise_std(item.y), 1e-6 * float(item.y.abs().max()) + 1e-12)
        gammas.append(1.0 / sigma**2)
    log_alpha = torch.tensor(alphas, dtype=torch.float64).log().requires_grad_(True)
    log_gamma = torch.tensor(gammas, dtype=torch.float64).log().requires_grad_(True)
    log_lambda = torch.tensor(
        float(np.mean(np.log(alphas)) - np.mean(np.log(gammas))), dtype=torch.float64
    ).requires_grad_(True)
    return log_alpha, log_gamma, log_lambda
