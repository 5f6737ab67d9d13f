"""Training learned Wiener filters: the evidence and its gradient against dense linear algebra,
the filter constraints, and the oracle of this family (data drawn from a known stationary
prior: training recovers its spectrum and the held-out evidence rises to the truth's)."""

import math

import numpy as np
import pytest
import torch
from dense import dense_filter_precision, dense_operator

from bayesdeconv.diagnostics.training_sets import circular_blur
from bayesdeconv.infer.exact import spectral_log_evidence
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.physics.convolution import psf_to_otf, squared_modulus
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.priors import StationaryGaussian, filter_bank, filter_spectrum, normalise_filters
from bayesdeconv.training import periodic_component, train_wiener, wiener_estimate
from bayesdeconv.training.wiener import _items, _negative_evidence

EPS = 1e-3


def dense_log_evidence(raw, ys, psf, alphas, gammas, shape):
    """Mean log evidence per pixel of circularly blurred images, by dense covariances."""
    filters = normalise_filters(torch.as_tensor(raw), len(shape)).numpy()
    q0 = dense_filter_precision(filters, shape, EPS)
    a = dense_operator(ConvolutionOperator(psf, shape, boundary="circular").forward, shape)
    total = 0.0
    for y, alpha, gamma in zip(ys, alphas, gammas, strict=True):
        cov = np.eye(y.size) / gamma + a @ np.linalg.solve(alpha * q0, a.T)
        _, logdet = np.linalg.slogdet(2 * np.pi * cov)
        total += (-0.5 * logdet - 0.5 * y.ravel() @ np.linalg.solve(cov, y.ravel())) / y.size
    return total / len(ys)


def test_evidence_and_its_gradient_against_dense_linear_algebra(rng):
    shape = (6, 7)
    psf = gaussian_psf(3, 0.8)
    ys = [rng.standard_normal(shape) for _ in range(2)]
    raw = rng.standard_normal((2, 3, 3))
    alphas, gammas = np.array([3.0, 0.5]), np.array([40.0, 10.0])
    items = _items(ys, psf, None, periodic=False)

    def objective(raw_t, log_alpha, log_gamma):
        bank = normalise_filters(raw_t, 2)
        return -_negative_evidence(items, bank, EPS, log_alpha, log_gamma, None)

    raw_t = torch.tensor(raw, requires_grad=True)
    log_alpha = torch.tensor(np.log(alphas), requires_grad=True)
    log_gamma = torch.tensor(np.log(gammas), requires_grad=True)
    value = objective(raw_t, log_alpha, log_gamma)
    value.backward()
    dense = dense_log_evidence(raw, ys, psf, alphas, gammas, shape)
    assert float(value.detach()) == pytest.approx(dense, rel=1e-10)

    h = 1e-6  # central finite differences of the dense evidence
    for index in [(0, 0, 0), (0, 1, 2), (1, 2, 1)]:
        step = np.zeros_like(raw)
        step[index] = h
        up = dense_log_evidence(raw + step, ys, psf, alphas, gammas, shape)
        down = dense_log_evidence(raw - step, ys, psf, alphas, gammas, shape)
        assert float(raw_t.grad[index]) == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)
    for i in range(2):
        factor = np.ones(2)
        factor[i] = math.exp(h)
        up = dense_log_evidence(raw, ys, psf, alphas * factor, gammas, shape)
        down = dense_log_evidence(raw, ys, psf, alphas / factor, gammas, shape)
        assert float(log_alpha.grad[i]) == pytest.approx((up - down) / (2 * h), rel=1e-5)


def _stationary_data(count, shape=(32, 32), alpha=400.0, sigma=0.01, seed=0):
    """Images drawn from N(0, (alpha Q0)^-1) with two known anisotropic filters, blurred
    circularly by a Gaussian PSF, plus white noise."""
    true = normalise_filters(
        torch.tensor(
            [[[0, 0, 0], [1, -2, 1.0], [0, 0, 0]], [[0, 1, 0], [0, -1, 0], [0, 0, 0.0]]],
            dtype=torch.float64,
        ),
        2,
    )
    q0 = filter_spectrum(true, shape) + EPS
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xs = StationaryGaussian(torch.tensor(alpha, dtype=torch.float64), q0).sample((count,))
    psf = gaussian_psf(7, 1.0)
    ys = [circular_blur(x.numpy(), psf, sigma, rng) for x in xs]
    return true, alpha * q0, psf, ys


