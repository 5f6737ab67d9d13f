"""Helpers shared by the engines: input conversion, starting values, samplers, results."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bayesdeconv import sites
from bayesdeconv.infer.result import PointValue, Result, SamplePosterior
from bayesdeconv.models.deconvolution import DeconvolutionModel

if TYPE_CHECKING:  # pragma: no cover
    from bayesdeconv.infer.summarise import PosteriorSummary

__all__ = [
    "Convergence",
    "as_observed",
    "deconvolution_result",
    "deconvolution_sites",
    "fixed_precisions",
    "gaussian_sampler",
    "mean_field_drawer",
    "psf_parameter_sites",
    "estimate_noise_std",
    "initial_image",
    "initial_values",
    "start_image",
    "learned_precisions",
    "to_numpy",
]


PARAMETER_DRAWS = 2000
"""Joint posterior draws behind :attr:`Result.psf_parameters` (parametric PSFs)."""


def to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def as_observed(model: DeconvolutionModel, observed) -> torch.Tensor:
    """The observation as a tensor of the model's dtype/device, shape-checked, finite."""
    y = torch.as_tensor(observed).to(dtype=model.dtype, device=model.device)
    if tuple(y.shape) != model.operator.observed_shape:
        raise ValueError(
            f"observed image shape {tuple(y.shape)} does not match the model's "
            f"{model.operator.observed_shape}"
        )
    check = y if model.mask is None else y[model.mask]
    if not bool(torch.isfinite(check).all()):
        raise ValueError("the observed image contains NaN or Inf values")
    if model.mask is not None:
        y = torch.where(model.mask, y, torch.zeros_like(y))
    return y


def estimate_noise_std(image: np.ndarray | torch.Tensor) -> float:
    """Immerkær's fast noise estimate, averaged over 2-D slices.

    :math:`\\hat\\sigma = \\sqrt{\\pi/2}\\, \\frac{1}{6 (H-2)(W-2)} \\sum |y * N|` with the
    Laplacian-difference mask :math:`N = [[1,-2,1],[-2,4,-2],[1,-2,1]]`.

    References
    ----------
    .. [1] J. Immerkær, "Fast noise variance estimation", CVIU 64(2), 1996.
    """
    y = torch.as_tensor(image, dtype=torch.float64)
    y = y.reshape(-1, *y.shape[-2:])
    if min(y.shape[-2:]) < 3:
        return float(y.std()) if y.numel() > 1 else 1.0
    lap = (
        y[:, :-2, :-2]
        - 2 * y[:, :-2, 1:-1]
        + y[:, :-2, 2:]
        - 2 * y[:, 1:-1, :-2]
        + 4 * y[:, 1:-1, 1:-1]
        - 2 * y[:, 1:-1, 2:]
        + y[:, 2:, :-2]
        - 2 * y[:, 2:, 1:-1]
        + y[:, 2:, 2:]
    )
    sigma = math.sqrt(math.pi / 2) * float(lap.abs().mean()) / 6
    scale = float(y.std())
    return max(sigma, 1e-3 * scale, 1e-8)


def initial_image(model: DeconvolutionModel, observed: torch.Tensor) -> torch.Tensor:
    """The observation extended to the latent grid by edge replication (holes by the mean);
    leading axes of ``observed`` beyond the model's are batch."""
    op = model.operator
    y = observed
    if model.mask is not None:
        fill = observed[model.mask].mean()
        y = torch.where(model.mask, observed, fill)
    if op.boundary == "circular":
        return y.clone()
    pad: list[int] = []
    for sl, n in zip(reversed(op.frame), reversed(op.latent_shape), strict=True):
        pad += [sl.start, n - sl.stop]
    lead = y.shape[: y.ndim - op.ndim]  # leading axes are batch (a training set)
    flat = y.reshape(-1, 1, *y.shape[y.ndim - op.ndim :])
    return torch.nn.functional.pad(flat, pad, mode="replicate").reshape(*lead, *op.latent_shape)


def start_image(model: DeconvolutionModel, y: torch.Tensor) -> torch.Tensor:
    """The engines' starting image: :func:`initial_image` of ``y`` in signal units."""
    signal_units = getattr(model.noise, "signal_units", None)  # raw camera values: photons
    return initial_image(model, y if signal_units is None else signal_units(y))


