"""What the ``deconvolve`` options pass on to :func:`bayesdeconv.api.deconvolve`."""

from __future__ import annotations

import pytest

import bayesdeconv.api
from bayesdeconv.cli import main


class _Stop(ValueError):
    """Raised by the stand-in ``deconvolve`` once it has recorded its arguments."""


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """Replace ``bayesdeconv.api.deconvolve`` by a recorder that stops the run."""
    recorded: list[dict] = []

    def deconvolve(image, psf=None, **kwargs):
        recorded.append({"psf": psf, **kwargs})
        raise _Stop("stopped by the test")

    monkeypatch.setattr(bayesdeconv.api, "deconvolve", deconvolve)
    return recorded


def _run(inputs, *extra: str) -> int:
    out = inputs.folder / "out.tif"
    return main(["deconvolve", str(inputs.image), "--psf", str(inputs.psf), "-o", str(out), *extra])


def test_no_method_leaves_the_engine_to_deconvolve(inputs, calls, capsys):
    assert _run(inputs) == 2
    assert "stopped by the test" in capsys.readouterr().err
    assert "method" not in calls[0]


def test_method_is_passed_on(inputs, calls, capsys):
    assert _run(inputs, "--method", "svi") == 2
    capsys.readouterr()
    assert calls[0]["method"] == "svi"


def test_normalise_psf_is_passed_on_with_a_normalised_psf(inputs, calls, capsys):
    import numpy as np

    np.save(inputs.folder / "thrice.npy", 3 * inputs.psf_array)
    assert _run(inputs, "--psf", str(inputs.folder / "thrice.npy"), "--normalise-psf") == 2
    capsys.readouterr()
    assert calls[0]["normalise_psf"] is True
    np.testing.assert_allclose(calls[0]["psf"], inputs.psf_array, rtol=1e-12)


def test_without_normalise_psf_false_is_passed_on(inputs, calls, capsys):
    assert _run(inputs) == 2
    capsys.readouterr()
    assert calls[0]["normalise_psf"] is False
