"""Gibbs sampling of the sparse-gradient (ARD) model: honest uncertainty where mean-field fails.

The model of :func:`~bayesdeconv.infer.blind.fit_sparse_ivb` with a known PSF,

.. math::
    y = M \\odot (k \\circledast x) + n,\\quad n \\sim \\mathcal N(0, \\gamma^{-1}),\\quad
    (D_d x)_p \\mid w_{dp} \\sim \\mathcal N(0, w_{dp}^{-1}),\\quad w_{dp} \\sim
    \\mathrm{Gamma}(a, b),\\quad \\gamma \\sim \\mathrm{Gamma}(a_\\gamma, b_\\gamma),

is conditionally conjugate in three blocks, so a Gibbs sweep draws each exactly:

1. :math:`w_{dp} \\mid x \\sim \\mathrm{Gamma}(a + \\tfrac12, b + \\tfrac12 (D_d x)_p^2)`;
2. :math:`\\gamma \\mid x \\sim \\mathrm{Gamma}(a_\\gamma + \\tfrac{n}{2}, b_\\gamma +
   \\tfrac12\\|M(y - Kx)\\|^2)` (skipped for a fixed noise precision);
3. :math:`x \\mid w, \\gamma \\sim \\mathcal N(A^{-1}\\gamma K^\\top M y, A^{-1})` with
   :math:`A = \\gamma K^\\top M K + \\sum_d D_d^\\top W_d D_d + \\varepsilon I`, by
   perturb-and-optimise [1]_: solve :math:`A x = \\gamma K^\\top M y + \\sqrt\\gamma K^\\top M
   \\xi_1 + \\sum_d D_d^\\top W_d^{1/2} \\xi_{2,d} + \\sqrt\\varepsilon\\,\\xi_3` with standard
   normal :math:`\\xi` (its covariance is exactly :math:`A^{-1}`), by preconditioned CG.

Why: the mean-field :math:`q(x)q(w)` of IVB drives every flat region's precision to about
:math:`(a + \\tfrac14)/b`, observed or not, so holes in the mask look as certain as data.
The chain keeps the joint :math:`p(x, w \\mid y)`, whose heavy-tailed marginals let
unobserved pixels spread. The chain is conditional on the PSF (for a blind fit: its posterior
mean) and starts from an IVB fit, so the burn-in only has to leave the mean-field optimum.
The CG tolerance bounds the bias of step 3 (default ``1e-6`` relative residual).

References
----------
.. [1] G. Papandreou, A. Yuille, "Gaussian sampling by local perturbations", NIPS 2010.
.. [2] F. Orieux, O. Féron, J.-F. Giovannelli, "Sampling high-dimensional Gaussian
   distributions for general linear inverse problems", IEEE SPL 19(5), 2012.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from bayesdeconv import sites
from bayesdeconv.infer._common import as_observed, to_numpy
from bayesdeconv.infer.blind import fit_sparse_ivb
from bayesdeconv.infer.linalg import jacobi_pcg
from bayesdeconv.infer.result import Result, SamplePosterior
from bayesdeconv.likelihoods.base import ConjugateGaussianLikelihood
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.priors.base import GaussianScaleMixturePrior
from bayesdeconv.priors.hyper import conjugate_gamma

__all__ = ["SamplePosterior", "gibbs_sparse"]


def _draw_image(op, mask, prior, data_rhs, data_diag, w, gamma, start, normal, rtol, max_iter):
    """One draw of :math:`x \\mid w, \\gamma` by perturb-and-optimise (module docs, step 3).

    ``data_rhs`` is :math:`K^\\top M y`, ``data_diag`` the diagonal of :math:`K^\\top M K`,
    ``normal(shape)`` a standard-normal draw; returns the draw and the CG iterations used.
    """
    ndim, eps = op.ndim, prior.epsilon

    def apply(v: torch.Tensor) -> torch.Tensor:
        data = op.circulant_adjoint(op.circulant(v) * mask)
        return gamma * data + prior.features_adjoint(w * prior.features(v, ndim), ndim) + eps * v

    rhs = (
        gamma * data_rhs
        + gamma**0.5 * op.circulant_adjoint(mask * normal(start.shape))
        + prior.features_adjoint(w.sqrt() * normal(w.shape), ndim)
        + eps**0.5 * normal(start.shape)
    )
    diag = gamma * data_diag + prior.feature_diagonal(w, ndim) + eps
    return jacobi_pcg(apply, rhs, start, diag, rtol, max_iter)


def unsupported_reason(model: DeconvolutionModel) -> str | None:
    """Why :func:`gibbs_sparse` cannot sample ``model``, or ``None`` when it can."""
    if not isinstance(model.prior, GaussianScaleMixturePrior):
        return (
            "method='gibbs' samples the sparse-gradient models (Gaussian scale-mixture priors: "
            f"prior='piecewise' or 'sparse'), got {type(model.prior).__name__}"
        )
    if not isinstance(model.noise, ConjugateGaussianLikelihood):
        return f"gibbs_sparse needs Gaussian noise, got {type(model.noise).__name__}"
    return None


def gibbs_sparse(
    model: DeconvolutionModel,
    observed,
    *,
    init: Result | None = None,
    num_samples: int = 200,
    burn_in: int = 100,
    seed: int | None = 0,
    cg_rtol: float = 1e-6,
    cg_max_iter: int = 1000,
    progress: bool = True,
) -> Result:
    """Draws of :math:`p(x, w, \\gamma \\mid y, k)` for a sparse-gradient (ARD) model.

    See the module documentation for the three Gibbs blocks.

    Parameters
    ----------
    model : DeconvolutionModel
        Gaussian noise and a :class:`~bayesdeconv.priors.GradientARDPrior` image prior; a blind
        model is sampled conditional on the PSF of ``init``.
    observed : array_like
        The observed image.
    init : Result, optional
        Starting point (its latent mean, noise precision and, for a blind model, PSF), e.g. from
        :func:`~bayesdeconv.infer.blind.fit_sparse_ivb`; that fit is run when omitted.
    num_samples, burn_in : int
        Sweeps kept and sweeps discarded first.
    seed : int, optional
        Seed of a private generator (the global RNG is untouched).
    cg_rtol, cg_max_iter
        The perturb-and-optimise solve of each image draw.
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    Result
        ``method="gibbs"``: ``mean``/``std`` are the sample mean and std per pixel,
        ``sample``/``draws`` resample the stored chain, ``hyperparameters`` hold the noise
        precision's draws, ``samples`` the image draws ``(num_samples, *shape)``,
        ``burn_in`` the discarded sweeps and ``info["cg_iterations"]`` the solver cost per
        sweep. ``psf``/``psf_std`` are ``init``'s (the chain is conditional on that PSF: for
        a blind model every ``draws()["psf"]`` is that PSF), ``elbo`` is empty, ``n_iter``
        counts all sweeps and ``converged`` is False (no stopping rule). The draws are kept
        in memory: ``num_samples`` latent-size arrays.
    """
    reason = unsupported_reason(model)
    if reason is not None:
        raise ValueError(reason)
    if int(num_samples) < 2 or int(burn_in) < 0:
        raise ValueError("num_samples must be at least 2 and burn_in non-negative")
    if init is None:
        init = fit_sparse_ivb(model, observed, progress=progress)
    start_time = time.perf_counter()
    y = as_observed(model, observed)
    dtype, device = model.dtype, model.device
    op = model.operator
    if model.blind:
        op = ConvolutionOperator(
            init.psf, op.observed_shape, boundary=op.boundary, dtype=dtype, device=device
        )
    mask = op.latent_mask(model.mask)
    latent_y = op.embed(y) * mask
    prior, ndim = model.prior, model.ndim
    x = torch.as_tensor(init.latent_mean, dtype=dtype, device=device).clone()
    if tuple(x.shape) != tuple(op.latent_shape):
        raise ValueError(
            f"init's latent grid {tuple(x.shape)} does not match the model's {op.latent_shape}"
        )
    spec = model.noise.precision
    gamma = float(init.hyperparameters[sites.NOISE_PRECISION].mean)
    n_observed = int(mask.sum())
    # one seeded numpy stream for every draw (torch's Gamma sampler takes no generator)
    rng = np.random.default_rng(seed)

    def normal(shape) -> torch.Tensor:
        return torch.as_tensor(rng.standard_normal(tuple(shape)), dtype=dtype, device=device)

    def gamma_draw(shape: float, rate: torch.Tensor) -> torch.Tensor:
        u = rng.gamma(shape, 1.0, size=tuple(rate.shape))
        return torch.as_tensor(u, dtype=dtype, device=device) / rate

    data_rhs = op.circulant_adjoint(latent_y)
    data_diag = op.normal_diagonal(model.mask)
    kept, gammas, iterations = [], [], []
    total = int(burn_in) + int(num_samples)
    bar = tqdm(range(total), desc="Gibbs", file=sys.stderr, disable=not progress, leave=False)
    for sweep in bar:
        w = gamma_draw(*conjugate_gamma(prior.shape, prior.rate, 1.0, prior.features(x, ndim) ** 2))
        if spec.learned:
            residual = float(((latent_y - op.circulant(x) * mask) ** 2).sum())
            conditional = spec.posterior(n_observed, residual)  # exact: x is given
            gamma = float(conditional.sample(1, rng)[0])
        else:
            gamma = spec.value

        x, used = _draw_image(
            op, mask, prior, data_rhs, data_diag, w, gamma, x, normal, cg_rtol, cg_max_iter
        )
        iterations.append(used)
        if sweep >= burn_in:
            kept.append(x.clone())
            gammas.append(gamma)
    bar.close()
    chain = torch.stack(kept)
    latent_mean, latent_std = to_numpy(chain.mean(0)), to_numpy(chain.std(0))
    frame = op.frame
    samples = to_numpy(chain[(slice(None), *frame)])
    hyper = {sites.NOISE_PRECISION: SamplePosterior(np.asarray(gammas))}
    psf = np.asarray(init.psf)

    def draw(n: int, generator: np.random.Generator, region=None) -> dict[str, np.ndarray]:
        window = (slice(None),) + (() if region is None else tuple(region))
        pick = generator.integers(0, len(samples), size=n)
        out = {
            sites.IMAGE: samples[window][pick],
            sites.NOISE_PRECISION: np.asarray(gammas)[pick],
        }
        if model.blind:  # conditional on one PSF: every draw is that PSF
            out[sites.PSF] = np.broadcast_to(psf, (n, *psf.shape)).copy()
        return out

    return Result(
        mean=latent_mean[frame],
        std=latent_std[frame],
        psf=psf,
        psf_std=np.asarray(init.psf_std),
        elbo=np.empty(0),
        observed=to_numpy(y),
        method="gibbs",
        hyperparameters=hyper,
        latent_mean=latent_mean,
        latent_std=latent_std,
        n_iter=total,
        converged=False,  # a chain has no stopping rule; judge mixing from the draws
        runtime=time.perf_counter() - start_time,
        info={
            "cg_iterations": np.asarray(iterations),
            "prior": prior.name,
            "conditional_on_psf": bool(model.blind),
            "frame": frame,
        },
        draw_fn=draw,
        blind=model.blind,
        samples=samples,
        burn_in=int(burn_in),
    )
