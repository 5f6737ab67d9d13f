r"""The variational deep image prior's guide: a network emits the image posterior.

.. math::
    q(x) = \prod_p \mathcal N\big(x_p;\ \mu_\theta(z)_p,\ s_\theta(z)_p^2\big),

where :math:`(\mu_\theta, s_\theta)` are the two output maps of the untrained generator of a
:class:`~bayesdeconv.priors.VariationalDIP` (an amortised mean-field family: one network
instead of two numbers per pixel). Every other latent site of the model (the noise precision,
the prior's precisions) gets an ``AutoNormal`` factor, so the ELBO is
:math:`\mathbb E_q[\log p(y, x, \lambda \mid k)] + \mathrm H[q]` on the same model as the
other engines; a generated kernel (:class:`~bayesdeconv.psf_priors.GeneratedPSF`) is a point
estimate and contributes no entropy (Huo et al. 2023).
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer.autoguide import AutoNormal, init_to_median, init_to_value
from pyro.infer.autoguide.initialization import InitMessenger

from bayesdeconv import sites

__all__ = ["DIPGuide"]


class DIPGuide:
    """Guide of a model whose image prior is a :class:`~bayesdeconv.priors.VariationalDIP`.

    Parameters
    ----------
    model : DeconvolutionModel
    init_values : dict, optional
        Starting values of the other latent sites (constrained space).
    init_scale : float
        Starting std of the other sites' Normal factors.
    """

    def __init__(self, model, *, init_values: dict | None = None, init_scale: float = 0.1):
        if not getattr(model.prior, "variational", False):
            raise ValueError("DIPGuide needs a model whose image prior is a VariationalDIP")
        self.model = model
        # the flat image site of a sparse prior cannot be sampled: its start value must
        # reach the blocked model (as in guides.factory)
        init = init_to_value(values=dict(init_values or {}), fallback=init_to_median)
        self._rest_model = poutine.block(InitMessenger(init)(model), hide=[sites.IMAGE])
        self._init = init
        self._init_scale = init_scale
        self.rest: AutoNormal | None = None
        self._has_rest: bool | None = None

    def _other_sites(self, *args, **kwargs) -> bool:
        trace = poutine.trace(self._rest_model).get_trace(*args, **kwargs)
        return any(
            node["type"] == "sample" and not node["is_observed"]
            and not node["infer"].get("_deterministic", False)
            for node in trace.nodes.values()
        )  # fmt: skip

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The image posterior's mean and std maps (registers the network's weights)."""
        model = self.model
        return model.prior.guide_moments(model.latent_shape, dtype=model.dtype,
                                         device=model.device)  # fmt: skip

    def __call__(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        if self._has_rest is None:
            with poutine.block():
                self._has_rest = self._other_sites(*args, **kwargs)
            if self._has_rest:
                self.rest = AutoNormal(
                    self._rest_model, init_loc_fn=self._init, init_scale=self._init_scale
                )
        mean, scale = self.moments()
        x = pyro.sample(sites.IMAGE, dist.Normal(mean, scale).to_event(mean.ndim))
        values = {sites.IMAGE: x}
        if self.rest is not None:
            values.update(self.rest(*args, **kwargs))
        return values
