"""Blind deconvolution and sparse-gradient priors: operators, oracles, recovery, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from bayesdeconv import deconvolve
from bayesdeconv.datasets import piecewise_constant_image
from bayesdeconv.infer.blind import fit_sparse_ivb
from bayesdeconv.infer.psf_statistics import bounding_box, rectangle_gram, shifted_gram
from bayesdeconv.infer.pyramid import downsample, rescale_psf
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import motion_psf
from bayesdeconv.priors import piecewise, sparse
from bayesdeconv.priors.ard import difference_diagonal, differences, differences_adjoint
from bayesdeconv.psf_priors import ARDPSFPrior, project_simplex

N, S, NOISE = 64, 9, 0.01


@pytest.fixture(scope="module")
def problem():
    psf = motion_psf(S, 7, 30.0)
    op = ConvolutionOperator(psf, (N, N), boundary="valid")
    truth = piecewise_constant_image(op.latent_shape)
    rng = np.random.default_rng(1)
    y = op.forward(torch.tensor(truth)).numpy() + NOISE * rng.standard_normal((N, N))
    return {"psf": psf, "truth": truth[op.frame], "y": y}


def blind_model(size=S, mask=None, prior=None) -> DeconvolutionModel:
    start = np.zeros((size, size))
    start[size // 2, size // 2] = 1
    op = ConvolutionOperator(start, (N, N), boundary="valid")
    return DeconvolutionModel(
        op,
        prior=prior or piecewise(),
        noise=GaussianNoise(),
        mask=mask,
        psf_prior=ARDPSFPrior((size, size)),
    )


@pytest.fixture(scope="module")
def fits(problem):
    return {
        cov: fit_sparse_ivb(blind_model(), problem["y"], psf_covariance=cov, progress=False)
        for cov in ("full", "diagonal")
    }


def psnr(a, b) -> float:
    return 10 * math.log10(1.0 / float(np.mean((a - b) ** 2)))


# -- building blocks -----------------------------------------------------------------------------
def test_differences_adjoint_and_diagonal():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((7, 9)))
    g = torch.tensor(rng.standard_normal((2, 7, 9)))
    assert float((differences(x, 2) * g).sum()) == pytest.approx(
        float((x * differences_adjoint(g, 2)).sum()), rel=1e-12
    )
    w = torch.tensor(rng.random((2, 7, 9)))
    dense = torch.stack(
        [
            differences_adjoint(w * differences(e.reshape(7, 9), 2), 2).reshape(-1)
            for e in torch.eye(63, dtype=torch.float64)
        ]
    )
    torch.testing.assert_close(difference_diagonal(w, 2).reshape(-1), torch.diagonal(dense))


def test_ard_marginal_is_the_gamma_scale_mixture():
    prior = sparse()
    t = 0.03
    mixture, _ = integrate.quad(
        lambda w: (
            stats.norm.pdf(t, scale=1 / math.sqrt(w))
            * stats.gamma.pdf(w, prior.shape, scale=1 / prior.rate)
        ),
        0,
        np.inf,
        limit=200,
    )
    student = float(prior.marginal().log_prob(torch.tensor(t)).exp())
    assert student == pytest.approx(mixture, rel=1e-5)


def test_project_simplex_is_the_euclidean_projection():
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = torch.tensor(rng.normal(scale=rng.uniform(0.01, 2), size=25))
        p = project_simplex(v)
        assert float(p.min()) >= 0 and float(p.sum()) == pytest.approx(1.0)
        # optimality: (v - p) . (q - p) <= 0 for every point q of the simplex
        for q in rng.dirichlet(np.ones(25), size=50):
            assert float((v - p) @ (torch.tensor(q) - p)) <= 1e-12


def _second_moments(psf: np.ndarray) -> np.ndarray:
    grid = np.indices(psf.shape) - (np.array(psf.shape) // 2)[:, None, None]
    return np.array([(psf * grid[d] ** 2).sum() for d in range(2)])


def test_psf_rescaling_magnifies_by_the_image_factor():
    """Between pyramid levels a PSF is magnified by the image's factor, not its support's."""
    from bayesdeconv.physics.psf import gaussian_psf

    small = torch.tensor(gaussian_psf(9, 1.2))
    same = rescale_psf(small, (1.0, 1.0), (9, 9))
    torch.testing.assert_close(same, small / small.sum())
    big = rescale_psf(small, (1.5, 1.25), (15, 13)).numpy()
    assert big.shape == (15, 13) and big.min() >= 0 and big.sum() == pytest.approx(1.0)
    ratio = np.sqrt(_second_moments(big) / _second_moments(small.numpy()))
    np.testing.assert_allclose(ratio, [1.5, 1.25], rtol=0.05)


def test_downsampling_keeps_the_mean_and_removes_aliasing():
    rng = np.random.default_rng(0)
    image = torch.tensor(rng.random((64, 64)))
    small = downsample(image, (32, 32))
    assert small.shape == (32, 32)
    assert float(small.mean()) == pytest.approx(float(image.mean()), abs=1e-3)
    checker = torch.tensor(np.indices((64, 64)).sum(0) % 2, dtype=torch.float64)
    # the Nyquist checkerboard averages out instead of aliasing to a flat 0 or 1
    assert float(downsample(checker, (45, 45)).std()) < 0.05


def _dense_gram(x: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    columns = []
    for a in range(size[0]):
        for b in range(size[1]):
            shifted = torch.roll(x, (a - size[0] // 2, b - size[1] // 2), dims=(0, 1))
            columns.append(shifted[mask])  # x_{p - j} at the observed p
    patches = torch.stack(columns, 1)
    return patches.T @ patches


def test_shifted_gram_matches_dense_patches():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.random((12, 13)))
    mask = torch.tensor(rng.random((12, 13)) > 0.3)
    size = (3, 5)
    torch.testing.assert_close(shifted_gram(x, mask, size, block=5), _dense_gram(x, mask, size))


@pytest.mark.parametrize(
    "box", [(0, 17, 0, 20), (2, 15, 3, 18), (3, 16, 1, 19), (5, 6, 4, 5)], ids=str
)
@pytest.mark.parametrize("size", [(3, 5), (7, 5), (1, 3)], ids=str)
def test_rectangle_gram_matches_dense_patches(box, size):
    """Rectangular masks (periodic, ``valid``-like, off-centre, one pixel) take the
    cumulative-sum path; it must equal the patch product, wrap-around included."""
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.random((17, 20)))
    mask = torch.zeros(17, 20, dtype=torch.bool)
    r0, r1, c0, c1 = box
    mask[r0:r1, c0:c1] = True
    assert bounding_box(mask) == box
    torch.testing.assert_close(rectangle_gram(x, box, size), _dense_gram(x, mask, size))
    torch.testing.assert_close(shifted_gram(x, mask, size), _dense_gram(x, mask, size))


def test_bounding_box_rejects_masks_with_holes():
    mask = torch.ones(6, 7, dtype=torch.bool)
    mask[2, 3] = False
    assert bounding_box(mask) is None
    assert bounding_box(torch.zeros(6, 7, dtype=torch.bool)) is None


# -- blind recovery ------------------------------------------------------------------------------
@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_blind_ivb_recovers_psf_and_image(problem, fits, covariance):
    result = fits[covariance]
    # the narrow start is ~1.3 away in L1; a no-blur delta is ~1.6 away
    assert np.abs(result.psf - problem["psf"]).sum() < 0.4
    assert psnr(result.mean, problem["truth"]) > psnr(problem["y"], problem["truth"]) + 6
    assert result.psf.min() >= 0 and result.psf.sum() == pytest.approx(1.0)
    assert result.psf_std.shape == result.psf.shape and (result.psf_std > 0).all()
    assert result.hyperparameters["noise_precision"].mean == pytest.approx(1 / NOISE**2, rel=0.5)


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_blind_ivb_elbo_is_monotone(fits, covariance):
    elbo = fits[covariance].elbo
    assert len(elbo) > 5
    assert np.diff(elbo).min() >= -1e-9 * abs(elbo[-1])


def test_full_psf_covariance_beats_diagonal(fits):
    assert fits["full"].elbo[-1] > fits["diagonal"].elbo[-1]


@pytest.mark.parametrize("update", ["elbo", "vadam"])
def test_gradient_psf_updates_match_closed_form_full(problem, fits, update):
    """The seed's claim: a diagonal q(k) fitted by gradient steps (reparameterised ELBO or
    Vadam) is as accurate as the closed-form full-covariance IVB."""
    result = fit_sparse_ivb(
        blind_model(), problem["y"], psf_covariance="diagonal", psf_update=update, progress=False
    )
    assert result.psf.min() >= 0 and result.psf.sum() == pytest.approx(1.0)
    assert np.all(np.isfinite(result.elbo))
    full = fits["full"]
    error, full_error = (np.abs(r.psf - problem["psf"]).sum() for r in (result, full))
    assert error < full_error + 0.05
    assert psnr(result.mean, problem["truth"]) > psnr(full.mean, problem["truth"]) - 0.5


@pytest.mark.xfail(
    strict=True,
    reason="known defect: with the piecewise ARD prior the mean-field q(x)q(w) drives the "
    "variance of flat regions to the same floor with or without data, so holes look as "
    "certain as observed pixels; see docs/limitations.md and tests/infer/test_gibbs.py",
)
def test_hole_std_exceeds_observed_std(problem):
    mask = np.ones((N, N), dtype=bool)
    mask[20:32, 24:36] = False
    y = np.where(mask, problem["y"], np.nan)
    result = deconvolve(y, psf_size=S, mask=mask, progress=False, steps=10)
    hole = result.std[23:29, 27:33]
    assert hole.min() >= 2 * np.median(result.std[mask])


def test_known_psf_sparse_prior_is_monotone_and_sharper_than_smooth(problem):
    sparse_fit = deconvolve(problem["y"], problem["psf"], prior="piecewise", progress=False)
    smooth_fit = deconvolve(problem["y"], problem["psf"], prior="smooth", progress=False)
    settled = sparse_fit.elbo[sparse_fit.info["anneal_sweeps"] :]
    assert len(settled) > 1
    assert np.diff(settled).min() >= -1e-9 * abs(settled[-1])
    assert psnr(sparse_fit.mean, problem["truth"]) > psnr(smooth_fit.mean, problem["truth"]) + 2


@pytest.mark.parametrize("prior", [piecewise, sparse])
def test_continuation_reaches_a_higher_elbo_of_the_same_model(problem, prior):
    """Annealing the Gamma rate is a path to a better optimum of the *same* objective: the
    final ELBO (true prior) is higher than plain coordinate ascent's, and the image sharper."""
    fits = {
        anneal: fit_sparse_ivb(
            DeconvolutionModel(
                ConvolutionOperator(problem["psf"], (N, N), boundary="valid"),
                prior=prior(),
                noise=GaussianNoise(),
            ),
            problem["y"],
            anneal=anneal,
            progress=False,
        )
        for anneal in (False, True)
    }
    assert fits[False].info["anneal_sweeps"] == 0 < fits[True].info["anneal_sweeps"]
    assert fits[True].elbo[-1] > fits[False].elbo[-1] + 100
    gain = psnr(fits[True].mean, problem["truth"]) - psnr(fits[False].mean, problem["truth"])
    assert gain > 3


