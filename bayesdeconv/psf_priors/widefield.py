r"""A parametric prior on the PSF of a widefield fluorescence microscope (2-D plane or 3-D stack).

:class:`WidefieldPSF` makes the PSF a differentiable function of the optics,
:math:`k = k(\mathrm{NA}, n, \lambda, \Delta_{xy}, \Delta_z, d)`, by the paraxial Born & Wolf
defocus integral [1]_ (:func:`~bayesdeconv.physics.psf.widefield_born_wolf_kernel`) or its
Gaussian approximation [2]_ (:func:`~bayesdeconv.physics.psf.widefield_gaussian_kernel`), so that
the posterior of the numerical aperture (and, for one 2-D image, of the distance from focus)
comes with the image's; see :mod:`bayesdeconv.psf_priors.parametric` for the mechanics.

References
----------
.. [1] M. Born and E. Wolf, *Principles of Optics*, 7th ed., Cambridge University Press,
   1999, section 8.8.
.. [2] B. Zhang, J. Zerubia and J.-C. Olivo-Marin, "Gaussian approximations of fluorescence
   microscope point-spread function models", *Applied Optics* 46(10), 1819-1829, 2007.
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch

from bayesdeconv.physics.psf.checks import check_int
from bayesdeconv.physics.psf.differentiable_optics import (
    _APERTURE_SLACK,
    widefield_born_wolf_kernel,
    widefield_gaussian_kernel,
    widefield_ndim,
)
from bayesdeconv.psf_priors.parametric import ParametricPSFPrior, Spec, _check, _lower_bound

__all__ = ["WidefieldPSF"]

MODELS = ("born_wolf", "gaussian")
DEFAULT_REFRACTIVE_INDEX = 1.515
"""Immersion oil, the usual medium of high-NA widefield fluorescence objectives."""
NA_PRIOR_LOW, NA_PRIOR_HIGH = 0.2, 1.5
r"""The default NA prior is :math:`\mathcal U(0.2, \min(1.5, n))`."""


def _upper(spec: float | dist.Distribution) -> float:
    """A fixed value, or the upper end of a prior's support (``inf`` if it has none)."""
    if not isinstance(spec, dist.Distribution):
        return float(spec)
    base = getattr(spec.support, "base_constraint", spec.support)
    high = getattr(base, "upper_bound", None)
    return math.inf if high is None else float(torch.as_tensor(high).max())


def _lower(spec: float | dist.Distribution) -> float:
    """A fixed value, or the lower end of a prior's support."""
    return float(spec) if not isinstance(spec, dist.Distribution) else _lower_bound(spec.support)[0]


def _uniform(low: float, high: float) -> dist.Uniform:
    """A float64 ``Uniform`` (the default priors)."""
    return dist.Uniform(
        torch.tensor(low, dtype=torch.float64), torch.tensor(high, dtype=torch.float64)
    )


def _typical(spec: float | dist.Distribution) -> float:
    """A fixed value, or a prior's mean (median if the mean is not finite)."""
    if not isinstance(spec, dist.Distribution):
        return float(spec)
    value = float(spec.mean)
    return value if math.isfinite(value) else float(spec.icdf(torch.tensor(0.5)))


