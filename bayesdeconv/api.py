"""The one-call API: :func:`deconvolve`."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from bayesdeconv.infer._common import to_numpy
from bayesdeconv.infer.blind import PSF_COVARIANCES, PSF_INITS, PSF_UPDATES
from bayesdeconv.infer.engines import AUTO_ORDER, FitOptions
from bayesdeconv.infer.kernel_size import estimate_psf_size
from bayesdeconv.infer.result import Result
from bayesdeconv.likelihoods.base import CountLikelihood
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import BOUNDARIES, ConvolutionOperator
from bayesdeconv.physics.psf import check_psf
from bayesdeconv.priors.base import CirculantGaussianPrior
from bayesdeconv.psf_priors import PSFPrior, check_psf_size
from bayesdeconv.registry import ENGINES, IMAGE_PRIORS, LIKELIHOODS, PSF_PRIORS

__all__ = [
    "METHODS",
    "NOISES",
    "PRIORS",
    "deconvolve",
    "default_prior",
    "image_prior",
    "prepare_image",
    "prepare_mask",
    "select_engine",
]

PRIORS = IMAGE_PRIORS.names
NOISES = LIKELIHOODS.names
METHODS = ENGINES.names


def _to_numpy(value, name: str) -> np.ndarray:
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers: {exc}") from None
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise ValueError(f"{name} must hold real numbers, got complex values")
    return array.astype(np.float64)


def prepare_image(image, mask: np.ndarray | None = None) -> np.ndarray:
    """Check an observed image: 2-D or 3-D, non-empty, finite wherever it is observed."""
    array = _to_numpy(image, "image")
    if array.ndim not in (2, 3):
        raise ValueError(f"image must be 2-D or 3-D, got shape {array.shape}")
    if array.size == 0 or min(array.shape) < 2:
        raise ValueError(
            f"image of shape {array.shape} is too small or has a singleton axis "
            "(squeeze it to a 2-D image)"
        )
    bad = ~np.isfinite(array)
    if mask is not None:
        bad &= mask
    if bad.any():
        raise ValueError(
            f"image contains {int(bad.sum())} NaN or Inf pixel(s); mark them as missing "
            "with a mask (False = missing)"
        )
    return array


def prepare_mask(mask, shape: tuple[int, ...]) -> np.ndarray | None:
    """Check an observation mask: same shape as the image, 0/1 or boolean, not all missing."""
    if mask is None:
        return None
    array = mask.detach().cpu().numpy() if torch.is_tensor(mask) else np.asarray(mask)
    if array.shape != tuple(shape):
        raise ValueError(f"mask shape {array.shape} does not match the image shape {tuple(shape)}")
    if array.dtype != bool:
        if not np.issubdtype(array.dtype, np.number) or not np.isin(array, (0, 1)).all():
            raise ValueError("mask must be boolean or hold only 0 and 1 (1 = observed)")
        array = array.astype(bool)
    if not array.any():
        raise ValueError("the mask marks no pixel as observed")
    return array


def image_prior(prior, *, blind: bool = False):
    """The image prior named ``prior`` (see :data:`bayesdeconv.registry.IMAGE_PRIORS`); prior
    objects pass through.

    ``"sparse"`` is :func:`~bayesdeconv.priors.sparse` with its gradient scale 0.01 for a
    known PSF and ``BLIND_SPARSE_SCALE`` (0.02) when ``blind``, the scale chosen for blind
    kernel estimation (:data:`~bayesdeconv.priors.ard.BLIND_SPARSE_SCALE`).
    """
    return IMAGE_PRIORS.resolve(prior, blind=blind)


def default_prior(noise, *, blind: bool = False, parametric: bool = False) -> str:
    """The image prior :func:`deconvolve` uses when none is given: ``"sparse"`` blind,
    ``"gamma"`` for counts (closed form), else ``"smooth"``."""
    if blind:
        return "sparse"
    return "gamma" if isinstance(noise, CountLikelihood) and not parametric else "smooth"


def select_engine(model: DeconvolutionModel, method: str | None = None):
    """The engine that fits ``model``: ``method`` if it supports the model (else a
    ``ValueError`` saying why), or with ``method=None`` the first of
    :data:`~bayesdeconv.infer.engines.AUTO_ORDER` that does."""
    if method is not None:
        engine = ENGINES.build(method)
        reason = engine.supports(model)
        if reason is not None:
            raise ValueError(f"method={method!r} cannot fit this model: {reason}")
        return engine
    for name in AUTO_ORDER:
        engine = ENGINES.build(name)
        if engine.supports(model) is None:
            return engine
    raise ValueError("no engine supports this model")  # SVI supports every model


def _resolve_device(device) -> torch.device:
    try:
        device = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA device is available")
    return device


def deconvolve(
    image,
    psf=None,
    *,
    prior=None,
    noise="gaussian",
    method: str | None = None,
    guide: str | None = None,
    boundary: str = "valid",
    psf_size: int | tuple[int, int] | None = None,
    psf_covariance: str = "full",
    psf_update: str = "closed-form",
    psf_init: str | np.ndarray = "search",
    mask=None,
    normalise_psf: bool = False,
    std: str = "auto",
    steps: int | None = None,
    seed: int | None = None,
    restarts: int = 1,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Result:
    """Bayesian deconvolution of one image in one call.

    Builds :math:`y = M \\odot (k \\circledast x) + n` from the arguments, fits it with the chosen
    engine and returns the posterior.

    Parameters
    ----------
    image : array_like or torch.Tensor
        Observed 2-D ``(y, x)`` or 3-D ``(z, y, x)`` image. Missing pixels may be NaN if the mask
        marks them.
    psf : array_like or parametric PSF prior, optional
        The PSF (same number of axes, centred at ``s // 2``, non-negative, summing to 1), applied
        by true convolution (flip a correlation kernel first). ``None`` asks for blind
        deconvolution (2-D): the PSF is estimated with its posterior, on a support of
        ``psf_size`` pixels. A parametric PSF prior such as
        ``psf_priors.GaussianPSF(15)`` asks for the posterior over its parameters
        (``result.psf_parameters``): by default the ``"evidence"`` engine (NUTS with the image
        integrated out) for the smooth prior, Gaussian noise, ``boundary="circular"`` and no
        mask; ``"ivb"`` (variational EM on the parameters, Laplace intervals; 2-D, any boundary
        and mask) for the ``"sparse"``/``"piecewise"`` priors and Gaussian noise, which is the
        less biased choice for photographs; else SVI on the joint model.
    prior : str or prior object, optional
        Image prior: ``"smooth"`` (first-difference Gaussian with a learned precision; the
        default with a known PSF and Gaussian noise), ``"gamma"`` (independent Gamma
        intensities with a learned rate, conjugate to Poisson counts: the default for
        ``noise="poisson"``, fitted in closed form at about the cost of Richardson–Lucy,
        :mod:`~bayesdeconv.infer.poisson_vb`), ``"piecewise"`` (sparse gradients with a
        per-difference learned precision, favouring piecewise-constant images) or
        ``"sparse"`` (the same family tuned to natural images, Student-t gradients of scale
        0.01; the default for blind deconvolution, where it gives much better kernels on
        photographs than ``"piecewise"`` and takes the broader scale 0.02:
        :func:`image_prior`, Levin benchmark in the README), ``"learned-wiener"`` (a Gaussian
        prior whose precision is a bank of learned filters: the bank shipped for photographs in
        2-D, for widefield volumes in 3-D; same engines as ``"smooth"``), ``"vae"`` (the
        shipped VAE decoder trained on generated filament images with its PSF,
        :class:`~bayesdeconv.priors.VAEImagePrior`, fitted by SVI from its encoder's
        start; a model of one's own from :func:`~bayesdeconv.training.fit_vae` is passed as
        an instance, ``VAEImagePrior.load("model.npz")``), ``"dip"`` (SelfDeblur's deep
        image prior: an untrained generator makes the image, blind with a generated kernel,
        fitted by ``method="map"`` with its own schedule, :class:`~bayesdeconv.priors.
        DeepImagePrior`), ``"vdip-sparse"``, ``"vdip-extreme"`` (the variational DIP: sparse
        gradients or extreme channels, the
        posterior from a generator network, ``method="svi"``,
        :class:`~bayesdeconv.priors.VariationalDIP`; intensities in [0, 1] for both),
        ``"extreme-channel"`` (the
        ``"sparse"`` prior times a Laplace factor on the dark and bright channels of Pan et
        al. 2016 and Yan et al. 2017, :class:`~bayesdeconv.priors.ExtremeChannelPrior`; SVI,
        MAP, Vadam), or an instance such
        as ``SmoothPrior(precision=...)``, ``priors.sparse(scale=0.01)`` or
        ``LearnedWienerPrior.load("bank.npz")`` (a bank from
        :func:`~bayesdeconv.training.train_wiener`).
    noise : str or noise object
        ``"gaussian"`` (learned precision), ``"poisson"`` (counts) or ``"poisson-gaussian"``
        (raw camera values: gain, offset and read noise measured on this image by
        :func:`~bayesdeconv.calibration.estimate_poisson_gaussian`, the offset taken as its
        darkest level; what was used is in ``result.info["calibration"]``), or an instance
        such as ``PoissonGaussianNoise(gain, offset, read_noise)``. Counts and camera values
        go to closed-form IVB with ``prior="gamma"``, otherwise to SVI.
    method : {None, "ivb", "svi", "map", "vadam", "gibbs", "evidence"}
        The engine (names in :data:`bayesdeconv.registry.ENGINES`). ``None`` (default) takes
        the first of :data:`~bayesdeconv.infer.engines.AUTO_ORDER` that supports the model:
        IVB where it applies (Gaussian noise, or Poisson counts with the Gamma prior),
        otherwise SVI (``"svi"`` too when ``guide`` is
        given). An engine that cannot fit the model raises ``ValueError`` saying why.
        Closed-form iterative VB, stochastic VI with a Pyro guide,
        MAP (SVI with a point-mass guide), Vadam (mean-field VI by weight perturbation), or
        Gibbs sampling of the sparse-gradient models (``prior="piecewise"``/``"sparse"``,
        Gaussian noise), started from the IVB fit and conditional on its PSF when blind; its
        std does not collapse in flat or unobserved regions as the mean-field one does (see
        :func:`~bayesdeconv.infer.gibbs.gibbs_sparse`).
        For blind deconvolution every engine starts from the same kernel (``psf_init``); IVB
        then refines q(k) in closed form, SVI and Vadam by stochastic steps.
    guide : str, optional
        SVI guide (``"mean-field"`` default, ``"full"`` for small images, ``"full-psf"``
        blind); names in :data:`bayesdeconv.registry.GUIDES`.
    boundary : {"valid", "circular"}
        ``"valid"`` (default) models the unobserved scene beyond the image border; ``"circular"``
        assumes a periodic image (exact Fourier posterior with IVB).
    psf_size : int or (int, int), optional
        Odd PSF support for blind deconvolution; choose it a little larger than the expected
        blur. ``None`` (default): the shape of a ``psf_init`` array, else estimated from the
        image by pilot kernel searches on supports grown while the kernel fills them
        (:func:`~bayesdeconv.infer.kernel_size.estimate_psf_size`; a few seconds to half a
        minute on a 255 x 255 photograph). Blind results record the support in
        ``result.info["psf_size"]`` and whether it was estimated in
        ``result.info["psf_size_estimated"]``.
    psf_covariance : {"full", "diagonal"}
        Blind deconvolution: the covariance family of the Gaussian PSF posterior.
    psf_update : {"closed-form", "elbo", "vadam"}
        Blind ``method="ivb"``: how q(k) is updated inside the IVB sweeps, by its closed form,
        by Adam steps on the reparameterised ELBO, or by Vadam steps (needs
        ``psf_covariance="diagonal"``); see :func:`~bayesdeconv.infer.blind.fit_sparse_ivb`.
    psf_init : {"search", "pyramid"} or array_like
        Blind deconvolution: the starting kernel. ``"search"`` (default) is the best, by the
        non-blind ELBO, of a few coarse-to-fine L0-gradient MAP searches
        (:func:`~bayesdeconv.infer.blind.search_start`);
        ``"pyramid"`` runs IVB's own sweeps coarse to fine instead (``method="ivb"`` or
        ``"gibbs"``); an array of shape ``psf_size`` starts there.
    mask : array_like of bool, optional
        ``True`` where a pixel is observed.
    normalise_psf : bool
        Divide ``psf`` by its sum first (measured microscope PSFs are never normalised);
        otherwise a PSF whose sum differs from 1 by more than 0.1 % is an error.
    std : {"auto", "family"}
        IVB with the smooth prior: ``"auto"`` (default) reports the per-pixel marginal std
        of the posterior at the learned precisions, estimated from 16 perturb-and-optimise
        draws (holes, frame borders and stack ends show; several times the cost of the fit
        itself); ``"family"`` the variational family's own, much cheaper std (one value for
        every pixel). See :func:`~bayesdeconv.infer.ivb.fit_ivb`.
    steps : int, optional
        Iteration limit (IVB sweeps or SVI steps; kept draws for Gibbs); engine default when
        ``None``.
    seed : int, optional
        Seeds the stochastic engines (SVI, MAP, Vadam) through ``pyro.set_rng_seed``, which
        also re-seeds the global torch, numpy and ``random`` generators; Gibbs uses a private
        generator seeded with it, and so do IVB's std-map draws (seed 0 when ``None``, so IVB
        is deterministic);
        posterior draws take their own seed (``Result.sample(n, seed=...)``).
    device : str or torch.device, optional
        ``"cpu"`` (default) or ``"cuda"``.
    restarts : int
        Deep image priors: independent runs seeded ``seed, seed + 1, ...``, the best by its
        final objective kept (the ELBO for the variational DIP); every run's objective is in
        ``result.info["restarts"]`` and their spread in ``info["objective_spread"]``.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    Result
        Posterior mean, std, PSF, ELBO trace, samples and ArviZ export.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesdeconv import deconvolve
    >>> from bayesdeconv.physics.psf import gaussian_psf
    >>> rng = np.random.default_rng(0)
    >>> image = rng.random((64, 64))
    >>> result = deconvolve(image, gaussian_psf(9, 1.5), progress=False)
    >>> result.mean.shape, result.std.shape
    ((64, 64), (64, 64))
    """
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    if method is not None:
        ENGINES.check(method)
    if std not in ("auto", "family"):
        raise ValueError(f"std must be 'auto' or 'family', got {std!r}")
    if steps is not None and (int(steps) != steps or steps < 1):
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if isinstance(restarts, bool) or int(restarts) != restarts or restarts < 1:
        raise ValueError(f"restarts must be a positive integer, got {restarts!r}")
    device = _resolve_device(device)
    raw = _to_numpy(image, "image")
    mask_array = prepare_mask(mask, raw.shape)
    observed = prepare_image(raw, mask_array)
    if mask_array is not None:
        observed = np.where(mask_array, observed, 0.0)
    parametric = isinstance(psf, PSFPrior) and psf.parametric
    blind = psf is None
    estimate_size = False
    noise_given = LIKELIHOODS.resolve(noise)
    noise_obj = noise_given.calibrate(observed, mask_array)
    if prior is None:
        prior = default_prior(noise_obj, blind=blind, parametric=parametric)
    if parametric:  # a PSF family with priors on its parameters (myopic deconvolution)
        if psf_size is not None:
            raise ValueError("psf_size comes from the parametric PSF prior; leave it unset")
        if (psf_covariance, psf_update) != ("full", "closed-form") or not (
            isinstance(psf_init, str) and psf_init == "search"
        ):
            raise ValueError(
                "psf_covariance, psf_update and psf_init apply to non-parametric blind fits"
            )
        size = check_psf_size(psf.size, observed.shape)
        psf_array = to_numpy(psf.initial_value(dtype=torch.float64, device=None))
    elif blind:
        if observed.ndim != 2:
            raise ValueError(f"blind deconvolution supports 2-D images, got {observed.ndim}-D")
        if psf_covariance not in PSF_COVARIANCES:
            raise ValueError(f"psf_covariance must be one of {PSF_COVARIANCES}")
        if psf_update not in PSF_UPDATES:
            raise ValueError(f"psf_update must be one of {PSF_UPDATES}, got {psf_update!r}")
        if isinstance(psf_init, str):
            if psf_init not in PSF_INITS:
                raise ValueError(f"psf_init must be one of {PSF_INITS} or an array")
        else:
            psf_init = check_psf(psf_init, image_shape=observed.shape, name="psf_init")
            if psf_size is None:  # the starting kernel's support
                psf_size = psf_init.shape
        estimate_size = psf_size is None  # after every other check: the pilots take seconds
        size = (3, 3) if estimate_size else check_psf_size(psf_size, observed.shape)
        psf_array = None
        if not isinstance(psf_init, str) and psf_init.shape != size:
            raise ValueError(f"psf_init has shape {psf_init.shape}, psf_size is {size}")
    else:
        size = None
        if psf_size is not None:
            raise ValueError("psf_size is only used for blind deconvolution (psf=None)")
        if psf_update != "closed-form":
            raise ValueError("psf_update is only used for blind deconvolution (psf=None)")
        if psf_covariance != "full":
            raise ValueError("psf_covariance is only used for blind deconvolution (psf=None)")
        if not (isinstance(psf_init, str) and psf_init == "search"):
            raise ValueError("psf_init is only used for blind deconvolution (psf=None)")
        psf_array = check_psf(
            psf,
            image_shape=observed.shape,
            normalise=normalise_psf,
            normalise_option="normalise_psf=True",
        )
    prior_obj = image_prior(prior, blind=blind)
    if blind and not parametric and isinstance(prior_obj, CirculantGaussianPrior):
        raise ValueError(
            "blind deconvolution needs a sparse-gradient prior: prior='piecewise' or 'sparse' "
            "(a Gaussian image prior favours the no-blur kernel)"
        )
    options = FitOptions(
        steps=None if steps is None else int(steps),
        seed=seed,
        progress=progress,
        guide=guide,
        psf_covariance=psf_covariance,
        psf_update=psf_update,
        psf_init=psf_init,
        std=std,
        restarts=restarts,
    )

    def build(dtype: torch.dtype) -> DeconvolutionModel:
        kernel = psf_array
        if blind:  # a delta on the support: the engines start from psf_init
            kernel = np.zeros(size)
            kernel[tuple(s // 2 for s in size)] = 1.0
        operator = ConvolutionOperator(
            kernel, observed.shape, boundary=boundary, dtype=dtype, device=device
        )
        return DeconvolutionModel(
            operator,
            prior=prior_obj,
            noise=noise_obj,
            mask=None if mask_array is None else torch.as_tensor(mask_array, device=device),
            psf_prior=psf if parametric else _blind_psf_prior(prior_obj, size) if blind else None,
        )

    model = build(torch.float64)
    if method is None and guide is not None:
        method = "svi"  # a guide names an SVI fit
    engine = select_engine(model, method)
    _check_options(engine, options)
    noise_obj.check_observed(observed)
    if estimate_size:  # every check passed on a provisional 3 x 3 support
        size = estimate_psf_size(observed, mask=mask_array, progress=progress)
        model = build(engine.dtype)
    elif engine.dtype != model.dtype:
        model = build(engine.dtype)
    y = torch.as_tensor(observed, dtype=model.dtype, device=device)
    result = engine.fit(model, y, options)
    if blind:
        info = {**result.info, "psf_size": size, "psf_size_estimated": estimate_size}
        result = dataclasses.replace(result, info=info)
    if noise_obj is not noise_given:  # measured on the image: show what was used
        calibration = getattr(noise_obj, "calibration", None)
        info = {**result.info, "noise": noise_obj, "calibration": calibration}
        result = dataclasses.replace(result, info=info)
    return result


def _blind_psf_prior(prior, size: tuple[int, ...]) -> PSFPrior:
    """The PSF prior of a blind fit: the one the image prior pairs with, else ARD."""
    return prior.blind_psf_prior(size) or PSF_PRIORS.build("ard", size=size)


def _check_options(engine, options: FitOptions) -> None:
    """Refuse options the chosen engine would ignore (defaults pass)."""
    default = FitOptions()
    for field in ("guide", "psf_update", "psf_covariance", "psf_init", "std", "restarts"):
        value = getattr(options, field)
        if field in engine.options or isinstance(value, np.ndarray):
            continue
        if value != getattr(default, field):
            takers = [name for name in ENGINES.names if field in ENGINES.build(name).options]
            allowed = " or ".join(repr(name) for name in takers)
            raise ValueError(
                f"{field} applies to method={allowed} only, not method={engine.name!r}"
            )
    if isinstance(options.psf_init, str) and options.psf_init == "pyramid":
        if "pyramid" not in engine.options:
            raise ValueError("psf_init='pyramid' is IVB's coarse-to-fine; use method='ivb'")
