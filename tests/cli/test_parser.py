"""The parser: its choice lists come from the library, one place; its defaults are valid."""

from __future__ import annotations

import argparse

import pytest

from bayesdeconv import api
from bayesdeconv.cli import build_parser
from bayesdeconv.cli.choices import option_choices
from bayesdeconv.guides import GUIDES
from bayesdeconv.infer import blind
from bayesdeconv.physics.convolution import BOUNDARIES


def _deconvolve_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["deconvolve"]


def _actions() -> dict[str, argparse.Action]:
    return {action.dest: action for action in _deconvolve_parser()._actions}


def test_choices_are_the_library_lists():
    assert option_choices() == {
        "prior": api.PRIORS,
        "noise": api.NOISES,
        "method": api.METHODS,
        "guide": GUIDES,
        "boundary": BOUNDARIES,
        "psf_covariance": blind.PSF_COVARIANCES,
        "psf_update": blind.PSF_UPDATES,
        "psf_init": blind.PSF_INITS,
        "device": ("cpu", "cuda"),
    }


def test_parser_offers_exactly_the_collected_choices():
    actions = _actions()
    offered = {dest: tuple(a.choices) for dest, a in actions.items() if a.choices is not None}
    assert offered == option_choices()


def test_choices_follow_the_one_place(monkeypatch):
    """The parser asks ``option_choices`` each time: changing it there changes the parser."""
    import bayesdeconv.cli.parser as parser_module

    changed = {**option_choices(), "noise": ("gaussian", "poisson", "made-up")}
    monkeypatch.setattr(parser_module, "option_choices", lambda: changed)
    assert tuple(_actions()["noise"].choices) == ("gaussian", "poisson", "made-up")


@pytest.mark.parametrize("dest", sorted(option_choices()))
def test_defaults_are_valid_choices(dest):
    action = _actions()[dest]
    assert action.default is None or action.default in action.choices


def test_method_defaults_to_none_and_says_so():
    action = _actions()["method"]
    assert action.default is None
    assert "default: the best engine that supports the model" in action.help


def test_console_script_entry_point_is_main():
    """pyproject's ``bayesdeconv = "bayesdeconv.cli:main"`` still names the command."""
    from importlib.metadata import entry_points

    import bayesdeconv.cli

    found = entry_points(group="console_scripts", name="bayesdeconv")
    if not found:
        pytest.skip("bayesdeconv is not installed")
    (entry,) = found
    assert entry.value == "bayesdeconv.cli:main"
    assert entry.load() is bayesdeconv.cli.main
