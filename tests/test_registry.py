"""One registry of names for deconvolve and the command line; a plug-in is one registration."""

import numpy as np
import pytest

from bayesdeconv import deconvolve, registry
from bayesdeconv.cli.choices import option_choices
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.priors import SmoothPrior
from bayesdeconv.registry import Registry


def test_registry_builds_checks_and_refuses():
    table = Registry("widget", planned=("later",))
    table.register("one", lambda scale=1: ("one", scale), "the first")
    assert table.names == ("one",) and "one" in table and table.summary("one") == "the first"
    assert table.build("one", scale=3) == ("one", 3)
    marker = object()
    assert table.resolve(marker) is marker
    with pytest.raises(ValueError, match="registered already"):
        table.register("one", lambda: None)
    with pytest.raises(NotImplementedError, match="planned"):
        table.build("later")
    with pytest.raises(ValueError, match="unknown widget 'two'; choose one of one"):
        table.build("two")
    table.unregister("one")
    assert table.names == ()


@pytest.fixture
def stiff_prior():
    registry.IMAGE_PRIORS.register(
        "stiff", lambda blind=False: SmoothPrior(precision=50.0), "a fixed smooth prior"
    )
    yield "stiff"
    registry.IMAGE_PRIORS.unregister("stiff")


def test_a_registered_prior_is_usable_by_name_everywhere(stiff_prior, rng):
    """One registration line makes a prior available to deconvolve and to the CLI's choices."""
    assert stiff_prior in option_choices()["prior"]
    result = deconvolve(rng.random((24, 24)), gaussian_psf(5, 1.0), prior="stiff", progress=False)
    assert result.hyperparameters["image_precision"].mean == pytest.approx(50.0, rel=1e-12)


def test_engine_names_and_summaries_come_from_the_registry():
    assert registry.ENGINES.names == ("ivb", "svi", "map", "vadam", "gibbs", "evidence")
    assert all(registry.ENGINES.summary(name) for name in registry.ENGINES.names)
    assert option_choices()["method"] == registry.ENGINES.names
    assert np.all([registry.ENGINES.build(n).name == n for n in registry.ENGINES.names])
