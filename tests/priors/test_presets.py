"""The image-prior presets and how the one-call API picks them."""

import math

import numpy as np
import pytest

import bayesdeconv.api as api
from bayesdeconv.api import image_prior
from bayesdeconv.infer import blind
from bayesdeconv.priors import BLIND_SPARSE_SCALE, SPARSE_SCALE, SmoothPrior, piecewise, sparse


def test_sparse_scale_sets_the_student_t_scale():
    prior = sparse(scale=0.03)
    assert prior.shape == 0.5 and prior.degrees_of_freedom == pytest.approx(1.0)
    assert prior.rate == pytest.approx(0.5 * 0.03**2)
    assert prior.scale == pytest.approx(0.03)
    assert sparse().rate == pytest.approx(5e-5) and sparse().scale == pytest.approx(SPARSE_SCALE)
    # explicit Gamma parameters win; a new shape keeps the requested scale
    assert sparse(rate=1e-3).rate == 1e-3
    assert sparse(shape=2.0, scale=0.01).scale == pytest.approx(0.01)


@pytest.mark.parametrize("scale", [0.0, -0.01, math.nan, math.inf, "0.02", True])
def test_sparse_rejects_bad_scales(scale):
    with pytest.raises(ValueError, match="scale must be a positive number"):
        sparse(scale=scale)


def test_image_prior_names_and_the_blind_scale():
    assert image_prior("sparse").scale == pytest.approx(SPARSE_SCALE)
    assert image_prior("sparse", blind=True).scale == pytest.approx(BLIND_SPARSE_SCALE)
    assert BLIND_SPARSE_SCALE != SPARSE_SCALE
    assert image_prior("piecewise", blind=True) == piecewise()
    assert isinstance(image_prior("smooth"), SmoothPrior)
    mine = sparse(scale=0.05)
    assert image_prior(mine, blind=True) is mine  # objects pass through unchanged
    with pytest.raises(ValueError, match="unknown prior"):
        image_prior("sharp")


class _Stop(Exception):
    pass


@pytest.fixture
def seen(monkeypatch) -> dict:
    """Stops ``deconvolve`` at the IVB fit and records the model's image prior."""
    record = {}

    def capture(model, *args, **kwargs):
        record["prior"] = model.prior
        raise _Stop

    monkeypatch.setattr(blind, "fit_sparse_ivb", capture)
    return record


@pytest.mark.parametrize(
    ("prior", "expected"),
    [(None, BLIND_SPARSE_SCALE), ("sparse", BLIND_SPARSE_SCALE), (sparse(), SPARSE_SCALE)],
    ids=["default", "by-name", "object"],
)
def test_blind_deconvolve_uses_the_blind_scale(seen, rng, prior, expected):
    with pytest.raises(_Stop):
        api.deconvolve(rng.random((32, 32)), psf_size=5, prior=prior, progress=False)
    assert seen["prior"].scale == pytest.approx(expected)


def test_known_psf_sparse_keeps_the_default_scale(seen, rng):
    with pytest.raises(_Stop):
        api.deconvolve(rng.random((32, 32)), np.ones((3, 3)) / 9, prior="sparse", progress=False)
    assert seen["prior"].scale == pytest.approx(SPARSE_SCALE)
