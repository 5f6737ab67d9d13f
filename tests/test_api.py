"""The one-call API: defaults, options, and clear errors for bad input."""

import numpy as np
import pytest
import torch

from bayesdeconv import Result, deconvolve
from bayesdeconv.physics import ConvolutionOperator, gaussian_psf


@pytest.fixture
def blurred(rng):
    psf = gaussian_psf(7, 1.2)
    op = ConvolutionOperator(psf, (48, 40), boundary="valid")
    truth = np.zeros(op.latent_shape)
    truth[15:35, 10:30] = 1.0
    y = op.forward(torch.as_tensor(truth)).numpy() + 0.01 * rng.standard_normal((48, 40))
    return y, psf, op.crop(torch.as_tensor(truth)).numpy()


def test_defaults_restore_the_image(blurred):
    y, psf, truth = blurred
    result = deconvolve(y, psf, progress=False)
    assert isinstance(result, Result)
    assert result.method == "ivb" and result.converged
    assert result.mean.shape == result.std.shape == y.shape
    assert np.all(result.std > 0)
    assert result.elbo.ndim == 1 and result.elbo.size == result.n_iter
    np.testing.assert_array_equal(result.psf, psf)
    assert np.mean((result.mean - truth) ** 2) < 0.5 * np.mean((y - truth) ** 2)
    assert result.sample(3, seed=0).shape == (3, *y.shape)


def test_torch_input_and_3d(rng):
    psf = np.ones((3, 3, 3)) / 27
    y = torch.as_tensor(rng.random((6, 10, 12)))
    result = deconvolve(y, psf, boundary="circular", progress=False)
    assert result.mean.shape == (6, 10, 12)


def test_mask_raises_std_in_holes(blurred):
    y, psf, _ = blurred
    mask = np.ones_like(y, dtype=bool)
    mask[20:32, 15:27] = False
    y = y.copy()
    y[~mask] = np.nan  # NaN is allowed where the mask marks a pixel missing
    result = deconvolve(y, psf, mask=mask, progress=False)
    # the stationary fit, then the sampled per-pixel marginal std
    assert result.info["covariance"] == "fourier" and result.info["std"] == "sampled"
    hole = result.std[24:28, 19:23]  # farther than the PSF radius from any data
    assert np.median(hole) > 1.5 * np.median(result.std[mask])
    assert np.isnan(result.mean).sum() == 0


@pytest.mark.parametrize("method", ["svi", "map", "vadam"])
def test_svi_methods(blurred, method):
    y, psf, truth = blurred
    result = deconvolve(y, psf, method=method, steps=400, seed=0, progress=False)
    assert result.method == method
    assert np.mean((result.mean - truth) ** 2) < np.mean((y - truth) ** 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"psf": None, "prior": "smooth"}, ValueError, "sparse-gradient prior"),
        ({"guide": "fourier"}, NotImplementedError, "planned"),
        ({"method": "hmc"}, ValueError, "unknown method"),
        ({"prior": "tv"}, ValueError, "unknown prior"),
        ({"noise": "laplace"}, ValueError, "unknown noise"),
        ({"boundary": "reflect"}, ValueError, "boundary"),
        ({"guide": "mean-field", "method": "ivb"}, ValueError, "guide"),
        ({"psf_size": 9}, ValueError, "psf_size"),
        ({"steps": 0}, ValueError, "steps"),
        ({"noise": "poisson", "prior": "smooth", "method": "ivb"}, ValueError, "svi"),
        ({"method": "svi", "guide": "fourier"}, NotImplementedError, "fourier"),
    ],
)
def test_options_not_available_fail_clearly(blurred, kwargs, error, match):
    y, psf, _ = blurred
    args = {"psf": psf, **kwargs}
    with pytest.raises(error, match=match):
        deconvolve(y, args.pop("psf"), progress=False, **args)


def test_cuda_request_without_cuda(blurred):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    y, psf, _ = blurred
    with pytest.raises(ValueError, match="CUDA"):
        deconvolve(y, psf, device="cuda", progress=False)


def test_bad_images_and_psfs(blurred, rng):
    y, psf, _ = blurred
    bad = y.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        deconvolve(bad, psf, progress=False)
    bad[3, 4] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        deconvolve(bad, psf, progress=False)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        deconvolve(y[0], psf, progress=False)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        deconvolve(y[None, None], psf, progress=False)
    with pytest.raises(ValueError, match="larger than the image"):
        deconvolve(y[:5, :5], psf, progress=False)
    with pytest.raises(ValueError, match="negative"):
        deconvolve(y, psf - 0.01, progress=False)
    with pytest.raises(ValueError, match="normalised"):
        deconvolve(y, 2 * psf, progress=False)
    with pytest.raises(ValueError, match="mask shape"):
        deconvolve(y, psf, mask=np.ones((3, 3), bool), progress=False)
    with pytest.raises(ValueError, match="no pixel"):
        deconvolve(y, psf, mask=np.zeros_like(y, bool), progress=False)
    with pytest.raises(ValueError, match="0 and 1"):
        deconvolve(y, psf, mask=np.full(y.shape, 2.0), progress=False)
    with pytest.raises(ValueError, match="real numbers"):
        deconvolve(y.astype(complex), psf, progress=False)
    with pytest.raises(ValueError, match=r"psf is 3-D .* but the image is 2-D"):
        deconvolve(y, np.ones((3, 3, 3)) / 27, progress=False)


def test_method_left_unset_picks_an_engine_that_supports_the_model(rng):
    """Poisson noise with a Gaussian prior has no closed-form engine: with ``method`` unset
    SVI is chosen (with the default Gamma prior the closed-form Poisson VB)."""
    psf = gaussian_psf(5, 1.0)
    counts = rng.poisson(20.0, size=(24, 24)).astype(float)
    result = deconvolve(counts, psf, noise="poisson", prior="smooth", steps=20, seed=0,
                        progress=False)  # fmt: skip
    assert result.method == "svi"
    assert deconvolve(counts, psf, noise="poisson", steps=3, progress=False).method == "ivb"
    assert deconvolve(counts, psf, steps=3, progress=False).method == "ivb"
    with pytest.raises(ValueError, match="method='gibbs' cannot fit this model"):
        deconvolve(counts, psf, method="gibbs", progress=False)


def test_std_family_skips_the_sampled_map_and_other_engines_refuse_it(blurred):
    y, psf, _ = blurred
    fast = deconvolve(y, psf, std="family", progress=False)
    assert fast.info["std"] == "fourier family" and np.ptp(fast.std) == 0
    default = deconvolve(y, psf, progress=False)
    assert default.info["std"] == "sampled" and np.ptp(default.std) > 0
    np.testing.assert_array_equal(fast.mean, default.mean)
    with pytest.raises(ValueError, match="std applies to method='ivb'"):
        deconvolve(y, psf, method="svi", std="family", steps=5, progress=False)
    with pytest.raises(ValueError, match="std must be"):
        deconvolve(y, psf, std="sampled", progress=False)
    with pytest.raises(ValueError, match="Gaussian \\(smooth\\) prior"):
        deconvolve(y, psf, prior="sparse", std="family", steps=2, progress=False)
