"""Shared fixtures: seeded generators; ``tests/`` on the path for the dense oracles."""

import sys
from pathlib import Path

import numpy as np
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
def _seed_torch():
    torch.manual_seed(0)
    yield
