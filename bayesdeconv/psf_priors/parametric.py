r"""Parametric PSF priors: a few physical parameters with a posterior instead of PSF values.

A :class:`ParametricPSFPrior` makes the PSF a differentiable function of named parameters,

.. math::
    \phi_i \sim p(\phi_i), \qquad k = k(\phi) \in \Delta
    \quad (k \ge 0, \ \textstyle\sum_j k_j = 1),

built on :mod:`bayesdeconv.physics.psf.differentiable`. Inside a Pyro model every free
parameter is one sample site ``psf_<name>`` (:func:`bayesdeconv.sites.psf_parameter`) and the
kernel is the deterministic site ``psf``, so SVI's reparameterised gradients flow through the
kernel to the parameters, and the posterior of a blur width or a motion length comes with the
image's [1]_ [2]_. A parameter given as a number is fixed (no site); given as a
``pyro.distributions`` object it is that parameter's prior.

References
----------
.. [1] F. Orieux, J.-F. Giovannelli and T. Rodet, "Bayesian estimation of regularization and
   point spread function parameters for Wiener-Hunt deconvolution", *J. Opt. Soc. Am. A*
   27(7), 1593-1607, 2010.
.. [2] M. Delbracio, I. Garcia-Dorado, S. Choi, D. Kelly and P. Milanfar, "Polyblur: Removing
   mild blur by polynomial reblurring", *IEEE Trans. Computational Imaging* 7, 837-848, 2021.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pyro
import pyro.distributions as dist
import torch
from torch.distributions import constraints

from bayesdeconv import sites
from bayesdeconv.physics.psf.differentiable import defocus_kernel, gaussian_kernel, motion_kernel
from bayesdeconv.psf_priors.base import PSFPrior

__all__ = ["DefocusPSF", "GaussianPSF", "LinearMotionPSF", "ParametricPSFPrior"]

Spec = float | dist.Distribution | None
"""A parameter as given: a number (fixed), a distribution (its prior) or None (default)."""

_KINDS = ("positive", "nonneg", "angle")


def _odd_size(size, ndim: int = 2) -> tuple[int, ...]:
    sizes = (size,) * ndim if isinstance(size, int | float) else tuple(size)
    if len(sizes) != ndim or any(isinstance(s, bool) or int(s) != s for s in sizes):
        axes = "(h, w)" if ndim == 2 else "(d, h, w)"
        raise ValueError(f"size must be an odd int or {ndim} odd ints {axes}, got {size!r}")
    out = tuple(int(s) for s in sizes)
    if any(s < 3 or s % 2 == 0 for s in out):
        raise ValueError(f"size must be odd and at least 3 along every axis, got {out}")
    return out


def _lower_bound(support) -> tuple[float, bool]:
    """The lower end of a support and whether a guide can reach it exactly.

    Only a closed interval's end counts as reachable (its sigmoid transform underflows to the
    end in float32); the log transform of ``positive`` or ``nonnegative`` never reaches 0.
    """
    base = getattr(support, "base_constraint", support)  # independent(...)
    if base is constraints.positive or base is constraints.nonnegative:
        return 0.0, False
    low = getattr(base, "lower_bound", None)
    if low is None:  # real, or a support with no lower end
        return -math.inf, False
    return float(torch.as_tensor(low).min()), hasattr(base, "upper_bound")


def _check(name: str, kind: str, value: Spec) -> None:
    """``ValueError`` when a fixed value or a prior's support leaves the parameter's range."""
    if isinstance(value, dist.Distribution):
        if value.batch_shape or value.event_shape:
            raise ValueError(
                f"the prior of {name} must be scalar, got batch shape "
                f"{tuple(value.batch_shape)}, event shape {tuple(value.event_shape)}"
            )
        if kind == "angle":
            return
        low, closed = _lower_bound(value.support)
        if low < 0 or (kind == "positive" and low == 0 and closed):
            need = "> 0" if kind == "positive" else ">= 0"
            raise ValueError(
                f"the prior of {name} must have support {need}, got {value.support} (lower "
                f"end {low}); e.g. dist.Uniform(0.3, ...) or dist.LogNormal(...)"
            )
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a pyro distribution, got {value!r}") from None
    ok = math.isfinite(number) and (
        kind == "angle" or number > 0 or (kind == "nonneg" and number == 0)
    )
    if not ok:
        raise ValueError(
            f"{name} must be finite and {'>= 0' if kind == 'nonneg' else '> 0'}, got {value!r}"
        )


def _cast(prior: dist.Distribution, dtype: torch.dtype, device) -> dist.Distribution:
    """``prior`` with its tensor arguments on ``dtype``/``device`` (as given if not rebuildable)."""
    try:
        args = {k: getattr(prior, k) for k in prior.arg_constraints}
        moved = {k: torch.as_tensor(v).to(dtype=dtype, device=device) for k, v in args.items()}
        return type(prior)(**moved)
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        return prior


class ParametricPSFPrior(PSFPrior):
    r"""A prior on a PSF of fixed odd support through a few named parameters.

    Subclasses give :attr:`parameters`, the range of each (``kinds``: ``"positive"``,
    ``"nonneg"`` or ``"angle"``), the default priors and :meth:`_kernel`. A parameter of kind
    ``"angle"`` has period :attr:`period` (:math:`\pi` for a centred, point-symmetric
    kernel): :meth:`wrap` maps it to :math:`[0, \pi)`, and any real prior works since the
    kernel is periodic.

    Parameters
    ----------
    size : int or tuple of int (h, w)
        Odd support, at least 3.
    values : Mapping
        Parameter name to a number (fixed), a ``pyro.distributions`` object (prior) or
        ``None`` (the default prior).

    Raises
    ------
    ValueError
        If `size` is not odd, a fixed value is out of its range, or a prior's support
        allows values out of it (e.g. :math:`\sigma \le 0`).
    """

    parametric = True
    parameters: tuple[str, ...] = ()
    """Every parameter of the family, in the order of :meth:`kernel`'s arguments."""
    kinds: Mapping[str, str] = {}
    period: float = math.pi
    ndim: int = 2
    """Axes of the PSF (its ``size``)."""

    def __init__(self, size, values: Mapping[str, Spec]) -> None:
        self.size = _odd_size(size, self.ndim)
        self._given = dict(values)
        self._specs: dict[str, float | dist.Distribution] = {}
        for name in self.parameters:
            spec = values.get(name)
            spec = self._default_prior(name) if spec is None else spec
            _check(name, self.kinds[name], spec)
            if not isinstance(spec, dist.Distribution):
                spec = float(spec)
            self._specs[name] = spec
        self._cache: dict = {}

    # -- what it is -------------------------------------------------------------------------
    def _default_prior(self, name: str) -> dist.Distribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def _kernel(self, values: Mapping[str, torch.Tensor | float], dtype, device) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    @property
    def free_parameters(self) -> tuple[str, ...]:
        """The parameters with a prior (one sample site each)."""
        return tuple(n for n in self.parameters if isinstance(self._specs[n], dist.Distribution))

    @property
    def parameter_sites(self) -> tuple[str, ...]:
        return tuple(sites.psf_parameter(n) for n in self.free_parameters)

    def parameter_priors(self) -> dict[str, dist.Distribution]:
        """The prior of every free parameter by parameter name."""
        return {n: self._specs[n] for n in self.free_parameters}

    def fixed_parameters(self) -> dict[str, float]:
        """The values of the fixed parameters by name."""
        return {n: v for n, v in self._specs.items() if not isinstance(v, dist.Distribution)}

    def wrap(self, name: str, value):
        """``value`` of parameter ``name`` in its canonical range (angles modulo the period)."""
        return value % self.period if self.kinds[name] == "angle" else value

    def __repr__(self) -> str:
        specs = ", ".join(f"{k}={v}" for k, v in self._specs.items())
        return f"{type(self).__name__}(size={self.size}, {specs})"

    # -- the kernel -------------------------------------------------------------------------
    def kernel(self, *, dtype: torch.dtype = torch.float64, device=None, **params) -> torch.Tensor:
        r"""The PSF :math:`k(\phi)` at the free parameters ``params`` (floats or 0-d tensors,
        differentiable), the fixed ones filled in. Raises ``ValueError`` on a missing or
        unknown parameter."""
        unknown = set(params) - set(self.parameters)
        missing = set(self.free_parameters) - set(params)
        if unknown or missing:
            raise ValueError(
                f"kernel() needs the free parameters {self.free_parameters} of "
                f"{type(self).__name__}; unknown {sorted(unknown)}, missing {sorted(missing)}"
            )
        values = {**self.fixed_parameters(), **params}
        return self._kernel(values, dtype, device)

    def initial_parameters(self) -> dict[str, float]:
        """A start for each free parameter: its prior mean (the median if the mean is not
        finite)."""
        out = {}
        for name, prior in self.parameter_priors().items():
            value = float(prior.mean)
            if not math.isfinite(value):
                value = float(prior.icdf(torch.tensor(0.5)))
            out[name] = value
        return out

    def estimate_parameters(self, image) -> dict[str, float]:
        """A fast data-driven start for the free parameters (a family without an estimator
        returns :meth:`initial_parameters`); values are clipped into each prior's support."""
        return self.initial_parameters()

    def _inside(self, values: Mapping[str, float]) -> dict[str, float]:
        """``values`` of the free parameters moved just inside their priors' supports."""
        out = {}
        for name, prior in self.parameter_priors().items():
            value = float(values[name])
            base = getattr(prior.support, "base_constraint", prior.support)
            low, high = getattr(base, "lower_bound", None), getattr(base, "upper_bound", None)
            if low is not None and high is not None:
                low, high = float(low), float(high)
                margin = 1e-3 * (high - low)
                value = min(max(value, low + margin), high - margin)
            elif low is not None:
                value = max(value, float(low) + 1e-6)
            out[name] = value
        return out

    def initial_value(self, *, dtype, device) -> torch.Tensor:
        return self.kernel(dtype=dtype, device=device, **self.initial_parameters())

    def initial_sites(self, *, dtype, device) -> dict[str, torch.Tensor]:
        return {
            sites.psf_parameter(n): torch.tensor(v, dtype=dtype, device=device)
            for n, v in self.initial_parameters().items()
        }

    def priors_on(self, dtype: torch.dtype, device=None) -> dict[str, dist.Distribution]:
        """:meth:`parameter_priors` with their tensors on ``dtype`` / ``device`` (cached)."""
        key = (dtype, str(device))
        if key not in self._cache:
            self._cache[key] = {
                n: _cast(p, dtype, device) for n, p in self.parameter_priors().items()
            }
        return self._cache[key]

    def sample(self, *, dtype, device) -> torch.Tensor:
        r"""Sites ``psf_<name>`` for the free parameters, then ``psf`` :math:`= k(\phi)` as a
        ``pyro.deterministic`` site."""
        values = {
            name: pyro.sample(sites.psf_parameter(name), prior)
            for name, prior in self.priors_on(dtype, device).items()
        }
        return pyro.deterministic(sites.PSF, self.kernel(dtype=dtype, device=device, **values))

    # -- the PSFPrior protocol ----------------------------------------------------------------
    def resized(self, size: tuple[int, ...]) -> ParametricPSFPrior:
        """The same parameters (in pixels) on another support; default priors follow it."""
        return type(self)(tuple(size), **self._init_kwargs())

    def _init_kwargs(self) -> dict:
        return dict(self._given)

    def project(self, psf: torch.Tensor) -> torch.Tensor:
        """Identity: every kernel of the family is on the simplex already."""
        return psf

    def minimise_quadratic(self, a, b, start, iters):
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form PSF update (its PSF is a nonlinear "
            "function of its parameters); fit it with method='svi'"
        )


