"""Inference engines; every one returns a :class:`Result`."""

from bayesdeconv.infer.exact import ExactPosterior, exact_posterior
from bayesdeconv.infer.ivb import fit_ivb
from bayesdeconv.infer.result import LogNormalPosterior, PointValue, Result

__all__ = [
    "ExactPosterior",
    "LogNormalPosterior",
    "PointValue",
    "Result",
    "exact_posterior",
    "fit_ivb",
]