def test_svi_agrees_with_ivb_on_the_same_sparse_model(problem):
    """IVB (explicit Gamma factors q(w)) and SVI (the Student-t marginal, mean-field image)
    target the same model: started at IVB's posterior mean, SVI stays within half the noise
    std of it (RMS), where the same budget from the default start ends ~4 noise stds away.
    Their image stds differ by design: SVI integrates w out, IVB's q(w) prunes it."""
    from bayesdeconv.infer.svi import fit_svi

    model = DeconvolutionModel(
        ConvolutionOperator(problem["psf"], (N, N), boundary="valid"),
        prior=sparse(),
        noise=GaussianNoise(),
    )
    ivb = fit_sparse_ivb(model, problem["y"], progress=False)
    start = {
        "image": ivb.latent_mean,
        "noise_precision": ivb.hyperparameters["noise_precision"].mean,
    }
    svi = fit_svi(
        model, problem["y"], steps=1000, lr=0.002, tol=0, seed=0, init=start, progress=False
    )
    assert np.sqrt(np.mean((svi.mean - ivb.mean) ** 2)) < 0.5 * NOISE
    assert abs(psnr(svi.mean, problem["truth"]) - psnr(ivb.mean, problem["truth"])) < 0.6


def test_svi_agrees_with_ivb_on_the_same_blind_model(problem):
    """The blind model too: SVI with the full-covariance PSF guide, started at IVB's image and
    PSF, stays close (its PSF moves by L1 ~0.09; SVI from its default start ends 0.75-0.84
    from the true PSF), and the image within one noise std (RMS) at the same PSNR."""
    from bayesdeconv.infer.svi import fit_svi

    model = blind_model(prior=sparse())
    ivb = fit_sparse_ivb(model, problem["y"], progress=False)
    start = {
        "image": ivb.latent_mean,
        "psf": ivb.psf,
        "noise_precision": ivb.hyperparameters["noise_precision"].mean,
    }
    svi = fit_svi(
        model,
        problem["y"],
        guide="full-psf",
        steps=1000,
        lr=0.002,
        tol=0,
        seed=0,
        init=start,
        progress=False,
    )
    assert np.abs(svi.psf - ivb.psf).sum() < 0.2
    assert np.sqrt(np.mean((svi.mean - ivb.mean) ** 2)) < NOISE
    assert abs(psnr(svi.mean, problem["truth"]) - psnr(ivb.mean, problem["truth"])) < 0.5