def initial_values(
    model: DeconvolutionModel, y: torch.Tensor, init: dict | None = None
) -> tuple[dict, float]:
    """Starting point: the observation on the latent grid and data-driven precisions.

    ``init`` overrides sites by name with values in the constrained space (copied, checked
    for name and shape), or is an init strategy ``init(model, y)`` returning such values.
    Returns the values and the estimated noise std of ``y``.
    """
    x0 = start_image(model, y)
    values = {sites.IMAGE: x0}
    sigma = estimate_noise_std(to_numpy(y))
    if model.blind:
        values.update(model.psf_prior.initial_sites(dtype=model.dtype, device=model.device))
    values.update(model.prior.initial_values(x0))
    values.update(model.noise.initial_values(sigma, dtype=model.dtype, device=model.device))
    if callable(init):  # an init strategy (bayesdeconv.infer.init)
        init = init(model, y)
    for name, value in (init or {}).items():
        if name not in values:
            raise ValueError(f"init names unknown site {name!r}; latent sites: {sorted(values)}")
        start = torch.as_tensor(value, dtype=model.dtype, device=model.device).clone()
        if start.shape != values[name].shape:
            raise ValueError(
                f"init[{name!r}] has shape {tuple(start.shape)}, expected "
                f"{tuple(values[name].shape)}"
            )
        values[name] = start
    return values, sigma


class Convergence:
    """Stop when the mean loss of a window no longer improves detectably on the previous one.

    Improvement :math:`\\bar\\ell_{k-1} - \\bar\\ell_k` below both ``tol`` relative to
    :math:`|\\bar\\ell_k|` and two standard errors of the difference (the MC noise) counts as
    converged.
    """

    def __init__(self, window: int, tol: float) -> None:
        self.window, self.tol = window, tol
        self.previous: tuple[float, float] | None = None

    def __call__(self, losses: list[float]) -> bool:
        if len(losses) % self.window:
            return False
        chunk = np.asarray(losses[-self.window :])
        current = (float(chunk.mean()), float(chunk.var(ddof=1) / len(chunk)))
        previous, self.previous = self.previous, current
        if previous is None:
            return False
        improvement = previous[0] - current[0]
        noise = 2.0 * math.sqrt(previous[1] + current[1])
        return improvement < max(self.tol * abs(current[0]), noise)


def fixed_precisions(model: DeconvolutionModel) -> dict:
    """Point values for the precisions the model holds fixed (no hyper-prior)."""
    return {
        name: PointValue(spec.value)
        for name, spec in model.hyperparameters().items()
        if not spec.learned
    }


def gaussian_sampler(mean: np.ndarray, covariance: np.ndarray):
    """Draws ``(n, *mean.shape)`` of :math:`\\mathcal N(\\mu, \\Sigma)` over the flattened
    ``mean``: ``covariance`` is ``(d, d)`` (full) or ``(d,)`` (diagonal), ``d = mean.size``.

    A full :math:`\\Sigma` is factorised once by its symmetric eigendecomposition (round-off
    negative eigenvalues set to zero), so a singular covariance is fine.
    """
    mean = np.asarray(mean, dtype=np.float64)
    covariance = np.asarray(covariance, dtype=np.float64)
    d = mean.size
    if covariance.shape == (d,):
        factor = np.sqrt(np.clip(covariance, 0.0, None))

        def colour(white: np.ndarray) -> np.ndarray:
            return white * factor

    elif covariance.shape == (d, d):
        values, vectors = np.linalg.eigh(0.5 * (covariance + covariance.T))
        root = vectors * np.sqrt(np.clip(values, 0.0, None))

        def colour(white: np.ndarray) -> np.ndarray:
            return white @ root.T

    else:
        raise ValueError(f"covariance of shape {covariance.shape} does not fit {d} values")

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        white = rng.standard_normal((n, d))
        return (mean.reshape(-1) + colour(white)).reshape(n, *mean.shape)

    return sample


def mean_field_drawer(
    frame_mean: np.ndarray,
    frame_std: np.ndarray,
    hyper: dict,
    chunk=16,
    *,
    gaussians: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
):
    """A ``Result.draw_fn`` for independent Gaussian pixels and independent hyper-parameters.

    Noise is drawn for the requested window only, in chunks, so exporting a window of a large
    image costs memory proportional to the window. ``gaussians`` maps further sites (e.g.
    ``"psf"``) to the ``(mean, covariance)`` of a Gaussian drawn independently of the image
    (a mean-field posterior; see :func:`gaussian_sampler` for the covariance layouts).
    """
    samplers = {name: gaussian_sampler(*q) for name, q in (gaussians or {}).items()}

    def draw(n: int, rng: np.random.Generator, region=None) -> dict[str, np.ndarray]:
        window = (Ellipsis,) if region is None else tuple(region)
        mean, std = frame_mean[window], frame_std[window]
        images = [
            mean + std * rng.standard_normal((min(chunk, n - i), *mean.shape))
            for i in range(0, n, chunk)
        ]
        out = {sites.IMAGE: np.concatenate(images)}
        for name, q in hyper.items():
            out[name] = q.sample(n, rng)
        for name, sample in samplers.items():
            out[name] = sample(n, rng)
        return out

    return draw


