"""The learned Wiener prior: its spectrum from the filters, the shipped banks, files, errors."""

import math

import numpy as np
import pytest
import torch
from dense import dense_filter_precision, dense_operator, dense_posterior

from bayesdeconv import deconvolve
from bayesdeconv.infer import exact_posterior
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models import DeconvolutionModel
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.priors import LearnedWienerPrior, SmoothPrior, filter_bank, filter_spectrum
from bayesdeconv.priors.filter_banks import dct_bank, difference_bank, gabor_bank


@pytest.mark.parametrize(
    ("support", "shape"), [((5, 5), (9, 11)), ((5, 5), (4, 3)), ((3, 3, 3), (4, 5, 6))]
)
def test_filter_spectrum_is_the_dense_precision(support, shape, rng):
    """Q0's eigenvalues on the FFT grid equal the dense sum of G_d^T G_d, also on grids smaller
    than the filters' autocorrelation (offsets wrap around)."""
    filters = rng.standard_normal((3, *support))
    spectrum = filter_spectrum(torch.as_tensor(filters), shape).numpy()
    q0 = dense_filter_precision(filters, shape, 0.0)
    # a circulant matrix's eigenvalues are the DFT of its first column
    first = q0[:, 0].reshape(shape)
    np.testing.assert_allclose(spectrum, np.fft.fftn(first).real, atol=1e-10)
    assert np.allclose(np.fft.fftn(first).imag, 0, atol=1e-10)


@pytest.mark.parametrize("shape", [(8, 9), (4, 5, 6)])
def test_scaled_difference_bank_is_the_smooth_prior(shape):
    bank = difference_bank(len(shape)) * math.sqrt(2)
    learned = LearnedWienerPrior(bank, epsilon=0.01)
    smooth = SmoothPrior(epsilon=0.01)
    np.testing.assert_allclose(learned.spectrum(shape), smooth.spectrum(shape), atol=1e-12)
    assert learned.log_det(shape) == pytest.approx(smooth.log_det(shape), rel=1e-12)
    assert learned.diagonal(shape) == pytest.approx(smooth.diagonal(shape), rel=1e-12)


