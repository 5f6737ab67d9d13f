"""The default ArviZ export: hyper-parameters (and a blind PSF) only, several chains, and an
``az.summary`` that is short, quick and free of warnings."""

from __future__ import annotations

import logging
import math
import time
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from diag_helpers import gaussian_result

from bayesdeconv.datasets import piecewise_constant_image
from bayesdeconv.diagnostics import to_arviz
from bayesdeconv.infer.gibbs import gibbs_sparse
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.priors import sparse

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def no_warnings():
    """Fail on any Python warning and on any warning ArviZ logs (its shape-validation message
    goes to its own logger, not through :mod:`warnings`)."""
    records = _Records()
    loggers = {getattr(az, "_log", None), logging.getLogger("arviz")} - {None}
    for logger in loggers:
        logger.addHandler(records)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    finally:
        for logger in loggers:
            logger.removeHandler(records)
    assert not records.messages, records.messages


def test_the_guard_sees_arviz_shape_messages():
    """One chain makes ArviZ log a shape message for r_hat: the guard must catch it."""
    result = gaussian_result((6, 5))
    idata = to_arviz(result, 50, chains=1)
    with pytest.raises(AssertionError, match="Shape validation"), no_warnings():
        az.summary(idata, var_names=["noise_precision"])


def test_default_export_summary_is_hyperparameters_only(ivb_result):
    start = time.perf_counter()
    with no_warnings():
        idata = ivb_result.to_arviz()
        summary = az.summary(idata)
    elapsed = time.perf_counter() - start
    assert list(summary.index) == list(ivb_result.hyperparameters)
    assert "image" not in idata.posterior
    assert idata.posterior.attrs["image_window"] == "none"
    assert dict(idata.posterior.sizes) == {"chain": 4, "draw": 100}
    assert elapsed < 10  # a fraction of a second on one core; generous for a loaded machine
    # independent draws: the chains agree and the effective sample size is about the total
    assert (summary["r_hat"] < 1.05).all()
    assert (summary["ess_bulk"] > 200).all()
    for name, q in ivb_result.hyperparameters.items():
        assert summary.loc[name, "mean"] == pytest.approx(q.mean, abs=5 * q.std / 20 + 1e-9)
    # the known PSF stays data
    np.testing.assert_array_equal(idata.constant_data["psf"], ivb_result.psf)


def test_fixed_hyperparameter_is_constant_data():
    result = gaussian_result((6, 5))  # image_precision is a PointValue (zero spread)
    with no_warnings():
        idata = result.to_arviz()
        summary = az.summary(idata)
    assert list(summary.index) == ["noise_precision"]
    assert idata.constant_data["image_precision"].item() == 4.0


def test_pixels_on_request_whole_image_and_window(ivb_result):
    with no_warnings():
        whole = ivb_result.to_arviz(10, pixels=True)
        window = ivb_result.to_arviz(10, pixels=(slice(3, 7), slice(None, 2)))
        summary = az.summary(window, kind="stats")
    assert whole.posterior["image"].shape == (4, 10, 24, 20)
    image = window.posterior["image"]
    assert image.shape == (4, 10, 4, 2)
    np.testing.assert_array_equal(image["y"], [3, 4, 5, 6])
    np.testing.assert_array_equal(image["x"], [0, 1])
    assert window.posterior.attrs["image_window"] == "[3:7, 0:2]"
    assert len(summary) == len(ivb_result.hyperparameters) + 8
    assert list(summary.index[: len(ivb_result.hyperparameters)]) == list(
        ivb_result.hyperparameters
    )
    se = ivb_result.std[3:7, 0:2] / math.sqrt(40)
    means = image.mean(("chain", "draw")).values
    np.testing.assert_array_less(np.abs(means - ivb_result.mean[3:7, 0:2]), 5 * se)


def test_chains_reshape_the_same_draws(ivb_result):
    four = ivb_result.to_arviz(25, pixels=True, seed=5)
    one = ivb_result.to_arviz(100, chains=1, pixels=True, seed=5)
    np.testing.assert_array_equal(
        four.posterior["image"].values.reshape(1, 100, 24, 20), one.posterior["image"].values
    )


@pytest.fixture(scope="module")
def gibbs_result():
    op = ConvolutionOperator(gaussian_psf(5, 1.0), (20, 20), boundary="valid")
    truth = piecewise_constant_image(op.latent_shape)
    y = op.forward(torch.tensor(truth)).numpy()
    y = y + 0.02 * np.random.default_rng(0).standard_normal(y.shape)
    model = DeconvolutionModel(op, prior=sparse(), noise=GaussianNoise())
    return gibbs_sparse(model, y, num_samples=40, burn_in=10, progress=False)


def test_gibbs_exports_its_chain_in_order(gibbs_result):
    with no_warnings():
        idata = to_arviz(gibbs_result, pixels=True)
        summary = az.summary(idata, var_names=["noise_precision"])
    post = idata.posterior
    assert dict(post.sizes)["chain"] == 4 and dict(post.sizes)["draw"] == 10
    assert post.attrs["chains_are"] == "segments of one Markov chain"
    np.testing.assert_array_equal(post["image"].values.reshape(40, 20, 20), gibbs_result.samples)
    gammas = gibbs_result.hyperparameters["noise_precision"].values
    np.testing.assert_array_equal(post["noise_precision"].values.ravel(), gammas)
    assert np.isfinite(summary.loc["noise_precision", "r_hat"])
    assert idata.sample_stats["elbo"].size == 0
    # the last sweeps when fewer are asked for; a clear error when more
    tail = to_arviz(gibbs_result, 5, chains=2)
    np.testing.assert_array_equal(tail.posterior["noise_precision"].values.ravel(), gammas[-10:])
    with pytest.raises(ValueError, match="holds 40 draws"):
        to_arviz(gibbs_result, 30, chains=2)
