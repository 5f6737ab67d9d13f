"""FFT convolution operators: adjointness, agreement with direct convolution, spectra."""

import numpy as np
import pytest
import scipy.signal
import torch

from bayesdeconv.physics import ConvolutionOperator, full_grid, psf_to_otf

SHAPES = {2: (13, 16), 3: (6, 9, 8)}
PSF_SHAPES = {2: [(5, 5), (4, 6), (1, 3)], 3: [(3, 3, 3), (2, 4, 3)]}
CASES = [(nd, ps) for nd in (2, 3) for ps in PSF_SHAPES[nd]]


def _psf(shape, rng):
    k = rng.random(shape)
    return k / k.sum()


@pytest.mark.parametrize("boundary", ["circular", "valid"])
@pytest.mark.parametrize(("ndim", "psf_shape"), CASES)
def test_adjointness(ndim, psf_shape, boundary, rng):
    op = ConvolutionOperator(_psf(psf_shape, rng), SHAPES[ndim], boundary=boundary)
    x = torch.as_tensor(rng.standard_normal(op.latent_shape))
    y = torch.as_tensor(rng.standard_normal(op.observed_shape))
    lhs = torch.sum(op.forward(x) * y)
    rhs = torch.sum(x * op.adjoint(y))
    assert abs(float(lhs - rhs)) <= 1e-10 * float(lhs.abs() + 1)
    # S and S^T are adjoint too
    assert torch.allclose(torch.sum(op.crop(x) * y), torch.sum(x * op.embed(y)), atol=1e-10)


@pytest.mark.parametrize(("ndim", "psf_shape"), CASES)
def test_valid_equals_scipy_direct_convolution(ndim, psf_shape, rng):
    k = _psf(psf_shape, rng)
    op = ConvolutionOperator(k, SHAPES[ndim], boundary="valid")
    x = rng.standard_normal(op.latent_shape)
    # the latent grid may be padded beyond n + s - 1 (FFT-friendly size): extra border
    support = tuple(slice(0, n + s - 1) for n, s in zip(op.observed_shape, psf_shape, strict=True))
    expected = scipy.signal.convolve(x[support], k, mode="valid", method="direct")
    assert expected.shape == op.observed_shape
    np.testing.assert_allclose(op.forward(torch.as_tensor(x)).numpy(), expected, atol=1e-12)


@pytest.mark.parametrize(("ndim", "psf_shape"), CASES)
def test_circular_equals_scipy_on_wrapped_image(ndim, psf_shape, rng):
    k = _psf(psf_shape, rng)
    op = ConvolutionOperator(k, SHAPES[ndim], boundary="circular")
    x = rng.standard_normal(op.latent_shape)
    pad = [(s - 1 - s // 2, s // 2) for s in psf_shape]
    expected = scipy.signal.convolve(np.pad(x, pad, mode="wrap"), k, mode="valid", method="direct")
    np.testing.assert_allclose(op.forward(torch.as_tensor(x)).numpy(), expected, atol=1e-12)


def test_convolution_orientation_is_true_convolution():
    """An impulse maps to the PSF itself (not its mirror image), centred on the impulse."""
    k = np.zeros((3, 5))
    k[0, 4] = 1.0
    op = ConvolutionOperator(k, (9, 9), boundary="circular")
    x = torch.zeros(9, 9, dtype=torch.float64)
    x[4, 4] = 1.0
    y = op.forward(x).numpy()
    assert y[4 - 1, 4 + 2] == pytest.approx(1.0)  # k[0, 4] is offset (-1, +2) from the centre


def _five_smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def test_valid_latent_grid_is_fft_friendly():
    op = ConvolutionOperator(np.ones((13, 5)) / 65, (250, 97), boundary="valid")
    needed = (250 + 12, 97 + 4)  # 262 = 2 * 131, 101 is prime
    for size, low in zip(op.latent_shape, needed, strict=True):
        assert size >= low and _five_smooth(size)
        assert not any(_five_smooth(m) for m in range(low, size))  # the smallest such size


def test_valid_frame_is_colocated_with_observation(rng):
    """With a delta PSF the observation is exactly the latent frame."""
    k = np.zeros((5, 4))
    k[2, 2] = 1.0
    op = ConvolutionOperator(k, (10, 12), boundary="valid")
    x = torch.as_tensor(rng.standard_normal(op.latent_shape))
    torch.testing.assert_close(op.forward(x), op.crop(x))


def test_full_grid_matches_fftn(rng):
    for shape in [(6, 8), (5, 7), (4, 6, 9), (3, 5, 4)]:
        k = _psf((3,) * len(shape), rng)
        otf_half = psf_to_otf(torch.as_tensor(k), shape)
        dims = tuple(range(-len(shape), 0))
        padded = np.zeros(shape)
        padded[tuple(slice(0, 3) for _ in shape)] = k
        padded = np.roll(padded, (-1,) * len(shape), axis=dims)
        expected = np.abs(np.fft.fftn(padded)) ** 2
        got = full_grid(otf_half.abs() ** 2, shape).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_normal_diagonal_matches_dense(rng):
    k = _psf((3, 3), rng)
    op = ConvolutionOperator(k, (6, 7), boundary="valid")
    mask = torch.as_tensor(rng.random(op.observed_shape) > 0.3)
    n = int(np.prod(op.latent_shape))
    dense = np.stack(
        [
            op.forward(torch.eye(n, dtype=torch.float64)[i].reshape(op.latent_shape))
            .numpy()
            .ravel()
            for i in range(n)
        ],
        axis=1,
    )
    m = mask.numpy().ravel().astype(float)
    expected = np.diag(dense.T @ (m[:, None] * dense))
    np.testing.assert_allclose(op.normal_diagonal(mask).numpy().ravel(), expected, atol=1e-12)


def test_gradients_flow_through_psf(rng):
    psf = torch.as_tensor(_psf((3, 3), rng)).requires_grad_()
    op = ConvolutionOperator(psf.detach(), (8, 8))
    x = torch.as_tensor(rng.standard_normal((8, 8)))
    op.forward(x, psf_to_otf(psf, op.latent_shape)).sum().backward()
    np.testing.assert_allclose(psf.grad.numpy(), np.full((3, 3), float(x.sum())), rtol=1e-10)


@pytest.mark.parametrize(
    ("psf_shape", "image_shape", "boundary", "match"),
    [
        ((9, 9), (8, 8), "circular", "larger than the image"),
        ((3, 3), (8, 8, 8), "circular", "axes"),
        ((3,), (8,), "circular", "2-D or 3-D"),
        ((3, 3), (8, 8), "reflect", "boundary"),
    ],
)
def test_bad_arguments(psf_shape, image_shape, boundary, match):
    with pytest.raises(ValueError, match=match):
        ConvolutionOperator(np.ones(psf_shape) / np.prod(psf_shape), image_shape, boundary=boundary)