def _angle_prior() -> dist.Distribution:
    return dist.Uniform(0.0, math.pi)


class GaussianPSF(ParametricPSFPrior):
    r"""Gaussian PSF with unknown widths (and orientation), :func:`gaussian_kernel`.

    .. math::
        k(\mathbf u) \propto \exp\big(-\tfrac12 \mathbf u^\top \Sigma^{-1} \mathbf u\big),
        \qquad \Sigma = R(\theta)\operatorname{diag}(\sigma_x^2, \sigma_y^2) R(\theta)^\top,

    the usual model of mild optical blur (Polyblur [2]_ estimates exactly these three
    parameters). With ``isotropic=True`` the only parameter is ``sigma``
    (:math:`\sigma_x = \sigma_y`). The kernel has period :math:`\pi` in :math:`\theta`, and
    :math:`(\sigma_x, \sigma_y, \theta)` and :math:`(\sigma_y, \sigma_x, \theta + \pi/2)` give
    the same kernel: expect a multimodal posterior in the anisotropic case.

    Parameters
    ----------
    size : int or tuple of int
        Odd support.
    sigma_x, sigma_y, theta : float or pyro distribution, optional
        Anisotropic parameters (pixels, radians). Defaults:
        :math:`\sigma \sim \mathcal U(0.3, \min(h, w)/4)`, :math:`\theta \sim \mathcal U(0, \pi)`.
    sigma : float or pyro distribution, optional
        The width when ``isotropic=True``.
    isotropic : bool
        One width ``sigma`` instead of ``sigma_x, sigma_y, theta``.
    """

    kinds = {"sigma": "positive", "sigma_x": "positive", "sigma_y": "positive", "theta": "angle"}

    def __init__(
        self,
        size,
        sigma_x: Spec = None,
        sigma_y: Spec = None,
        theta: Spec = None,
        *,
        sigma: Spec = None,
        isotropic: bool = False,
    ) -> None:
        self.isotropic = bool(isotropic)
        if self.isotropic:
            if sigma_y is not None or theta is not None:
                raise ValueError("an isotropic GaussianPSF has no sigma_y or theta; give sigma")
            if sigma is not None and sigma_x is not None:
                raise ValueError("give sigma or sigma_x, not both")
            self.parameters = ("sigma",)
            values = {"sigma": sigma_x if sigma is None else sigma}
        else:
            if sigma is not None:
                raise ValueError("sigma is the width of isotropic=True; give sigma_x, sigma_y")
            self.parameters = ("sigma_x", "sigma_y", "theta")
            values = {"sigma_x": sigma_x, "sigma_y": sigma_y, "theta": theta}
        super().__init__(size, values)

    def _init_kwargs(self) -> dict:
        return {**self._given, "isotropic": self.isotropic}

    def estimate_parameters(self, image) -> dict[str, float]:
        """The gradient-based (Polyblur-style) estimate of the free parameters from a 2-D
        image (:func:`~bayesdeconv.infer.blur_estimate.estimate_gaussian_blur`), clipped into
        the priors; the prior means where the image has no usable edges."""
        from bayesdeconv.infer.blur_estimate import estimate_gaussian_blur

        start = self.initial_parameters()
        try:
            found = estimate_gaussian_blur(image)
        except ValueError:
            return start
        values = {"sigma": found.sigma, "sigma_x": found.sigma_x, "sigma_y": found.sigma_y,
                  "theta": found.theta}  # fmt: skip
        return self._inside({n: values[n] for n in self.free_parameters})

    def _default_prior(self, name: str) -> dist.Distribution:
        if name == "theta":
            return _angle_prior()
        return dist.Uniform(0.3, min(self.size) / 4)

    def _kernel(self, values, dtype, device) -> torch.Tensor:
        if self.isotropic:
            return gaussian_kernel(self.size, values["sigma"], dtype=dtype, device=device)
        return gaussian_kernel(
            self.size,
            values["sigma_x"],
            values["sigma_y"],
            values["theta"],
            dtype=dtype,
            device=device,
        )


