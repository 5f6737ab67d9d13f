r"""The image-prior protocol and the capabilities that unlock the closed-form engines.

Every image prior is an :class:`ImagePrior`: inside a Pyro model its :meth:`~ImagePrior.sample`
emits the prior's own sample sites (the image ``x`` on the latent grid and any hyper-parameter
of its own) and returns ``x``. That is all SVI, MAP and Vadam need. A prior with closed-form
structure says so by deriving from a capability class as well:

* :class:`CirculantGaussianPrior` — :math:`x \mid \alpha \sim \mathcal N(0, (\alpha Q_0)^{-1})`
  with a circulant :math:`Q_0` known by its spectrum: the exact posterior and evidence
  (:func:`~bayesdeconv.infer.exact_posterior`), Fourier and diagonal IVB
  (:func:`~bayesdeconv.infer.fit_ivb`), exact conditional sampling.
* :class:`GaussianScaleMixturePrior` — conditionally Gaussian linear features with Gamma
  precisions, :math:`(D_o x)_p \mid w_{op} \sim \mathcal N(0, w_{op}^{-1})`,
  :math:`w_{op} \sim \mathrm{Gamma}(a, b)`: sparse/blind IVB
  (:func:`~bayesdeconv.infer.blind.fit_sparse_ivb`) and Gibbs sampling.

Engines check these capabilities (``supports``), never concrete classes. See
``docs/architecture.md`` for the recipe of a new prior.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import pyro
import pyro.distributions as dist
import torch
from torch.distributions import constraints

from bayesdeconv import sites
from bayesdeconv.priors.differences import (
    axis_offsets,
    feature_diagonal,
    feature_second_moments,
    features,
    features_adjoint,
)
from bayesdeconv.priors.hyper import (
    GammaPrior,
    Precision,
    conjugate_gamma,
    precision_site,
    with_fixed_precisions,
)
from bayesdeconv.priors.stationary import StationaryGaussian

__all__ = ["CirculantGaussianPrior", "GaussianScaleMixturePrior", "ImagePrior", "NetworkPrior"]


class ImagePrior(ABC):
    """A prior on the sharp image: emits its sites inside a Pyro model.

    Subclasses implement :meth:`sample`. Optional: :meth:`hyperparameters` (scalar precision
    sites the prior learns or fixes, reported in ``Result.hyperparameters``) and
    :meth:`initial_values` (data-driven starting values of its own sites).
    """

    name: str = "custom"
    """Label used in results and reports."""

    hyperparameter_attributes: ClassVar[dict[str, str]] = {}
    """Site name → the attribute holding its :data:`~bayesdeconv.priors.hyper.Precision`
    (for :meth:`with_hyperparameters`)."""

    @abstractmethod
    def sample(self, shape: tuple[int, ...], *, dtype: torch.dtype, device) -> torch.Tensor:
        """Emit the prior's sample sites and return the image on the latent grid ``shape``.

        The image site must be named :data:`bayesdeconv.sites.IMAGE` (it may be a
        ``pyro.deterministic`` site of a generator).
        """

    def hyperparameters(self) -> dict[str, Precision]:
        """Scalar precision sites of the prior by site name (learned or fixed)."""
        return {}

    def initial_values(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Starting values of the prior's own latent sites, given a starting image."""
        return {}

    def initial_scales(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Starting standard deviations of a mean-field guide's sites (unconstrained space),
        given a starting image: e.g. an amortised encoder's :math:`q(z \\mid y)`. Sites not
        named start at the engine's default scale."""
        return {}

    def check_model(self, model) -> None:  # noqa: B027 (optional hook)
        """Raise ``ValueError`` if this prior cannot serve ``model`` (called when a
        :class:`~bayesdeconv.models.DeconvolutionModel` is built): e.g. a learned prior
        trained for another PSF or dimensionality."""

    def with_hyperparameters(self, values: Mapping[str, float]) -> ImagePrior:
        """A copy with the named precision sites held fixed at ``values``."""
        return with_fixed_precisions(self, values)

    def blind_psf_prior(self, size: tuple[int, ...]):
        """The PSF prior this image prior pairs with in blind deconvolution on support
        ``size``, or ``None`` for the package's default (the ARD prior on the simplex)."""
        return None


class NetworkPrior(ImagePrior):
    r"""Capability: an untrained generator network (deep image prior) makes the image, or,
    with ``variational``, the mean and scale of its posterior :math:`q(x)`, and the prior
    carries the schedule that fits it: for the deep image prior the optimisation path *is*
    the regulariser. MAP (SelfDeblur) and SVI (variational DIP) run it through
    :func:`~bayesdeconv.infer.dip.fit_dip`, which calls :meth:`reset` before every restart.
    """

    variational: ClassVar[bool] = False
    """``False``: the image site is deterministic from the weights (fitted by MAP).
    ``True``: the image site is the base prior's, and the network is the guide's."""

    @abstractmethod
    def reset(self, shape: tuple[int, ...], *, seed: int, dtype: torch.dtype, device) -> None:
        """Draw fresh network weights and input for the latent grid ``shape``."""

    @abstractmethod
    def settings(self, device) -> tuple:
        """``(GeneratorShape, DIPSchedule)`` used on ``device``."""

    @abstractmethod
    def network_output(self) -> torch.Tensor:
        """The generator's raw output maps ``(channels, *shape)``; registers its weights with
        Pyro under the module name :data:`~bayesdeconv.priors.dip.MODULE`."""


class CirculantGaussianPrior(ImagePrior):
    r"""Capability: a Gaussian prior with a circulant precision :math:`\alpha Q_0`.

    .. math::
        p(x \mid \alpha) = \mathcal N\big(x;\ 0,\ (\alpha Q_0)^{-1}\big), \qquad
        \alpha \sim \mathrm{Gamma}(a_0, b_0) \text{ or fixed},

    with :math:`Q_0 = F^{-1} \operatorname{diag}(Q_0(\omega)) F` positive definite. Implement
    :meth:`spectrum` (the eigenvalues :math:`Q_0(\omega)` on the full FFT grid); the other
    methods follow from it and may be overridden by cheaper exact forms. Set ``precision`` (a
    :class:`~bayesdeconv.priors.hyper.GammaPrior` or
    :class:`~bayesdeconv.priors.hyper.FixedPrecision`) in the constructor.
    """

    precision: Precision
    hyperparameter_attributes: ClassVar[dict[str, str]] = {sites.IMAGE_PRECISION: "precision"}

    @abstractmethod
    def spectrum(self, shape: tuple[int, ...], *, dtype=torch.float64, device=None):
        """:math:`Q_0(\\omega) > 0` on the full ``fftn`` grid of the latent ``shape``."""

    def log_det(self, shape: tuple[int, ...], *, dtype=torch.float64, device=None) -> float:
        """:math:`\\log|Q_0| = \\sum_\\omega \\log Q_0(\\omega)`."""
        return float(self.spectrum(shape, dtype=dtype, device=device).double().log().sum())

    def _cached_spectrum(self, shape, dtype, device, compute) -> tuple[torch.Tensor, float]:
        """``(spectrum, log_det)`` on one grid, from ``compute(shape, device)`` once per
        ``(shape, dtype, device)``: for priors whose spectrum costs more than a lookup."""
        cache = self.__dict__.setdefault("_spectra", {})
        key = (tuple(shape), dtype, str(device))
        if key not in cache:
            spectrum = compute(tuple(shape), device)
            cache[key] = (spectrum.to(dtype), float(spectrum.double().log().sum()))
        return cache[key]

    def diagonal(self, shape: tuple[int, ...]) -> float:
        """Every diagonal entry of :math:`Q_0` on the latent grid ``shape`` (constant, since
        :math:`Q_0` is circulant): the mean of its spectrum."""
        return float(self.spectrum(tuple(shape)).mean())

    def quadratic(self, x: torch.Tensor, ndim: int) -> torch.Tensor:
        """:math:`x^\\top Q_0 x` over the last ``ndim`` axes (spectral formula)."""
        shape = tuple(x.shape[-ndim:])
        dims = tuple(range(-ndim, 0))
        spectrum = self.spectrum(shape, dtype=x.dtype, device=x.device)
        power = torch.fft.fftn(x, dim=dims).abs() ** 2
        return (spectrum * power).sum(dims) / math.prod(shape)

    def distribution(self, precision: torch.Tensor, shape: tuple[int, ...]) -> StationaryGaussian:
        """:math:`p(x \\mid \\alpha)` on a latent grid of ``shape`` as a Pyro distribution."""
        spectrum = self.spectrum(shape, dtype=precision.dtype, device=precision.device)
        log_det = self.log_det(shape, dtype=precision.dtype, device=precision.device)
        ndim = len(shape)
        return StationaryGaussian(
            precision, spectrum, lambda x: self.quadratic(x, ndim), log_det=log_det
        )

    @property
    def learned(self) -> bool:
        """Whether :math:`\\alpha` has a hyper-prior (else it is held fixed)."""
        return self.precision.learned

    def sample(self, shape, *, dtype, device) -> torch.Tensor:
        alpha = precision_site(sites.IMAGE_PRECISION, self.precision, dtype=dtype, device=device)
        return pyro.sample(sites.IMAGE, self.distribution(alpha, tuple(shape)))

    def hyperparameters(self) -> dict[str, Precision]:
        return {sites.IMAGE_PRECISION: self.precision}

    def initial_values(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.precision.learned:
            return {}
        spec: GammaPrior = self.precision
        if spec.init is not None:
            value = spec.init
        else:  # the precision at which the starting image is a typical draw
            quad = float(self.quadratic(image, image.ndim))
            value = image.numel() / max(quad, 1e-12)
        return {sites.IMAGE_PRECISION: torch.tensor(value, dtype=image.dtype, device=image.device)}


class GaussianScaleMixturePrior(ImagePrior):
    r"""Capability: conditionally Gaussian features with Gamma (ARD) precisions.

    .. math::
        (D_o x)_p \mid w_{op} \sim \mathcal N(0, w_{op}^{-1}), \quad
        w_{op} \sim \mathrm{Gamma}(a, b), \quad
        p(x \mid w) \propto \prod_{o,p} \mathcal N\big((D_o x)_p; 0, w_{op}^{-1}\big)\,
        e^{-\varepsilon \|x\|^2 / 2},

    for the circular differences :math:`(D_o x)_p = x_{p+o} - x_p` along the ``offsets``
    (default: one per image axis) and every pixel :math:`p`. Integrating :math:`w` out gives
    a Student-t on each feature (:math:`\nu = 2a`, scale :math:`\sqrt{b/a}`). The density of
    :math:`x` given :math:`w` is used up to its normalising constant as a density of
    :math:`x`, as usual for such priors (every Gaussian factor keeps its own constant); the
    closed-form ELBO of IVB and the Pyro model's ``Trace_ELBO`` use the same unnormalised
    density, collapsed or not, so they are the same number for the same variational factors.

    Set ``shape`` (:math:`a`), ``rate`` (:math:`b`), ``epsilon`` (the ridge) and optionally
    ``offsets`` as attributes; ``integrate`` chooses how the Pyro model expresses :math:`w`.
    """

    shape: float
    rate: float
    epsilon: float
    offsets: tuple[tuple[int, ...], ...] | None = None
    integrate: bool = True
    """``True``: the model holds the Student-t marginal (``w`` integrated out; fewer latent
    sites for SVI). ``False``: explicit ``gradient_precision`` sites (the uncollapsed model that
    IVB and Gibbs update in closed form)."""

    def feature_offsets(self, ndim: int) -> tuple[tuple[int, ...], ...]:
        """The difference offsets :math:`o` (one per image axis unless ``offsets`` is set)."""
        if self.offsets is None:
            return axis_offsets(ndim)
        return tuple(tuple(int(v) for v in o) for o in self.offsets)

    # -- the linear features ---------------------------------------------------------------
    def features(self, x: torch.Tensor, ndim: int) -> torch.Tensor:
        """:math:`D_o x` stacked on a new axis 0, shape ``(n_offsets, *x.shape)``."""
        return features(x, self.feature_offsets(ndim))

    def features_adjoint(self, g: torch.Tensor, ndim: int) -> torch.Tensor:
        """:math:`\\sum_o D_o^\\top g_o`."""
        return features_adjoint(g, self.feature_offsets(ndim))

    def feature_diagonal(self, weights: torch.Tensor, ndim: int) -> torch.Tensor:
        """Diagonal of :math:`\\sum_o D_o^\\top W_o D_o`."""
        return feature_diagonal(weights, self.feature_offsets(ndim))

    def second_moments(self, mean: torch.Tensor, variance: torch.Tensor, ndim: int):
        """:math:`\\mathbb E[(D_o x)_p^2]` under a mean-field Gaussian :math:`q(x)`."""
        return feature_second_moments(mean, variance, self.feature_offsets(ndim))

    # -- closed-form pieces ----------------------------------------------------------------
    @property
    def degrees_of_freedom(self) -> float:
        """:math:`\\nu = 2a` of the Student-t marginal."""
        return 2.0 * self.shape

    @property
    def scale(self) -> float:
        """Scale :math:`\\sqrt{b/a}` of the Student-t marginal."""
        return math.sqrt(self.rate / self.shape)

    def expected_precision(
        self, second_moment: torch.Tensor, rate: float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The closed-form :math:`q(w)` update, as its mean and the rate of the Gamma.

        Given :math:`\\mathbb E[(D_o x)_p^2]`, :math:`q(w_{op}) = \\mathrm{Gamma}(a + \\tfrac12,
        b + \\tfrac12\\mathbb E[(D_o x)_p^2])`; returns ``(E w, rate)``. ``rate`` replaces
        :math:`b` (continuation from a smoother prior).
        """
        shape, rate = conjugate_gamma(
            self.shape, self.rate if rate is None else rate, 1.0, second_moment
        )
        return shape / rate, rate

    def marginal(self, *, dtype=torch.float64, device=None) -> dist.StudentT:
        """The Student-t marginal of one feature, as a Pyro distribution."""
        return dist.StudentT(
            torch.tensor(self.degrees_of_freedom, dtype=dtype, device=device),
            torch.tensor(0.0, dtype=dtype, device=device),
            torch.tensor(self.scale, dtype=dtype, device=device),
        )

    def log_density(self, x: torch.Tensor, ndim: int) -> torch.Tensor:
        """:math:`\\log p(x) = \\log \\int p(x \\mid w)\\, p(w)\\, dw` with the precisions
        integrated out.

        :math:`\\sum_{o,p} \\log \\mathrm{St}((D_o x)_p) + \\sum_p \\big(\\tfrac12
        \\log\\tfrac{\\varepsilon}{2\\pi} - \\tfrac\\varepsilon2 x_p^2\\big)`, summed over the last
        ``ndim`` axes (leading axes are batch): the marginal of
        :meth:`conditional_log_density` over the Gamma precisions, constants included, so the
        collapsed and the uncollapsed model bound the same evidence.
        """
        marginal = self.marginal(dtype=x.dtype, device=x.device)
        dims = tuple(range(-ndim, 0))
        terms = marginal.log_prob(self.features(x, ndim)).sum(0).sum(dims)
        log_2pi = math.log(2 * math.pi)
        ridge = 0.5 * (math.log(self.epsilon) - log_2pi) - 0.5 * self.epsilon * x**2
        return terms + ridge.sum(dims)

    def conditional_log_density(self, x: torch.Tensor, w: torch.Tensor, ndim: int):
        """Unnormalised :math:`\\log p(x \\mid w)`: Gaussian features and the ridge, with the
        :math:`-\\tfrac12\\log 2\\pi` of every Gaussian factor kept (the IVB ELBO's terms).
        ``w`` has the shape of the ``gradient_precision`` site, ``(*batch, n_offsets, *image)``."""
        dims = tuple(range(-ndim, 0))
        feats = self.features(x, ndim)  # (n_offsets, *batch, *image)
        w = torch.movedim(w, -ndim - 1, 0)  # (*batch, n_offsets, *image) -> the same layout
        log_2pi = math.log(2 * math.pi)
        terms = (0.5 * w.log() - 0.5 * log_2pi - 0.5 * w * feats**2).sum(0).sum(dims)
        ridge = 0.5 * (math.log(self.epsilon) - log_2pi) - 0.5 * self.epsilon * x**2
        return terms + ridge.sum(dims)

    def sample(self, shape, *, dtype, device) -> torch.Tensor:
        shape = tuple(shape)
        ndim = len(shape)
        if not self.integrate:
            n = len(self.feature_offsets(ndim))
            a = torch.tensor(self.shape, dtype=dtype, device=device)
            b = torch.tensor(self.rate, dtype=dtype, device=device)
            w = pyro.sample(
                sites.GRADIENT_PRECISION,
                dist.Gamma(a, b).expand((n, *shape)).to_event(ndim + 1),
            )
        flat = dist.ImproperUniform(constraints.real, (), shape)
        x = pyro.sample(sites.IMAGE, flat)
        if self.integrate:
            pyro.factor(sites.IMAGE_PRIOR, self.log_density(x, ndim))
        else:
            pyro.factor(sites.IMAGE_PRIOR, self.conditional_log_density(x, w, ndim))
        return x

    def initial_values(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.integrate:
            return {}
        w, _ = self.expected_precision(self.features(image, image.ndim) ** 2)
        return {sites.GRADIENT_PRECISION: w}
