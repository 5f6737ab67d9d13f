"""The L0-gradient kernel search that starts blind deconvolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.fft import irfft2
from scipy.signal import correlate

import bayesdeconv.infer.init as init_module
from bayesdeconv import deconvolve
from bayesdeconv.datasets import piecewise_constant_image
from bayesdeconv.infer.blind import SEARCH_SETTINGS, search_start
from bayesdeconv.infer.kernel_search import _make_periodic, _otf, _support, search_kernel
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import motion_psf
from bayesdeconv.priors import SmoothPrior, sparse
from bayesdeconv.psf_priors import ARDPSFPrior

N, S, NOISE = 96, 11, 0.005


def _blurred(psf: np.ndarray, seed: int = 1) -> np.ndarray:
    op = ConvolutionOperator(psf, (N, N), boundary="valid")
    truth = piecewise_constant_image(op.latent_shape, seed=seed)
    rng = np.random.default_rng(seed)
    return op.forward(torch.tensor(truth)).numpy() + NOISE * rng.standard_normal((N, N))


def _ncc(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Normalised cross-correlation (means removed), maximised over shifts."""
    a, b = estimate - estimate.mean(), truth - truth.mean()
    return float(correlate(a, b).max() / np.sqrt((a * a).sum() * (b * b).sum()))


def _l1_up_to_shift(estimate: np.ndarray, truth: np.ndarray, reach: int = 2) -> float:
    """Smallest L1 distance over integer shifts (a kernel is found up to a translation)."""
    best = np.inf
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            shifted = np.roll(estimate, (dy, dx), (0, 1))
            best = min(best, float(np.abs(shifted - truth).sum()))
    return best


@pytest.fixture(scope="module")
def motion():
    return motion_psf(S, 9, 30.0)


def test_otf_and_support_are_inverse(motion):
    periodic = irfft2(_otf(motion, (32, 40)), s=(32, 40))
    assert np.allclose(_support(periodic, motion.shape), motion, atol=1e-14)
    assert np.isclose(periodic.sum(), 1.0)  # nothing fell outside the support


def test_periodic_padding_keeps_the_image_and_closes_the_seams():
    rng = np.random.default_rng(0)
    image = np.cumsum(rng.standard_normal((20, 30)), axis=1)  # very different left/right edges
    band = 5
    padded = _make_periodic(image, band)
    assert padded.shape == (30, 40)
    assert np.array_equal(padded[band:-band, band:-band], image)
    # across the wrap-around the steps are no larger than the image's own steps
    seam = max(np.abs(padded[:, 0] - padded[:, -1]).max(), np.abs(padded[0] - padded[-1]).max())
    assert seam <= np.abs(np.diff(padded, axis=1)).max() + 1e-12


@pytest.mark.parametrize("angle", [30.0, 120.0])
def test_search_recovers_a_motion_kernel(angle):
    psf = motion_psf(S, 9, angle)
    found = search_kernel(_blurred(psf), (S, S))
    assert found.shape == (S, S)
    assert (found >= 0).all() and found.sum() == pytest.approx(1.0, abs=1e-12)
    rows, cols = np.nonzero(found)  # the bounding box is centred on the support
    box_centre = ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
    assert np.allclose(box_centre, (S // 2, S // 2), atol=0.51)
    delta = np.zeros((S, S))
    delta[S // 2, S // 2] = 1.0
    # a search that stays near the no-blur kernel fails both (delta: L1 1.79, NCC 0.41);
    # the search is a start, a little wider than the truth (L1 0.49-0.94 here), which the
    # variational sweeps then sharpen (tests/infer/test_blind.py)
    assert _ncc(found, psf) > 0.8 > 0.5 > _ncc(delta, psf)
    assert _l1_up_to_shift(found, psf) < 1.1 < _l1_up_to_shift(delta, psf)


def test_search_with_missing_pixels(motion):
    y = _blurred(motion)
    mask = np.ones_like(y, dtype=bool)
    mask[30:50, 40:60] = False
    y_holed = np.where(mask, y, 0.0)  # what deconvolve passes on
    found = search_kernel(y_holed, (S, S), mask=mask)
    assert _ncc(found, motion) > 0.8
    assert _l1_up_to_shift(found, motion) < 1.1


def _faint_tail_kernel(size: int = 15) -> np.ndarray:
    """A bright short stroke with a thin tail at 15 % of its intensity (Levin kernels 4, 6)."""
    kernel = np.zeros((size, size))
    c = size // 2
    kernel[c, c - 3 : c + 1] = 1.0
    for t in range(1, c + 1):
        kernel[c - t, c + t // 2] = 0.15
    return kernel / kernel.sum()


def test_refinement_recovers_a_faint_tail():
    truth = _faint_tail_kernel()
    size = truth.shape
    gains = []
    for seed in (1, 2, 3):
        y = _blurred(truth, seed)
        coarse = search_kernel(y, size, refine_iters=0)
        refined = search_kernel(y, size)
        gains.append(_ncc(refined, truth) - _ncc(coarse, truth))
    # measured gains 0.05-0.07; a refinement phase that changes nothing gains 0
    assert min(gains) > 0 and np.mean(gains) > 0.03


def test_a_start_skips_the_coarse_scales(motion):
    y = _blurred(motion)
    # no alternation at all: the start comes back normalised (and already centred)
    same = search_kernel(y, (S, S), start=3 * motion, iters=0, refine_iters=0)
    assert np.allclose(same, motion, atol=1e-12)
    # refinement only, from the truth: it stays near the truth
    refined = search_kernel(y, (S, S), start=motion, iters=0)
    assert _ncc(refined, motion) > 0.9


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"psf_size": (10, 10)}, "odd"),
        ({"psf_size": (1, 1)}, "odd and at least 3"),
        ({"psf_size": (11, 11), "mask": np.ones((5, 5), bool)}, "does not match"),
        ({"psf_size": (11, 11), "mask": np.zeros((N, N), bool)}, "no pixel"),
        ({"psf_size": (11, 11), "prune": 1.0}, "prune"),
        ({"psf_size": (11, 11), "refine_iters": -1}, "refine_iters"),
        ({"psf_size": (11, 11), "refine_lambda": 0.0}, "refine_lambda"),
        ({"psf_size": (11, 11), "start": np.ones((9, 9)) / 81}, "start has shape"),
        ({"psf_size": (11, 11), "start": -np.ones((11, 11))}, "non-negative"),
    ],
)
def test_search_bad_input(motion, kwargs, message):
    with pytest.raises(ValueError, match=message):
        search_kernel(_blurred(motion), **kwargs)