def _max_log_evidence(bank, ys, psf, shape=(32, 32)):
    """Mean held-out log evidence per pixel, each image at its own optimal precisions."""
    q0 = (filter_spectrum(bank, shape) + EPS)[..., : shape[-1] // 2 + 1]
    k2 = squared_modulus(psf_to_otf(torch.as_tensor(psf), shape))
    total = 0.0
    for y in ys:
        power = squared_modulus(torch.fft.rfftn(torch.as_tensor(y)))
        logs = torch.tensor([math.log(100.0), math.log(1e4)], dtype=torch.float64)
        logs.requires_grad_(True)
        optimiser = torch.optim.LBFGS([logs], max_iter=100, line_search_fn="strong_wolfe")

        def closure(power=power, logs=logs, optimiser=optimiser):
            optimiser.zero_grad()
            loss = -spectral_log_evidence(power, k2, q0, logs[0].exp(), logs[1].exp(), shape)
            loss.backward()
            return loss

        optimiser.step(closure)
        with torch.no_grad():
            value = spectral_log_evidence(power, k2, q0, logs[0].exp(), logs[1].exp(), shape)
        total += float(value) / y.size
    return total / len(ys)


def test_gradient_in_the_prior_precision_points_to_the_truth():
    _, _, psf, ys = _stationary_data(4)
    true, _, _, _ = _stationary_data(1)
    items = _items(ys, psf, None, periodic=False)
    log_gamma = torch.full((4,), math.log(1e4), dtype=torch.float64)
    for factor, sign in [(0.2, 1.0), (5.0, -1.0)]:
        log_alpha = torch.full((4,), math.log(400.0 * factor), dtype=torch.float64)
        log_alpha.requires_grad_(True)
        _negative_evidence(items, true, EPS, log_alpha, log_gamma, None).backward()
        # the evidence rises towards alpha = 400: d(evidence)/d(log alpha) has the sign given
        assert (torch.sign(-log_alpha.grad) == sign).all()


@pytest.mark.slow
def test_training_recovers_a_known_stationary_prior():
    """The oracle: from a random bank, evidence training on blurred draws of a known prior
    reaches the true prior's held-out evidence and its spectrum (where the data inform it)."""
    true, truth_spectrum, psf, ys = _stationary_data(24)
    train, held = ys[:16], ys[16:]
    start = filter_bank("random", 3, 2, 4, seed=3)
    training = train_wiener(
        train, psf, filters=start.numpy(), steps=300, learning_rate=0.02,
        periodic=False, progress=False,
    )  # fmt: skip
    bank = training.prior.filters
    np.testing.assert_allclose(bank.mean((1, 2)), 0, atol=1e-12)  # the constraints hold
    np.testing.assert_allclose(bank.square().sum((1, 2)), 1, rtol=1e-10)
    assert training.history[-1] > training.history[0] + 0.2

    before = _max_log_evidence(start, held, psf)
    after = _max_log_evidence(bank, held, psf)
    best = _max_log_evidence(true, held, psf)
    assert after > before + 0.02
    assert after == pytest.approx(best, abs=3e-3)

    shape = (32, 32)
    k2 = squared_modulus(torch.fft.fftn(torch.roll(
        torch.nn.functional.pad(torch.as_tensor(psf), (0, 25, 0, 25)), (-3, -3), (0, 1)
    )))  # fmt: skip
    informed = (k2 / truth_spectrum > 3 * 0.01**2).numpy()  # blurred signal above the noise
    assert informed.mean() > 0.1

    def error(spectrum):
        spectrum = spectrum.numpy()
        scale = np.median(truth_spectrum.numpy()[informed] / spectrum[informed])
        return np.median(np.abs(scale * spectrum / truth_spectrum.numpy() - 1)[informed])

    assert error(filter_spectrum(bank, shape) + EPS) < 0.12
    assert error(filter_spectrum(start, shape) + EPS) > 0.25
    assert np.median(training.noise_precision) == pytest.approx(1e4, rel=0.15)


def test_supervised_training_raises_the_psnr(rng):
    sharp = [np.cumsum(np.cumsum(rng.standard_normal((24, 24)), 0), 1) / 50 for _ in range(3)]
    psf = gaussian_psf(5, 1.0)
    blurred = [circular_blur(x, psf, 0.01, rng) for x in sharp]
    training = train_wiener(
        blurred, psf, sharp=sharp, support=3, steps=40, learning_rate=0.05,
        periodic=False, progress=False,
    )  # fmt: skip
    assert training.objective == "supervised" and training.regularisation > 0
    assert training.history[-1] > training.history[0]
    bank = training.prior.filters
    np.testing.assert_allclose(bank.mean((1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(bank.square().sum((1, 2)), 1, rtol=1e-10)
    # history[-1] is the mean PSNR of the trained bank's Wiener estimates
    y = torch.as_tensor(blurred[0])
    q0 = (filter_spectrum(bank, y.shape) + EPS)[..., :13]
    estimate = wiener_estimate(y, psf_to_otf(torch.as_tensor(psf), y.shape), q0,
                               training.regularisation)  # fmt: skip
    mse = float(((estimate.numpy() - sharp[0]) ** 2).mean())
    psnr = 10 * math.log10(np.ptp(sharp[0]) ** 2 / mse)
    assert psnr > 10 * math.log10(np.ptp(sharp[0]) ** 2 / ((blurred[0] - sharp[0]) ** 2).mean())


def test_periodic_component_removes_border_jumps(rng):
    image = np.add.outer(np.arange(20.0), np.arange(30.0)) / 50 + 0.01 * rng.random((20, 30))
    periodic = periodic_component(torch.as_tensor(image)).numpy()
    assert np.abs(periodic[0] - periodic[-1]).mean() < 0.1 * np.abs(image[0] - image[-1]).mean()
    assert periodic.mean() == pytest.approx(image.mean(), abs=1e-12)
    volume = torch.as_tensor(rng.random((6, 8, 10)))
    assert periodic_component(volume).shape == volume.shape


def test_bad_training_input_is_refused(rng):
    psf = gaussian_psf(3, 0.8)
    image = rng.random((12, 12))
    with pytest.raises(ValueError, match="at least one image"):
        train_wiener([], psf)
    with pytest.raises(ValueError, match="NaN or Inf"):
        train_wiener([np.full((12, 12), np.nan)], psf)
    with pytest.raises(ValueError, match="mix 2-D and 3-D"):
        train_wiener([image, rng.random((4, 6, 6))], psf)
    with pytest.raises(ValueError, match="2 PSFs for 1 images"):
        train_wiener([image], [psf, psf])
    with pytest.raises(ValueError, match="sharp images for"):
        train_wiener([image], psf, sharp=[image, image])
    with pytest.raises(ValueError, match="steps"):
        train_wiener([image], psf, steps=0)
    with pytest.raises(ValueError):
        train_wiener([image], -psf)