def test_svi_init_is_checked_and_copied(problem):
    from bayesdeconv.infer.svi import fit_svi

    model = blind_model()
    with pytest.raises(ValueError, match="unknown site"):
        fit_svi(model, problem["y"], steps=1, init={"imgae": 0.0}, progress=False)
    with pytest.raises(ValueError, match="shape"):
        fit_svi(model, problem["y"], steps=1, init={"image": np.zeros((3, 3))}, progress=False)
    start = np.full(model.operator.latent_shape, 0.5)
    fit_svi(model, problem["y"], steps=5, init={"image": start}, progress=False)
    assert np.all(start == 0.5)  # the caller's array is not optimised in place


def test_svi_full_psf_guide_runs_and_keeps_psf_valid(problem):
    result = deconvolve(
        problem["y"],
        psf_size=S,
        method="svi",
        guide="full-psf",
        steps=300,
        seed=0,
        progress=False,
    )
    assert result.psf.min() >= 0 and result.psf.sum() == pytest.approx(1.0, abs=1e-5)
    assert (result.psf_std > 0).all()


def test_vadam_engine_on_blind_model_keeps_psf_valid(problem):
    """fit_vadam runs on the blind model too (single scale, all sites jointly): PSF mean
    projected onto the simplex, a positive std from Vadam's precision. Accuracy is not
    asserted: like SVI it stalls near the no-blur solution (see the README)."""
    result = deconvolve(problem["y"], psf_size=S, method="vadam", steps=200, seed=0, progress=False)
    assert result.method == "vadam"
    assert result.psf.min() >= 0 and result.psf.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.isfinite(result.psf_std)) and (result.psf_std > 0).all()