def test_search_rejects_3d():
    with pytest.raises(ValueError, match="2-D"):
        search_kernel(np.zeros((4, 20, 20)), (3, 3))


def _blind_model(prior=None) -> DeconvolutionModel:
    return DeconvolutionModel(
        ConvolutionOperator(np.full((S, S), 1 / S**2), (N, N), boundary="valid"),
        prior=sparse() if prior is None else prior,
        noise=GaussianNoise(),
        psf_prior=ARDPSFPrior((S, S)),
    )


def test_search_start_prefers_the_true_kernel_by_the_elbo(motion, monkeypatch):
    """The candidates' score, the non-blind ELBO, ranks the true kernel above no blur and
    above the same motion in another direction, and the start is the best candidate."""
    delta = np.zeros((S, S))
    delta[S // 2, S // 2] = 1.0
    candidates = [delta, motion_psf(S, 9, 120.0), motion]
    calls = iter(candidates)
    refined_from = []

    def fake_search(*args, start=None, **kwargs):
        if start is None:
            assert kwargs["refine_iters"] == 0  # candidates are scored unrefined
            return next(calls)
        refined_from.append(start)
        return start[::-1].copy()  # a recognisable "refinement"

    monkeypatch.setattr(init_module, "search_kernel", fake_search)
    start, scored = search_start(_blind_model(), _blurred(motion))
    assert [c["settings"] for c in scored] == [dict(s) for s in SEARCH_SETTINGS]
    elbo = [c["elbo"] for c in scored]
    assert elbo[2] > max(elbo[:2]) + 100
    assert np.array_equal(start, motion) and not refined_from
    # refine=True refines the winner, and only the winner
    calls = iter(candidates)
    start, _ = search_start(_blind_model(), _blurred(motion), refine=True)
    assert len(refined_from) == 1 and np.array_equal(refined_from[0], motion)
    assert np.array_equal(start, motion[::-1])


def test_search_start_without_a_closed_form_elbo_searches_once(motion):
    start, scored = search_start(_blind_model(SmoothPrior()), _blurred(motion))
    assert len(scored) == 1 and np.isnan(scored[0]["elbo"])
    y = _blurred(motion)
    unrefined = search_kernel(y, (S, S), refine_iters=0)
    assert np.array_equal(scored[0]["psf"], unrefined) and np.array_equal(start, unrefined)
    refined, _ = search_start(_blind_model(SmoothPrior()), y, refine=True)
    assert np.array_equal(refined, search_kernel(y, (S, S), start=unrefined, iters=0))


def test_search_start_needs_a_blind_model(motion):
    model = DeconvolutionModel(
        ConvolutionOperator(motion, (N, N)), prior=sparse(), noise=GaussianNoise()
    )
    with pytest.raises(ValueError, match="blind"):
        search_start(model, _blurred(motion))


def test_deconvolve_starts_every_blind_engine_from_the_search(motion):
    y = _blurred(motion)
    ivb = deconvolve(y, psf_size=S, progress=False, steps=2)
    assert ivb.info["psf_init"] == "search"
    scored = ivb.info["psf_search"]
    first = search_kernel(y, (S, S), refine_iters=0, **SEARCH_SETTINGS[0])
    assert np.array_equal(scored[0]["psf"], first)
    best = max(scored, key=lambda c: c["elbo"])
    assert np.array_equal(ivb.info["psf_start"], best["psf"])
    assert ivb.info["psf_search_seconds"] > 0
    pyramid = deconvolve(y, psf_size=S, psf_init="pyramid", progress=False, steps=2)
    assert pyramid.info["psf_init"] == "pyramid" and len(pyramid.info["scales"]) > 1
    assert "psf_search" not in pyramid.info
    given = deconvolve(y, psf_size=S, psf_init=motion, progress=False, steps=2)
    assert given.info["psf_init"] == "array"
    assert np.allclose(given.info["psf_start"], motion)
    # SVI starts at the same kernel: after one projected step it is still close to it
    svi = deconvolve(y, psf_size=S, method="svi", steps=1, seed=0, progress=False)
    assert np.abs(svi.psf - best["psf"]).sum() < 0.1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"psf_size": S, "psf_init": "wiener"}, "psf_init must be one of"),
        ({"psf_size": S, "psf_init": "pyramid", "method": "svi"}, "use method='ivb'"),
        ({"psf_size": S, "psf_init": np.ones((S, S))}, "normalised|sum"),
        ({"psf_size": S, "psf_init": np.full((5, 5), 1 / 25)}, "psf_size"),
    ],
)
def test_psf_init_bad_input(motion, kwargs, message):
    with pytest.raises(ValueError, match=message):
        deconvolve(_blurred(motion), progress=False, **kwargs)


def test_psf_init_needs_blind(motion):
    with pytest.raises(ValueError, match="only used for blind"):
        deconvolve(_blurred(motion), motion, psf_init="pyramid", progress=False)