@pytest.mark.parametrize("shape", [(7, 8), (3, 4, 5)])
def test_exact_posterior_with_learned_filters_equals_dense(shape, rng):
    """The closed-form engines run the learned prior unchanged: exact mean, marginal variance
    and evidence against dense linear algebra with Q0 built tap by tap."""
    filters = filter_bank("random", 3, len(shape), 4, seed=1).numpy()
    psf = rng.random((3,) * len(shape))
    psf /= psf.sum()
    alpha, gamma, eps = 2.0, 150.0, 0.05
    prior = LearnedWienerPrior(filters, precision=alpha, epsilon=eps)
    op = ConvolutionOperator(psf, shape, boundary="circular")
    model = DeconvolutionModel(op, prior=prior, noise=GaussianNoise(precision=gamma))
    y = rng.standard_normal(shape)
    exact = exact_posterior(model, y)
    a = dense_operator(op.forward, op.latent_shape)
    q0 = dense_filter_precision(filters, shape, eps)
    mean, cov, _, log_evidence = dense_posterior(a, q0, y, np.ones(shape), alpha, gamma)
    np.testing.assert_allclose(exact.mean.numpy().ravel(), mean, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(exact.marginal_variance, np.diag(cov), rtol=1e-8)
    assert exact.log_evidence == pytest.approx(log_evidence, rel=1e-10)


def test_banks_are_zero_mean_unit_norm():
    for bank, ndim in [
        (dct_bank(5, 2), 2),
        (dct_bank(3, 3), 3),
        (gabor_bank(5, 2, 24), 2),
        (gabor_bank(3, 3, 26), 3),
        (filter_bank("random", 5, 2, 7), 2),
    ]:
        dims = tuple(range(1, ndim + 1))
        np.testing.assert_allclose(bank.mean(dims), 0, atol=1e-14)
        np.testing.assert_allclose(bank.square().sum(dims), 1, rtol=1e-12)
    assert dct_bank(5, 2).shape == (24, 5, 5) and dct_bank(3, 3).shape == (26, 3, 3, 3)
    assert gabor_bank(5, 2, 24).shape[0] == 24
    gram = dct_bank(5, 2).flatten(1) @ dct_bank(5, 2).flatten(1).T  # an orthonormal basis
    np.testing.assert_allclose(gram, np.eye(24), atol=1e-12)
    assert filter_bank("dct", 5, 2, 2).shape == (2, 5, 5)
    with pytest.raises(ValueError, match="unknown filter bank"):
        filter_bank("wavelets", 5, 2)


def test_shipped_banks_by_dimensionality():
    prior = LearnedWienerPrior()
    two, three = prior.filters_for(2), prior.filters_for(3)
    assert two.ndim == 3 and three.ndim == 4
    for bank, ndim in [(two, 2), (three, 3)]:  # trained banks stay zero-mean and unit-norm
        dims = tuple(range(1, ndim + 1))
        np.testing.assert_allclose(bank.mean(dims), 0, atol=1e-12)
        np.testing.assert_allclose(bank.square().sum(dims), 1, rtol=1e-10)
    assert "evidence" in LearnedWienerPrior.shipped(2).description
    with pytest.raises(ValueError, match="2-D and 3-D"):
        LearnedWienerPrior.shipped(4)


def test_learned_wiener_by_name_in_2d_and_3d(rng):
    psf2 = np.ones((3, 3)) / 9
    result = deconvolve(rng.random((24, 20)), psf2, prior="learned-wiener", progress=False)
    assert result.mean.shape == (24, 20) and np.isfinite(result.std).all()
    psf3 = np.ones((3, 3, 3)) / 27
    result = deconvolve(rng.random((8, 16, 12)), psf3, prior="learned-wiener", progress=False)
    assert result.mean.shape == (8, 16, 12)


def test_save_and_load_round_trip(tmp_path, rng):
    prior = LearnedWienerPrior(
        filter_bank("gabor", 5, 2, 6), epsilon=0.02, regularisation=0.5, description="test"
    )
    path = prior.save(tmp_path / "bank.npz")
    loaded = LearnedWienerPrior.load(path, precision=3.0)
    np.testing.assert_array_equal(loaded.filters, prior.filters)
    assert (loaded.epsilon, loaded.regularisation, loaded.description) == (0.02, 0.5, "test")
    assert loaded.precision.value == 3.0
    np.testing.assert_allclose(loaded.spectrum((9, 9)), prior.spectrum((9, 9)))


def test_bad_banks_and_files_are_refused(tmp_path):
    bank2 = filter_bank("dct", 3, 2)
    with pytest.raises(ValueError, match="2-D but the image is 3-D"):
        LearnedWienerPrior(bank2).spectrum((4, 5, 6))
    with pytest.raises(ValueError, match="NaN"):
        LearnedWienerPrior(np.full((2, 3, 3), np.nan))
    with pytest.raises(ValueError, match="n_filters"):
        LearnedWienerPrior(np.ones((3, 3)))
    with pytest.raises(ValueError, match="all zero"):
        LearnedWienerPrior(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="epsilon"):
        LearnedWienerPrior(bank2, epsilon=0)
    with pytest.raises(ValueError, match="nothing to save"):
        LearnedWienerPrior().save(tmp_path / "x.npz")
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.ones(3))
    with pytest.raises(ValueError, match="not a learned Wiener filter file"):
        LearnedWienerPrior.load(other)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a learned Wiener filter file"):
        LearnedWienerPrior.load(garbage)
    with pytest.raises(FileNotFoundError):
        LearnedWienerPrior.load(tmp_path / "missing.npz")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    plain = tmp_path / "plain.npy"
    np.save(plain, np.ones(3))
    no_eps = tmp_path / "no_eps.npz"
    np.savez(no_eps, filters=np.ones((1, 3, 3)), meta='{"format": "bayesdeconv-learned-wiener-1"}')
    not_dict = tmp_path / "not_dict.npz"
    np.savez(not_dict, filters=np.ones((1, 3, 3)), meta="[1, 2]")
    bad_shape = tmp_path / "bad_shape.npz"
    np.savez(bad_shape, filters=np.ones(3), meta='{"format": "bayesdeconv-learned-wiener-1"}')
    for path in (empty, plain, no_eps, not_dict, bad_shape):
        with pytest.raises(ValueError, match=f"{path.name} is not a learned Wiener filter file"):
            LearnedWienerPrior.load(path)