def deconvolution_sites(model: DeconvolutionModel) -> list[str]:
    """The sites a :class:`~bayesdeconv.Result` reports: the image, the PSF (blind) and the
    learned precisions."""
    names = [sites.IMAGE] + ([sites.PSF] if model.blind else [])
    return names + learned_precisions(model) + list(psf_parameter_sites(model))


def psf_parameter_sites(model: DeconvolutionModel) -> tuple[str, ...]:
    """The sample sites of a parametric PSF's free parameters (none otherwise)."""
    return model.psf_prior.parameter_sites if model.blind else ()


def learned_precisions(model: DeconvolutionModel) -> list[str]:
    """The precision sites the model learns (those with a hyper-prior)."""
    return [name for name, spec in model.hyperparameters().items() if spec.learned]


def _window(frame: tuple[slice, ...], region, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """``region`` (slices on the observed frame) as slices on the latent grid."""
    if region is None:
        return tuple(frame)
    out = []
    for sl, sub, n in zip(frame, tuple(region), shape, strict=True):
        picked = range(*sl.indices(n))[sub]
        out.append(slice(picked.start, picked.stop, picked.step))
    return tuple(out)


def deconvolution_result(
    model: DeconvolutionModel,
    observed: torch.Tensor,
    summary: PosteriorSummary,
    *,
    method: str,
    elbo: np.ndarray,
    n_iter: int,
    converged: bool,
    runtime: float,
    info: Mapping[str, Any],
    factorised: bool,
) -> Result:
    """The :class:`~bayesdeconv.Result` of a deconvolution fit from its site summaries.

    ``factorised``: the posterior is a product of independent Gaussians over the image pixels,
    the PSF values and the precisions with the summaries' exact moments (a mean-field guide or
    Vadam), so :meth:`Result.draws` draws only the requested window from those moments;
    otherwise the draws come from the summary's ``Predictive`` sampler (joint, one chunk of
    latent images in memory at a time).
    """
    op = model.operator
    image = summary[sites.IMAGE]
    hyper: dict = {}
    for name in learned_precisions(model):
        q = summary[name].posterior
        if q is None:
            raise ValueError(f"site {name!r} is not a scalar; cannot summarise it")
        hyper[name] = q
    fixed = fixed_precisions(model)
    hyper.update(fixed)
    if model.blind:
        psf, psf_std = summary[sites.PSF].mean, summary[sites.PSF].std
    else:
        psf = to_numpy(op.psf).astype(np.float64)
        psf_std = np.zeros_like(psf)
    frame = op.frame
    frame_mean, frame_std = image.mean[frame], image.std[frame]
    if factorised:
        psf_posterior = {sites.PSF: (psf, psf_std.reshape(-1) ** 2)} if model.blind else None
        draw = mean_field_drawer(frame_mean, frame_std, hyper, gaussians=psf_posterior)
    else:

        def draw(n: int, rng: np.random.Generator, region=None) -> dict[str, np.ndarray]:
            window = _window(frame, region, op.latent_shape)
            seed = int(rng.integers(2**31))
            out = summary.draws(n, seed=seed, crop={sites.IMAGE: window})
            for name, q in fixed.items():
                out[name] = q.sample(n, rng)
            return out

    parameters = {}
    if psf_parameter_sites(model):
        window = (slice(0, 0),) * len(op.latent_shape)
        values = summary.draws(PARAMETER_DRAWS, seed=0, crop={sites.IMAGE: window})
        parameters = {
            name: SamplePosterior(np.asarray(values[name], dtype=np.float64).reshape(-1))
            for name in psf_parameter_sites(model)
        }
    return Result(
        mean=frame_mean,
        std=frame_std,
        psf=psf,
        psf_std=psf_std,
        elbo=np.asarray(elbo, dtype=np.float64),
        observed=to_numpy(observed),
        method=method,
        hyperparameters=hyper,
        latent_mean=image.mean,
        latent_std=image.std,
        n_iter=int(n_iter),
        converged=bool(converged),
        runtime=float(runtime),
        info=info,
        draw_fn=draw,
        blind=model.blind,
        psf_parameters=parameters,
    )
