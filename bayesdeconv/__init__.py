"""bayesdeconv: Bayesian image deconvolution with Pyro.

The observation model is :math:`y = M \\odot (k \\circledast x) + n`; :func:`deconvolve` infers
the posterior of the sharp image ``x`` (mean, standard deviation, samples) and returns a
:class:`Result`. Layers: :mod:`bayesdeconv.physics` (operators, PSFs), :mod:`~bayesdeconv.priors`,
:mod:`~bayesdeconv.likelihoods`, :mod:`~bayesdeconv.models`, :mod:`~bayesdeconv.guides`,
:mod:`~bayesdeconv.infer` (exact, IVB, SVI), :mod:`~bayesdeconv.diagnostics`, :mod:`bayesdeconv.io`
and the ``bayesdeconv`` command (:mod:`bayesdeconv.cli`).
"""

from bayesdeconv.api import deconvolve
from bayesdeconv.infer.result import Result

__version__ = "0.1.0"

__all__ = ["Result", "__version__", "deconvolve"]
