r"""The image integrated out: the evidence of a PSF and a posterior over PSF parameters.

For the circular-boundary, unmasked model with Gaussian noise and a circulant Gaussian image
prior, :math:`y = Cx + n`, :math:`x \sim \mathcal N(0, (\alpha Q_0)^{-1})`,
:math:`n \sim \mathcal N(0, \gamma^{-1} I)`, the image integrates out exactly:

.. math::
    y \mid k, \alpha, \gamma \sim \mathcal N\big(0,\ \gamma^{-1} I
    + \alpha^{-1} C Q_0^{-1} C^\top\big),

whose covariance is diagonal in Fourier space with eigenvalues
:math:`s(\omega) = \gamma^{-1} + |K(\omega)|^2 / (\alpha Q_0(\omega))` (:math:`Q_0` includes the
prior's ridge :math:`\varepsilon` that makes it invertible). The log evidence
:math:`\log p(y \mid k, \alpha, \gamma)` costs one FFT of the PSF and is differentiable in the
PSF and both precisions, so the low-dimensional posterior
:math:`p(\theta, \alpha, \gamma \mid y) \propto p(y \mid k_\theta, \alpha, \gamma)\,
p(\theta)\,p(\alpha)\,p(\gamma)` of a parametric PSF :math:`k_\theta` is sampled by NUTS, and the
image posterior follows by averaging the exact Fourier posteriors over its draws.

References
----------
.. [1] F. Orieux, J.-F. Giovannelli, T. Rodet, "Bayesian estimation of regularization and point
   spread function parameters for Wiener–Hunt deconvolution", JOSA A 27(7), 1593–1607, 2010.
.. [2] D. J. C. MacKay, "Bayesian interpolation", Neural Computation 4(3), 415–447, 1992.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyro
import torch
from pyro.infer import MCMC, NUTS
from pyro.infer.mcmc.util import initialize_model

from bayesdeconv import sites
from bayesdeconv.infer.exact import exact_posterior, spectral_log_evidence
from bayesdeconv.infer.linalg import lbfgs_minimise
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator, psf_to_otf, squared_modulus
from bayesdeconv.priors.base import CirculantGaussianPrior
from bayesdeconv.priors.hyper import FixedPrecision, GammaPrior, as_precision, precision_site
from bayesdeconv.priors.smooth import SmoothPrior
from bayesdeconv.priors.stationary import rfft_weights

__all__ = [
    "CollapsedEvidence",
    "PSFPosterior",
    "collapsed_log_evidence",
    "fit_psf_parameters",
    "map_psf_parameters",
    "periodic_component",
]

Scalar = float | torch.Tensor


class CollapsedEvidence:
    r""":math:`\log p(y \mid k, \alpha, \gamma)` for one observed image, spectra precomputed.

    ``evidence(psf, alpha, gamma)`` evaluates

    .. math::
        \log p(y \mid k, \alpha, \gamma) = -\tfrac N2 \log 2\pi
        - \tfrac12 \sum_\omega \log s(\omega)
        - \tfrac1{2N} \sum_\omega \frac{|\hat y(\omega)|^2}{s(\omega)}, \qquad
        s(\omega) = \frac1\gamma + \frac{|K(\omega)|^2}{\alpha\, Q_0(\omega)},

    with :math:`K` the OTF of ``psf`` (:func:`~bayesdeconv.physics.convolution.psf_to_otf`),
    in :math:`O(N \log N)`: one FFT of the PSF per call (:math:`|\hat y|^2` and :math:`Q_0` are
    cached). Differentiable by autograd in ``psf``, ``alpha`` and ``gamma``.

    Parameters
    ----------
    observed : array_like
        :math:`y`, 2-D or 3-D; the latent grid is its own shape (circular boundary, no mask).
    prior : CirculantGaussianPrior
        Supplies :math:`Q_0(\omega)` (for example :class:`~bayesdeconv.priors.SmoothPrior`).
    dtype, device
        Where the computation runs (``float64`` by default).
    """

    def __init__(
        self,
        observed,
        prior: CirculantGaussianPrior,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        if not isinstance(prior, CirculantGaussianPrior):
            raise TypeError("the collapsed evidence needs a Gaussian (circulant) image prior")
        y = torch.as_tensor(np.asarray(observed) if not torch.is_tensor(observed) else observed)
        y = y.to(dtype=dtype, device=device)
        if y.ndim not in (2, 3):
            raise ValueError(f"the image must be 2-D or 3-D, got {y.ndim}-D")
        self.y = y
        self.shape = tuple(y.shape)
        self.dims = tuple(range(-y.ndim, 0))
        self.prior = prior
        self.power = squared_modulus(torch.fft.rfftn(y, dim=self.dims))
        half = self.shape[-1] // 2 + 1
        self.q0 = prior.spectrum(self.shape, dtype=dtype, device=y.device)[..., :half]

    def __call__(self, psf: torch.Tensor, alpha: Scalar, gamma: Scalar) -> torch.Tensor:
        if psf.ndim != len(self.shape):
            raise ValueError(f"psf is {psf.ndim}-D but the image is {len(self.shape)}-D")
        k2 = squared_modulus(psf_to_otf(psf.to(self.y.dtype), self.shape))
        return spectral_log_evidence(self.power, k2, self.q0, alpha, gamma, self.shape)


def collapsed_log_evidence(
    y,
    psf: torch.Tensor,
    image_precision: Scalar,
    noise_precision: Scalar,
    prior: CirculantGaussianPrior,
) -> torch.Tensor:
    r""":math:`\log p(y \mid k, \alpha, \gamma)` with the image integrated out (0-d tensor).

    See :class:`CollapsedEvidence` for the formula; build one of those to evaluate many PSFs on
    the same image. Equals ``exact_posterior(...).log_evidence`` (which uses the same code).

    Parameters
    ----------
    y : array_like
        The observed image, 2-D or 3-D (circular boundary, no mask).
    psf : torch.Tensor
        The PSF, centred at ``s // 2``; gradients flow to it.
    image_precision, noise_precision : float or torch.Tensor
        :math:`\alpha` and :math:`\gamma`; gradients flow to tensors.
    prior : CirculantGaussianPrior
        The image prior supplying :math:`Q_0`.
    """
    return CollapsedEvidence(y, prior)(psf, image_precision, noise_precision)


@dataclass(frozen=True)
class PSFPosterior:
    """Posterior of PSF parameters and precisions (NUTS draws) and the averaged image posterior.

    Attributes
    ----------
    psf_parameters : dict of str to numpy.ndarray
        One 1-D array of draws per PSF parameter.
    image_precision, noise_precision : numpy.ndarray
        Draws of :math:`\\alpha` and :math:`\\gamma` (constant arrays when fixed).
    mean, std : numpy.ndarray
        The image posterior mean and marginal std, averaged over ``n_image_draws`` parameter
        draws by the law of total variance.
    psf, psf_std : numpy.ndarray
        Mean and std of the PSF over the same draws.
    n_image_draws : int
        How many parameter draws the image posterior averages.
    diagnostics : dict
        Pyro's ``MCMC.diagnostics()`` (``n_eff``, ``r_hat`` per site, ``divergences``).
    """

    psf_parameters: dict[str, np.ndarray]
    image_precision: np.ndarray
    noise_precision: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    psf: np.ndarray
    psf_std: np.ndarray
    n_image_draws: int
    diagnostics: dict = field(default_factory=dict, repr=False)

    def interval(self, name: str, prob: float = 0.9) -> tuple[float, float]:
        """Central ``prob`` credible interval of a PSF parameter from its draws."""
        lo, hi = np.quantile(self.psf_parameters[name], [(1 - prob) / 2, (1 + prob) / 2])
        return float(lo), float(hi)


def _start_precisions(evidence: CollapsedEvidence) -> tuple[float, float]:
    """Rough data-driven :math:`(\\alpha, \\gamma)`: noise from the median absolute first
    difference (Donoho's MAD), :math:`\\alpha = N / y^\\top Q_0 y`."""
    y = evidence.y
    d = (y - torch.roll(y, 1, -1)).flatten()
    sigma = float((d - d.median()).abs().median()) * 1.4826 / math.sqrt(2.0)
    gamma = 1.0 / max(sigma, 1e-6 * float(y.std()) + 1e-12) ** 2
    n = y.numel()
    w = rfft_weights(evidence.shape, dtype=y.dtype, device=y.device)
    quadratic = float((w * evidence.power * evidence.q0).sum()) / n  # y^T Q0 y (Parseval)
    alpha = n / max(quadratic, 1e-300)
    return alpha, gamma


def _prior_start(distribution: pyro.distributions.Distribution) -> torch.Tensor:
    try:
        return distribution.mean.detach()
    except NotImplementedError:  # pragma: no cover
        return distribution.sample().detach()


def fit_psf_parameters(
    y,
    kernel_fn: Callable[..., torch.Tensor],
    priors: Mapping[str, pyro.distributions.Distribution],
    prior: CirculantGaussianPrior,
    *,
    image_precision: float | GammaPrior | FixedPrecision | None = None,
    noise_precision: float | GammaPrior | FixedPrecision | None = None,
    method: str = "nuts",
    num_samples: int = 200,
    warmup: int = 200,
    n_image_draws: int = 20,
    start: Mapping[str, float] | None = None,
    seed: int = 0,
    progress: bool = False,
) -> PSFPosterior:
    r"""Posterior over the parameters of a parametric PSF, the image integrated out.

    The Pyro model has one site per PSF parameter :math:`\theta_j \sim` ``priors[j]``, the
    precisions :math:`\alpha, \gamma` (Gamma sites, or fixed), and the factor

    .. math::
        \log p(y \mid k_\theta, \alpha, \gamma)
        \quad\text{(see } :class:`CollapsedEvidence` \text{)}, \qquad k_\theta =
        \texttt{kernel\_fn}(\theta),

    sampled by NUTS (started at the MAP, found by L-BFGS in Pyro's unconstrained space). The
    image posterior is then the mixture over ``n_image_draws`` evenly spaced draws of the exact
    Fourier posteriors :math:`\mathcal N(\mu_d, \Lambda_d^{-1})`:

    .. math::
        \mathbb E[x \mid y] = \overline{\mu_d}, \qquad
        \operatorname{Var}[x_i \mid y] = \overline{(\Lambda_d^{-1})_{ii}}
        + \overline{\mu_{d,i}^2} - \overline{\mu_{d,i}}^{\,2}.

    Parameters
    ----------
    y : array_like
        The observed image (2-D or 3-D), circular boundary, no mask.
    kernel_fn : callable
        ``kernel_fn(**params) -> torch.Tensor``, differentiable (for example a closure over
        :func:`~bayesdeconv.physics.psf.differentiable.gaussian_kernel`).
    priors : mapping of str to pyro distribution
        The prior of each PSF parameter (float64 parameters recommended).
    prior : CirculantGaussianPrior
        The image prior; its ``precision`` is used unless ``image_precision`` is given.
    image_precision, noise_precision : float, GammaPrior or FixedPrecision, optional
        A Gamma hyper-prior (sampled) or a fixed value; default: the image prior's precision
        and a vague ``GammaPrior()`` for the noise.
    method : {"nuts"}
    num_samples, warmup : int
        NUTS draws kept and warm-up (adaptation) iterations.
    n_image_draws : int
        Parameter draws the image posterior averages over.
    start : mapping of str to float, optional
        Where the MAP search starts (default: the prior means), e.g.
        :meth:`~bayesdeconv.psf_priors.ParametricPSFPrior.estimate_parameters`.
    seed : int
        Seeds Pyro (and torch) before sampling.
    progress : bool
        Show Pyro's progress bar.

    Returns
    -------
    PSFPosterior

    References
    ----------
    .. [1] Orieux, Giovannelli, Rodet, JOSA A 27(7), 2010 (the PSF-parameter posterior of the
       Wiener–Hunt model, sampled there by Gibbs/Metropolis).
    .. [2] M. D. Hoffman, A. Gelman, "The No-U-Turn sampler", JMLR 15, 2014.
    """
    if method != "nuts":
        raise ValueError(f"method must be 'nuts', got {method!r}")
    evidence = CollapsedEvidence(y, prior)
    dtype, device = evidence.y.dtype, evidence.y.device
    alpha_spec = as_precision(image_precision) if image_precision is not None else prior.precision
    gamma_spec = as_precision(noise_precision)
    names = list(priors)

    model = _collapsed_model(evidence, kernel_fn, priors, alpha_spec, gamma_spec)

    pyro.set_rng_seed(seed)
    init_params, potential_fn, _ = _map(model, evidence, priors, alpha_spec, gamma_spec, start)
    kernel = NUTS(model, target_accept_prob=0.8)
    mcmc = MCMC(
        kernel,
        num_samples=num_samples,
        warmup_steps=warmup,
        initial_params=init_params,
        disable_progbar=not progress,
    )
    mcmc.run()
    draws = {k: v.detach() for k, v in mcmc.get_samples().items()}

    def precision_draws(site: str, spec) -> np.ndarray:
        if spec.learned:
            return draws[site].cpu().numpy().astype(float)
        return np.full(num_samples, spec.value)

    alphas = precision_draws(sites.IMAGE_PRECISION, alpha_spec)
    gammas = precision_draws(sites.NOISE_PRECISION, gamma_spec)
    picks = np.unique(np.linspace(0, num_samples - 1, max(1, n_image_draws)).round().astype(int))
    means, variances, psfs = [], [], []
    for i in picks:
        with torch.no_grad():
            psf = kernel_fn(**{name: draws[name][i] for name in names}).to(dtype)
        op = ConvolutionOperator(psf, evidence.shape, boundary="circular", device=device)
        fixed = DeconvolutionModel(op, prior=prior, noise=GaussianNoise(precision=gammas[i]))
        post = exact_posterior(
            fixed, evidence.y, image_precision=alphas[i], noise_precision=gammas[i]
        )
        means.append(post.mean.cpu().numpy())
        variances.append(post.marginal_variance)
        psfs.append(psf.cpu().numpy())
    means_a, psfs_a = np.stack(means), np.stack(psfs)
    variance = float(np.mean(variances)) + means_a.var(axis=0)
    return PSFPosterior(
        psf_parameters={name: draws[name].cpu().numpy().astype(float) for name in names},
        image_precision=alphas,
        noise_precision=gammas,
        mean=means_a.mean(axis=0),
        std=np.sqrt(variance),
        psf=psfs_a.mean(axis=0),
        psf_std=psfs_a.std(axis=0),
        n_image_draws=len(picks),
        diagnostics=mcmc.diagnostics(),
    )


def _collapsed_model(evidence, kernel_fn, priors, alpha_spec, gamma_spec) -> Callable[[], None]:
    """The Pyro model of the PSF parameters and precisions with the collapsed evidence."""
    dtype, device = evidence.y.dtype, evidence.y.device

    def model() -> None:
        params = {name: pyro.sample(name, prior) for name, prior in priors.items()}
        alpha = precision_site(sites.IMAGE_PRECISION, alpha_spec, dtype=dtype, device=device)
        gamma = precision_site(sites.NOISE_PRECISION, gamma_spec, dtype=dtype, device=device)
        pyro.factor("collapsed_evidence", evidence(kernel_fn(**params), alpha, gamma))

    return model


def _map(model, evidence, priors, alpha_spec, gamma_spec, start_values=None):
    """The MAP of ``model`` in Pyro's unconstrained space (L-BFGS from ``start_values`` or the
    prior means, and data-driven precisions); returns it, the potential and the transforms."""
    dtype, device = evidence.y.dtype, evidence.y.device
    alpha0, gamma0 = _start_precisions(evidence)
    start = {name: _prior_start(prior) for name, prior in priors.items()}
    for name, value in (start_values or {}).items():
        start[name] = torch.tensor(float(value), dtype=dtype, device=device)
    for site, spec, value in (
        (sites.IMAGE_PRECISION, alpha_spec, alpha0),
        (sites.NOISE_PRECISION, gamma_spec, gamma0),
    ):
        if spec.learned:
            start[site] = torch.tensor(spec.init or value, dtype=dtype, device=device)
    init_params, potential_fn, transforms, _ = initialize_model(
        model, init_strategy=pyro.infer.autoguide.initialization.init_to_value(values=start)
    )
    return lbfgs_minimise(potential_fn, init_params, max_iter=200), potential_fn, transforms


def periodic_component(y: torch.Tensor) -> torch.Tensor:
    r"""The periodic component of an image (Moisan's periodic-plus-smooth decomposition).

    :math:`y = p + s` with :math:`s` the smooth (harmonic inside) image whose Laplacian
    cancels the jumps across the image's opposite edges, so :math:`p` has no boundary
    discontinuity and its spectrum no cross of edge artefacts: what a circular-boundary
    estimate should see of a non-periodic image.

    References
    ----------
    .. [1] L. Moisan, "Periodic plus smooth image decomposition", J. Math. Imaging Vis. 39,
       161-179, 2011.
    """
    dims = tuple(range(y.ndim))
    v = torch.zeros_like(y)
    for d in dims:
        first, last = y.narrow(d, 0, 1), y.narrow(d, y.shape[d] - 1, 1)
        v.narrow(d, 0, 1).add_(last - first)
        v.narrow(d, y.shape[d] - 1, 1).add_(first - last)
    den = torch.zeros(y.shape, dtype=y.dtype, device=y.device)
    for d, n in enumerate(y.shape):
        freq = torch.arange(n, dtype=y.dtype, device=y.device) * (2 * math.pi / n)
        view = [1] * y.ndim
        view[d] = n
        den = den + (2 * torch.cos(freq) - 2).reshape(view)
    den.view(-1)[0] = 1.0
    smooth_hat = torch.fft.fftn(v) / den
    smooth_hat.view(-1)[0] = 0.0
    return y - torch.fft.ifftn(smooth_hat).real


def map_psf_parameters(
    y, psf_prior, *, prior: CirculantGaussianPrior | None = None, boundary: str = "circular"
) -> dict[str, float]:
    r"""The collapsed-evidence MAP of a parametric PSF's free parameters (a fast start).

    Maximises :math:`\log p(y \mid k_\phi, \alpha, \gamma) + \log p(\phi)` (see
    :class:`CollapsedEvidence`) over :math:`\phi` and the precisions by L-BFGS, under
    ``prior`` (default :class:`~bayesdeconv.priors.SmoothPrior`, which errs on the wide side on
    photographs). For a non-circular ``boundary`` the evidence sees the
    :func:`periodic_component` of ``y``. L-BFGS starts from the family's
    :meth:`~bayesdeconv.psf_priors.ParametricPSFPrior.estimate_parameters` (for
    :class:`~bayesdeconv.psf_priors.GaussianPSF` the gradient-based estimate of
    :func:`~bayesdeconv.infer.blur_estimate.estimate_gaussian_blur`). A few hundred FFTs:
    well under a second at 256².
    """
    prior = SmoothPrior() if prior is None else prior
    y = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).to(torch.float64)
    if boundary != "circular":
        y = periodic_component(y)
    evidence = CollapsedEvidence(y, prior)
    priors = psf_prior.priors_on(evidence.y.dtype, evidence.y.device)

    def kernel_fn(**params) -> torch.Tensor:
        return psf_prior.kernel(dtype=evidence.y.dtype, device=evidence.y.device, **params)

    alpha_spec, gamma_spec = GammaPrior(), GammaPrior()
    model = _collapsed_model(evidence, kernel_fn, priors, alpha_spec, gamma_spec)
    start = psf_prior.estimate_parameters(y)
    params, _, transforms = _map(model, evidence, priors, alpha_spec, gamma_spec, start)
    return {name: float(transforms[name].inv(params[name])) for name in priors}