class WidefieldPSF(ParametricPSFPrior):
    r"""Widefield fluorescence PSF with a prior on its optical parameters, 2-D or 3-D.

    .. math::
        h(r, z) \propto \left|\int_0^1 J_0(k\,\mathrm{NA}\,r\rho)\,
        \exp\!\Big(-\tfrac i2\,k\rho^2 (z - d)\,\frac{\mathrm{NA}^2}{n}\Big)\,\rho\,d\rho
        \right|^2, \qquad k = \frac{2\pi}{\lambda},

    the paraxial scalar model of Born & Wolf [1]_ (``model="born_wolf"``), sampled at
    :math:`r = \Delta_{xy}\sqrt{i_x^2 + i_y^2}`, :math:`z = \Delta_z i_z` (3-D) or :math:`z = 0`
    (2-D: one image taken a distance :math:`d` from focus), normalised to unit sum. With
    ``model="gaussian"`` it is the Gaussian approximation of Zhang et al. [2]_,
    :math:`\sigma_{xy} = \sqrt2/(k\,\mathrm{NA})`, :math:`\sigma_z = 2\sqrt6\,n/(k\,\mathrm{NA}^2)`.
    Each parameter is a number (fixed) or a ``pyro.distributions`` prior (site
    ``psf_<name>``); by default only the numerical aperture, and the defocus of a 2-D
    Born & Wolf PSF, are free.

    Parameters
    ----------
    size : int or tuple of int (ny, nx) or (nz, ny, nx)
        Odd support, at least 3; 3-D when it has three entries, or when it is an int and
        `z_step` is given. Choose it to hold the PSF at the lowest NA (and largest defocus)
        the prior allows: the first Airy zero is at :math:`0.61\lambda/\mathrm{NA}`.
    wavelength : float or pyro distribution
        Emission wavelength :math:`\lambda` (required), in the unit of `pixel_size`, e.g.
        ``0.52`` (µm) for GFP.
    pixel_size : float or pyro distribution
        Lateral pixel pitch in the object plane :math:`\Delta_{xy}` (required): the camera
        pixel divided by the magnification.
    z_step : float or pyro distribution, optional
        Spacing of the planes :math:`\Delta_z` of a 3-D stack, same unit (required in 3-D,
        not allowed in 2-D).
    numerical_aperture : float or pyro distribution, optional
        NA of the objective. Default prior :math:`\mathcal U(0.2, \min(1.5, n_{\min}))` with
        :math:`n_{\min}` the (lowest) refractive index; give a narrower prior when the
        objective is known, e.g. ``dist.Uniform(1.2, 1.45)``. The prior's support must not
        exceed :math:`n_{\min}` (a ``Uniform`` does; a ``LogNormal`` is refused).
    refractive_index : float or pyro distribution, optional
        Immersion index :math:`n \ge 1`: 1.0 air, 1.33 water, 1.47 glycerol, 1.515 oil (the
        default, fixed). In 2-D in focus it only bounds NA.
    defocus : float or pyro distribution, optional
        :math:`d`, same unit. 2-D Born & Wolf: the distance of the imaged plane from focus,
        :math:`d \ge 0` (the PSF is even in :math:`d`); default prior
        :math:`\mathcal U(0, R\,\Delta_{xy}\,n/\mathrm{NA}_{\max})`, with :math:`R` the
        half-width of the support in pixels, so that the geometric blur radius
        :math:`d\,\mathrm{NA}/n` fits the support. 3-D: a fixed axial shift of the focus from
        the centre plane (any sign; default 0), never a prior (see Notes). The Gaussian model
        has no defocus.
    model : {"born_wolf", "gaussian"}, default "born_wolf"
        The PSF model.
    n_quad : int, optional
        Gauss-Legendre nodes of the Born & Wolf integral (default: see
        :func:`~bayesdeconv.physics.psf.differentiable_optics.widefield_born_wolf_kernel`).

    Raises
    ------
    ValueError
        If `size` is not odd, has neither 2 nor 3 axes, or disagrees with `z_step`; a
        required parameter is missing; a fixed value or a prior's support leaves its range
        (:math:`n < 1`, or NA possibly above n); a defocus is given to the Gaussian model or
        a defocus prior to a 3-D PSF; or `model` is unknown.

    Notes
    -----
    *What the data can tell.* The kernel depends on the optics only through
    :math:`a = k\,\mathrm{NA}\,\Delta_{xy}` per pixel of radius and
    :math:`b = \tfrac12 k\,\mathrm{NA}^2 (z - d)/n`: from a focused 2-D image only
    :math:`\mathrm{NA}\,\Delta_{xy}/\lambda` is identifiable, so keep at most one of NA,
    :math:`\lambda`, :math:`\Delta_{xy}` free.

    *Defocus in 3-D.* The collapsed evidence of a stationary (circulant) image prior depends on
    the PSF only through :math:`|K(\omega)|^2`, which an axial shift of the PSF leaves
    unchanged (it only multiplies :math:`K` by a phase): the evidence, and so the posterior of
    :math:`d`, is flat. A shift moves the whole deconvolved stack instead, so in 3-D
    :math:`d` is a fixed number (0 by default) and a prior on it is refused.

    *Defocus and the Gaussian model.* Every normalised plane of the Gaussian model is the same
    lateral Gaussian (no defocus broadening), so it has no defocus parameter.

    The model is scalar, paraxial and aberration-free (no refractive-index mismatch, no
    vectorial high-NA effects); it is not registered in :data:`bayesdeconv.registry.PSF_PRIORS`
    because it cannot be built from a size alone (the wavelength and pixel size are needed).

    Examples
    --------
    >>> import pyro.distributions as dist
    >>> prior = WidefieldPSF((9, 15, 15), wavelength=0.52, pixel_size=0.1, z_step=0.25,
    ...                      refractive_index=1.33, numerical_aperture=dist.Uniform(0.8, 1.25))
    >>> prior.free_parameters
    ('numerical_aperture',)
    >>> WidefieldPSF(15, wavelength=0.52, pixel_size=0.1).free_parameters
    ('numerical_aperture', 'defocus')
    """

    kinds = {
        "numerical_aperture": "positive",
        "refractive_index": "positive",
        "wavelength": "positive",
        "pixel_size": "positive",
        "z_step": "positive",
        "defocus": "nonneg",
    }

    def __init__(
        self,
        size,
        *,
        wavelength: Spec,
        pixel_size: Spec,
        z_step: Spec = None,
        numerical_aperture: Spec = None,
        refractive_index: Spec = None,
        defocus: Spec = None,
        model: str = "born_wolf",
        n_quad: int | None = None,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {model!r}")
        self.model = model
        self.n_quad = None if n_quad is None else check_int("n_quad", n_quad)
        self.ndim = widefield_ndim(size, z_step)
        self._arguments = {
            "wavelength": wavelength,
            "pixel_size": pixel_size,
            "z_step": z_step,
            "numerical_aperture": numerical_aperture,
            "refractive_index": refractive_index,
            "defocus": defocus,
            "model": model,
            "n_quad": n_quad,
        }
        index = DEFAULT_REFRACTIVE_INDEX if refractive_index is None else refractive_index
        _check("refractive_index", "positive", index)
        if _lower(index) < 1.0:
            raise ValueError(
                "refractive_index is the immersion medium's, at least 1 (air); got "
                f"{index} (lowest value {_lower(index)})"
            )
        self._index_low = _lower(index)
        aperture = self._default_prior("numerical_aperture")
        aperture = aperture if numerical_aperture is None else numerical_aperture
        _check("numerical_aperture", "positive", aperture)
        if _upper(aperture) > self._index_low * (1.0 + _APERTURE_SLACK):
            raise ValueError(
                f"numerical_aperture (up to {_upper(aperture)}) cannot exceed refractive_index "
                f"(down to {self._index_low}); give a number or a prior with a bounded support, "
                f"such as dist.Uniform(0.8, {min(self._index_low, 1.4)})"
            )
        names = ["numerical_aperture", "refractive_index", "wavelength", "pixel_size"]
        if self.ndim == 3:
            names.append("z_step")
        self.defocus = self._fixed_defocus(defocus)
        if self.ndim == 2 and model == "born_wolf":
            names.append("defocus")
        self.parameters = tuple(names)
        super().__init__(size, {name: self._arguments[name] for name in names})

    def _fixed_defocus(self, defocus: Spec) -> float:
        """The defocus of a 3-D or Gaussian PSF (a number, not a parameter); 0.0 otherwise."""
        if self.model == "gaussian":
            if defocus is not None and (isinstance(defocus, dist.Distribution) or defocus != 0):
                raise ValueError(
                    "the Gaussian widefield model has no defocus (every plane, normalised, is "
                    "the same lateral Gaussian); use model='born_wolf'"
                )
            return 0.0
        if self.ndim == 2 or defocus is None:
            return 0.0
        if isinstance(defocus, dist.Distribution):
            raise ValueError(
                "a 3-D widefield PSF takes defocus as a number (an axial shift of the focus), "
                "not a prior: the evidence of a stationary image prior cannot see an axial "
                "shift of the PSF, so its posterior would be its prior"
            )
        try:
            value = float(defocus)
        except (TypeError, ValueError):
            raise ValueError(f"defocus must be a number, got {defocus!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"defocus must be finite, got {defocus!r}")
        return value

    def _init_kwargs(self) -> dict:
        return dict(self._arguments)

    def __repr__(self) -> str:
        specs = ", ".join(f"{k}={v}" for k, v in self._specs.items())
        extra = f", defocus={self.defocus}" if "defocus" not in self._specs and self.defocus else ""
        return f"{type(self).__name__}(size={self.size}, {specs}{extra}, model={self.model!r})"

    def _default_prior(self, name: str) -> float | dist.Distribution:
        if name == "refractive_index":
            return DEFAULT_REFRACTIVE_INDEX
        if name == "numerical_aperture":
            return _uniform(NA_PRIOR_LOW, min(NA_PRIOR_HIGH, self._index_low))
        if name == "defocus":
            half = min(self.size[-2:]) // 2
            pitch = _typical(self._specs["pixel_size"])
            index = _typical(self._specs["refractive_index"])
            return _uniform(0.0, half * pitch * index / _upper(self._specs["numerical_aperture"]))
        hint = {
            "wavelength": "the emission wavelength, e.g. 0.52 (µm) for GFP",
            "pixel_size": "the lateral pixel pitch in the object plane, in that unit",
            "z_step": "the spacing of the planes, in that unit",
        }[name]
        raise ValueError(f"WidefieldPSF needs {name}: {hint}")

    def _kernel(self, values, dtype, device) -> torch.Tensor:
        optics = {
            "wavelength": values["wavelength"],
            "numerical_aperture": values["numerical_aperture"],
            "refractive_index": values["refractive_index"],
            "pixel_size": values["pixel_size"],
            "z_step": values["z_step"] if self.ndim == 3 else None,
        }
        if self.model == "gaussian":
            return widefield_gaussian_kernel(self.size, **optics, dtype=dtype, device=device)
        return widefield_born_wolf_kernel(
            self.size,
            **optics,
            defocus=values.get("defocus", self.defocus),
            n_quad=self.n_quad,
            dtype=dtype,
            device=device,
        )
