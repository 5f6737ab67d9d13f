"""Shared fixtures, as Pyro's own tests do: validation on, a clean parameter store and fixed
seeds for every test; seeded numpy generators; ``tests/`` on the path for the dense oracles."""

import sys
from pathlib import Path

import numpy as np
import pyro
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

# The test problems are tiny: one thread avoids OpenMP start-up and oversubscription costs that
# otherwise dominate (an FFT pair on 12x12 took 3.4 ms with 2 busy threads, 0.16 ms with one).
torch.set_num_threads(1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _pyro_state():
    """Every test starts with validation on, an empty parameter store and torch seeded."""
    pyro.clear_param_store()
    torch.manual_seed(0)
    with pyro.validation_enabled(True):
        yield
    pyro.clear_param_store()
