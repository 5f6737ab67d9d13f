"""The PSF's support: the simplex projection and the constrained quadratic programme."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from bayesdeconv.psf_priors import ARDPSFPrior, check_psf_size, minimise_on_simplex


def test_minimise_on_simplex_matches_a_general_solver():
    """FISTA on the simplex against SciPy's SLSQP with the same constraints."""
    rng = np.random.default_rng(0)
    n = 9
    root = rng.standard_normal((n, n))
    a = root @ root.T + 0.1 * np.eye(n)
    b = rng.standard_normal(n)
    ours = minimise_on_simplex(
        torch.as_tensor(a), torch.as_tensor(b), torch.full((n,), 1.0 / n).double(), 2000
    ).numpy()
    reference = minimize(
        lambda m: 0.5 * m @ a @ m - b @ m,
        np.full(n, 1.0 / n),
        jac=lambda m: a @ m - b,
        bounds=[(0, None)] * n,
        constraints=[{"type": "eq", "fun": lambda m: m.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    ).x
    assert ours.min() >= 0 and ours.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_the_prior_owns_its_constraint():
    prior = ARDPSFPrior((3, 3))
    projected = prior.project(torch.tensor([[2.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert float(projected.sum()) == pytest.approx(1.0) and float(projected.min()) >= 0
    start = prior.initial_value(dtype=torch.float64, device=None)
    assert start.shape == (3, 3) and float(start.sum()) == pytest.approx(1.0)
    assert prior.resized((5, 5)).size == (5, 5) and prior.resized((5, 5)).rate == prior.rate


@pytest.mark.parametrize(
    ("size", "message"), [(4, "odd"), (1, "at least 3"), ((3, 3, 3), "axes"), (99, "larger")]
)
def test_check_psf_size(size, message):
    with pytest.raises(ValueError, match=message):
        check_psf_size(size, (32, 32))
