"""Holding a component's learned precisions fixed: a copy with FixedPrecision, the original
untouched, unknown and undeclared sites refused."""

import pytest

from bayesdeconv.likelihoods import GaussianNoise, PoissonNoise
from bayesdeconv.priors import SmoothPrior
from bayesdeconv.priors.base import ImagePrior
from bayesdeconv.priors.gamma_field import GammaFieldPrior
from bayesdeconv.priors.hyper import FixedPrecision, GammaPrior


def test_a_copy_holds_the_value_and_the_original_still_learns():
    prior = SmoothPrior()
    fixed = prior.with_hyperparameters({"image_precision": 3.0})
    assert fixed.precision == FixedPrecision(3.0) and not fixed.learned
    assert isinstance(prior.precision, GammaPrior) and prior.learned
    noise = GaussianNoise().with_hyperparameters({"noise_precision": 100.0})
    assert noise.precision.value == 100.0
    gamma = GammaFieldPrior().with_hyperparameters({"image_precision": 2.0})
    assert gamma.hyperparameters()["image_precision"] == FixedPrecision(2.0)
    assert SmoothPrior().with_hyperparameters({}).learned  # nothing asked, nothing fixed


def test_unknown_and_undeclared_sites_are_refused():
    with pytest.raises(ValueError, match="no hyper-parameter noise_precision"):
        PoissonNoise().with_hyperparameters({"noise_precision": 1.0})

    class Undeclared(ImagePrior):
        def sample(self, shape, *, dtype, device):  # pragma: no cover (never traced)
            raise NotImplementedError

        def hyperparameters(self):
            return {"image_precision": GammaPrior()}

    with pytest.raises(NotImplementedError, match="hyperparameter_attributes"):
        Undeclared().with_hyperparameters({"image_precision": 1.0})
