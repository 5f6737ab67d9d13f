"""Inference engines; every one returns a :class:`Result`."""

from bayesdeconv.infer.collapsed import (
    CollapsedEvidence,
    PSFPosterior,
    collapsed_log_evidence,
    fit_psf_parameters,
)
from bayesdeconv.infer.exact import ExactPosterior, exact_posterior, fit_exact
from bayesdeconv.infer.ivb import fit_ivb
from bayesdeconv.infer.kernel_size import estimate_psf_size
from bayesdeconv.infer.result import LogNormalPosterior, PointValue, Result
from bayesdeconv.infer.sampling import marginal_variance, sample_conditional_posterior
from bayesdeconv.infer.svi import fit_svi
from bayesdeconv.infer.vadam import fit_vadam, vadam_fixed_point_precision
from bayesdeconv.infer.vadam_optimizer import Vadam

__all__ = [
    "CollapsedEvidence",
    "ExactPosterior",
    "LogNormalPosterior",
    "PSFPosterior",
    "PointValue",
    "Result",
    "Vadam",
    "collapsed_log_evidence",
    "estimate_psf_size",
    "exact_posterior",
    "fit_exact",
    "fit_ivb",
    "fit_psf_parameters",
    "fit_svi",
    "fit_vadam",
    "marginal_variance",
    "sample_conditional_posterior",
    "vadam_fixed_point_precision",
]