def test_api_psf_update_reaches_the_hybrid(problem):
    result = deconvolve(
        problem["y"],
        psf_size=S,
        psf_covariance="diagonal",
        psf_update="vadam",
        steps=3,
        progress=False,
    )
    assert result.method == "ivb" and result.info["psf_update"] == "vadam"


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"psf_size": 101}, "larger than the image"),
        ({"psf_size": 8}, "odd"),
        ({"psf_size": 1}, "at least 3"),
        ({"psf_init": np.full((8, 8), 1 / 64)}, "odd"),  # the support comes from psf_init
        ({"psf_size": 9, "prior": "smooth"}, "sparse-gradient prior"),
        ({"psf_size": 9, "method": "map"}, "supports methods"),
        ({"psf_size": 9, "mask": np.zeros((N, N), bool)}, "no pixel"),
        ({"psf_size": 9, "psf_covariance": "low-rank"}, "psf_covariance"),
        ({"psf_size": 9, "psf_update": "newton"}, "psf_update must be one of"),
        ({"psf_size": 9, "psf_update": "vadam"}, "diagonal"),
        ({"psf_size": 9, "psf_update": "elbo", "method": "svi"}, "method='ivb' or 'gibbs' only"),
    ],
)
def test_blind_bad_input(problem, kwargs, message):
    with pytest.raises(ValueError, match=message):
        deconvolve(problem["y"], None, progress=False, **kwargs)


def test_psf_update_needs_blind(problem):
    with pytest.raises(ValueError, match="only used for blind"):
        deconvolve(problem["y"], problem["psf"], psf_update="vadam", progress=False)


def test_blind_rejects_3d():
    with pytest.raises(ValueError, match="2-D"):
        deconvolve(np.zeros((8, 16, 16)), psf_size=3, progress=False)