class DefocusPSF(ParametricPSFPrior):
    r"""Uniform-disk (defocus) PSF of unknown radius :math:`R`, :func:`defocus_kernel`.

    .. math:: k[y, x] \propto \min\big(1, \max(0, R + \tfrac12 - \rho)\big),
        \qquad \rho = \sqrt{x^2 + y^2}.

    Default prior :math:`R \sim \mathcal U(0.5, (\min(h, w) - 1)/2)`, so the disk fits the
    support.
    """

    parameters = ("radius",)
    kinds = {"radius": "positive"}

    def __init__(self, size, radius: Spec = None) -> None:
        super().__init__(size, {"radius": radius})

    def _default_prior(self, name: str) -> dist.Distribution:
        return dist.Uniform(0.5, (min(self.size) - 1) / 2)

    def _kernel(self, values, dtype, device) -> torch.Tensor:
        return defocus_kernel(self.size, values["radius"], dtype=dtype, device=device)


class LinearMotionPSF(ParametricPSFPrior):
    r"""Linear motion-blur PSF of unknown length :math:`L` and angle :math:`\alpha`,
    :func:`motion_kernel` (a centred segment: period :math:`\pi` in :math:`\alpha`).

    Default priors :math:`L \sim \mathcal U(0, \min(h, w) - 1)`,
    :math:`\alpha \sim \mathcal U(0, \pi)`.
    """

    parameters = ("length", "angle")
    kinds = {"length": "nonneg", "angle": "angle"}

    def __init__(self, size, length: Spec = None, angle: Spec = None) -> None:
        super().__init__(size, {"length": length, "angle": angle})

    def _default_prior(self, name: str) -> dist.Distribution:
        return _angle_prior() if name == "angle" else dist.Uniform(0.0, min(self.size) - 1.0)

    def _kernel(self, values, dtype, device) -> torch.Tensor:
        return motion_kernel(
            self.size, values["length"], values["angle"], dtype=dtype, device=device
        )
