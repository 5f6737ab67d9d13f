# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Variational Bayes variants for blind deconvolution, compared
#
# The slides *Variational Inference for Blind Image Deconvolution* (A. Brožová, 2021) compare
# closed-form iterative variational Bayes (IVB) with gradient-based maximisation of the
# evidence lower bound (ELBO) for blind deconvolution,
#
# $$y = M \odot (k \circledast x) + n, \qquad n \sim \mathcal N(0, \gamma^{-1} I),$$
#
# with an unknown image $x$ and PSF $k$. They conclude that (i) the PSF factor $q(k)$ can be
# updated by the reparameterised ELBO or by Vadam instead of its closed form without losing
# accuracy, and (ii) the posterior also gives a per-pixel variance, which is larger where
# pixels are missing. This notebook reruns that experiment with `bayesdeconv` and extends it:
#
# * two images: the slides' piecewise-constant test image and a crop of a Levin et al. (2009)
#   image;
# * eight inference schemes on **one model** (table below), all started from the same kernel;
# * PSNR of the posterior mean per iteration (the slides' figure), the ELBO per iteration,
#   wall time per iteration, the PSF posterior mean and std of each;
# * the slides' "incomplete image" part: a block of missing pixels and 30 % random missing
#   pixels, and the posterior std of every engine;
# * at the end, a table of the slides' claims with the numbers of *this* run.
#
# Set `BAYESDECONV_SMOKE=1` for a quick run on small images (the numbers are then weaker);
# the committed copy of this notebook was run at full size.

# %%
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pyro
import torch
from matplotlib.colors import LogNorm
from scipy.ndimage import gaussian_filter
from torch.optim.optimizer import register_optimizer_step_post_hook

from bayesdeconv.datasets import load_demo, piecewise_constant_image
from bayesdeconv.diagnostics import psnr
from bayesdeconv.infer.blind import fit_sparse_ivb, search_start
from bayesdeconv.infer.gibbs import gibbs_sparse
from bayesdeconv.infer.init import kernel_search_start
from bayesdeconv.infer.svi import fit_svi
from bayesdeconv.infer.vadam import fit_vadam
from bayesdeconv.likelihoods import GaussianNoise
from bayesdeconv.models.deconvolution import DeconvolutionModel
from bayesdeconv.physics.convolution import ConvolutionOperator
from bayesdeconv.physics.psf import motion_psf
from bayesdeconv.priors import BLIND_SPARSE_SCALE, piecewise, sparse
from bayesdeconv.psf_priors import ARDPSFPrior

SMOKE = os.environ.get("BAYESDECONV_SMOKE") == "1"
SIZE = 32 if SMOKE else 64  # observed side of the piecewise image, pixels
LEVIN_SIZE = 32 if SMOKE else 96  # and of the Levin crop (its blur is larger)
NOISE = 0.01  # noise std on the [0, 1] intensity scale
SWEEPS = 4 if SMOKE else 30  # IVB sweeps (at most; the ELBO stop may end them earlier)
STEPS = 60 if SMOKE else 3000  # SVI and Vadam steps
DRAWS = 4 if SMOKE else 60  # Gibbs draws
TOL_DB = 0.5  # "same accuracy" in the claims table: PSNR within this many dB
torch.manual_seed(0)
# the images are small: one thread is faster than several, far faster on shared cores
torch.set_num_threads(1)
plt.rcParams.update({"figure.dpi": 90, "image.cmap": "gray"})
print(f"smoke mode: {SMOKE}; images {SIZE}² and {LEVIN_SIZE}², noise std {NOISE}")

# %% [markdown]
# ## The two test images
#
# Both are blurred synthetically with a `valid` boundary (the scene extends beyond the frame,
# so the sharp image lives on a larger latent grid) and Gaussian noise of std 0.01, so the
# PSNR of an estimate against the truth is exact.
#
# * **piecewise**: the slides' kind of image, 14 random rectangles
#   (`bayesdeconv.datasets.piecewise_constant_image`), blurred by a 9×9 motion PSF; prior
#   `piecewise` (Student-t gradients with ν = 0.002, close to $1/|t|$).
# * **Levin**: a crop of the sharp `im1` of the Levin et al. (2009) benchmark, blurred by its
#   smallest camera-shake kernel (kernel 5, 13×13), PSF support 13 + 4 (the benchmark's rule);
#   prior `sparse` with the blind scale 0.02 (the package's default for photographs). The
#   benchmark's own blurred photographs are real captures that match no convolution exactly
#   (`shared/data/README.md`); re-blurring the sharp image keeps the PSNR exact. The data are
#   not shipped with the package: where they are absent this cell falls back to the shipped
#   `natural` demo image (a crop of scikit-image's `camera`, 13×13 Gaussian PSF) and says so.

# %%
REPO = Path.cwd().resolve().parent
sys.path.insert(0, str(REPO))  # the benchmarks' Levin loader (not part of the package)


class Case:
    """One blind problem: truth on the latent grid, observation, true PSF and the prior."""

    def __init__(self, name, latent, psf, psf_size, prior, seed, size):
        self.name, self.psf, self.psf_size, self.prior = name, psf, psf_size, prior
        self.size = size
        op = ConvolutionOperator(psf, (size, size), boundary="valid")
        latent = latent(op.latent_shape) if callable(latent) else latent
        latent = latent[: op.latent_shape[0], : op.latent_shape[1]]
        self.truth = latent[op.frame]
        noise = NOISE * np.random.default_rng(seed).standard_normal((size, size))
        self.y = op.forward(torch.as_tensor(latent)).numpy() + noise

    def model(self, dtype=torch.float64, mask=None):
        start = np.zeros((self.psf_size,) * 2)
        start[self.psf_size // 2, self.psf_size // 2] = 1.0  # only the support's shape
        op = ConvolutionOperator(start, (self.size,) * 2, boundary="valid", dtype=dtype)
        psf_prior = ARDPSFPrior((self.psf_size,) * 2)
        return DeconvolutionModel(
            op, prior=self.prior, noise=GaussianNoise(), mask=mask, psf_prior=psf_prior
        )

    def psnr(self, image):
        return psnr(np.asarray(image, dtype=float), self.truth, data_range=1.0)


motion = motion_psf(9, 7, 30.0)
piece = Case("piecewise", piecewise_constant_image, motion, 9, piecewise(), 1, SIZE)
pad = LEVIN_SIZE + 40

try:
    from benchmarks.levin import load_case

    levin = load_case(1, 5)
    top = 90 if not SMOKE else 110  # a crop with edges and texture
    latent = levin.sharp[top : top + pad, 60 : 60 + pad]
    second = Case("Levin im1, kernel 5", latent, levin.psf, levin.psf.shape[0] + 4,
                  sparse(BLIND_SPARSE_SCALE), 2, LEVIN_SIZE)
    print("Levin data found: crop of sharp im1 re-blurred by kernel 5")
except (ImportError, FileNotFoundError) as error:
    demo = load_demo("natural")
    second = Case("camera (Levin data absent)", demo.truth.astype(float), demo.psf,
                  demo.psf.shape[0], sparse(BLIND_SPARSE_SCALE), 2,
                  min(LEVIN_SIZE, demo.observed.shape[0]))
    print(f"Levin data not available ({error}); using the shipped 'natural' demo instead")
CASES = [piece, second]


def show(ax, image, title, label="intensity (a.u.)", **kwargs):
    handle = ax.imshow(image, **kwargs)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    plt.colorbar(handle, ax=ax, fraction=0.046, pad=0.03, label=label)
    return handle


fig, axes = plt.subplots(2, 3, figsize=(10, 6.2))
for row, case in zip(axes, CASES, strict=True):
    show(row[0], case.truth, f"{case.name}: truth", vmin=0, vmax=1)
    show(row[1], case.y, f"observed, PSNR {case.psnr(case.y):.2f} dB", vmin=0, vmax=1)
    show(row[2], case.psf, f"true PSF {case.psf.shape[0]}×{case.psf.shape[1]}",
         label="PSF weight", cmap="magma")
fig.tight_layout()

# %% [markdown]
# ## Eight schemes, one model
#
# All eight fit the same Bayesian model: the image prior above, an ARD prior on the PSF
# ($k_j \sim \mathcal N(0, \beta_j^{-1})$, $\beta_j \sim \mathrm{Gamma}$, mean kept on the
# simplex), Gaussian noise with a Gamma prior on $\gamma$. The first five are the slides'
# variants inside `fit_sparse_ivb`: closed-form coordinate ascent on
# $q(x)\,q(w)\,q(k)\,q(\beta)\,q(\gamma)$, where only the update of
# $q(k) = \mathcal N(\mu_k, \Sigma_k)$ differs. Given $q(x)$ the PSF part of the ELBO is the
# quadratic $f(k) = -\tfrac12 k^\top A k + b^\top k$ (see `docs/engines.md`):
#
# * **IVB full**: closed form, $\Sigma_k = A^{-1}$, $\mu_k = \arg\max_{\Delta} f$ over the
#   simplex $\Delta$;
# * **IVB diag**: the same with $\Sigma_k = \mathrm{diag}(A)^{-1}$;
# * **ELBO 1 sample**: 20 Adam steps per sweep on $\mathbb E_q f(k) + H[q(k)]$, estimated by
#   the reparameterisation $k = \mu_k + \sigma_k \odot \varepsilon$ with 1 draw per step
#   (diagonal $\Sigma_k$);
# * **ELBO 25 samples**: the same with 25 draws per step;
# * **IVB + Vadam**: 20 Vadam steps per sweep on $-f(k)$ (Khan et al. 2018), the diagonal
#   $\Sigma_k$ from Vadam's precision. This is the slides' "Vadam" scheme.
#
# The other three leave the closed forms:
#
# * **Vadam**: Vadam on every latent value at once (image, PSF, log-precisions), a mean-field
#   Gaussian; each step perturbs $\theta = \mu + \sigma \odot \varepsilon$ with
#   $\sigma = s^{-1/2}$ from the running average $s$ of squared gradients;
# * **SVI full-PSF**: Pyro `SVI` with a full-covariance Gaussian on the PSF and a mean-field
#   Gaussian on the rest, $w$ integrated out (each difference a Student-t);
# * **Gibbs**: exact conditional draws of $w$, $\gamma$ and $x$, conditional on IVB full's PSF
#   mean and started from its fit (a sampler: no ELBO).
#
# Every scheme starts from the same PSF: the package's default blind start, the best of three
# kernel searches by the non-blind ELBO (`search_start`; one unscored search in smoke mode).
# An *iteration* is one sweep for the IVB family, one optimiser step for SVI and Vadam, one
# draw for Gibbs.
#
# SVI and Vadam have no per-step callback. Their image mean is read after every optimiser step
# through PyTorch's global optimizer step hook (`register_optimizer_step_post_hook`), which
# leaves the engines untouched.

# %%
IVB_VARIANTS = {
    "IVB full": {"psf_covariance": "full"},
    "IVB diag": {"psf_covariance": "diagonal"},
    "ELBO 1 sample": {"psf_covariance": "diagonal", "psf_update": "elbo", "psf_samples": 1},
    "ELBO 25 samples": {"psf_covariance": "diagonal", "psf_update": "elbo", "psf_samples": 25},
    "IVB + Vadam": {"psf_covariance": "diagonal", "psf_update": "vadam"},
}
NAMES = [*IVB_VARIANTS, "Vadam", "SVI full-PSF", "Gibbs"]
_TAB = plt.cm.tab10.colors  # brown (index 5) is left for the blurred input, as in the slides
COLOURS = dict(zip(NAMES, [*_TAB[:5], _TAB[9], _TAB[6], _TAB[7]], strict=True))


class Trace:
    """PSNR of the image mean and the wall clock after every iteration."""

    def __init__(self, case):
        self.case, self.psnr, self.clock = case, [], [time.perf_counter()]

    def add(self, frame_image):
        self.psnr.append(self.case.psnr(frame_image))
        self.clock.append(time.perf_counter())

    @property
    def seconds(self):  # wall time of each iteration
        return np.diff(self.clock)


@contextmanager
def watch_image(trace, operator, engine):
    """Call ``trace.add`` with the image mean after every optimiser step of ``engine``.

    Vadam keeps one optimizer whose parameters are the means of every latent value (the image
    is the one of the latent grid's shape). Pyro's SVI keeps one optimizer per parameter of
    the private parameter store; the image mean is the guide's ``locs.image``.
    """
    frame, latent_shape = operator.frame, operator.latent_shape

    def hook(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if engine == "svi":
            names = {id(v): k for k, v in pyro.get_param_store().named_parameters()}
            found = [p for p in params if names.get(id(p), "").endswith("locs.image")]
        else:
            found = [p for p in params if tuple(p.shape) == tuple(latent_shape)]
        for p in found:
            trace.add(p.detach().cpu().numpy()[frame])

    handle = register_optimizer_step_post_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def start_kernel(case, model, y, mask):
    """The shared blind start: the package's scored kernel search (one unscored search in
    smoke mode). Where the mask leaves no pixel the search can use (every pixel within a
    kernel's reach of a missing one is left out, which 30 % random holes do to all), the
    search runs on the image with its holes filled by a Gaussian-weighted average of the
    observed neighbours; only the start sees that filled image."""
    search = (lambda m, im: kernel_search_start(m, im)) if SMOKE else search_start
    try:
        return search(model, y)[0], "the kernel search"
    except ValueError:
        weights = gaussian_filter(mask.astype(float), 2.0)
        filled = np.where(mask, y, gaussian_filter(np.where(mask, y, 0.0), 2.0) / weights)
        return search(case.model(), filled)[0], "the kernel search on the hole-filled image"


def run_all(case, mask=None, names=NAMES):
    """Fit every scheme of ``names`` to ``case``: {name: (Result, Trace)}."""
    y = case.y if mask is None else np.where(mask, case.y, np.nan)
    model, model32 = case.model(mask=mask), case.model(torch.float32, mask=mask)
    y = np.nan_to_num(y)
    tic = time.perf_counter()
    start, how = start_kernel(case, model, y, mask)
    out = {"start": start, "start_seconds": time.perf_counter() - tic}
    print(f"{case.name}: start kernel from {how} ({out['start_seconds']:.1f} s)")
    for name in names:
        trace = Trace(case)
        if name in IVB_VARIANTS:
            result = fit_sparse_ivb(
                model, y, psf_init=start, max_iter=SWEEPS, seed=0, progress=False,
                callback=lambda info, trace=trace: trace.add(info["mean"]),
                **IVB_VARIANTS[name],
            )
        elif name == "Vadam":
            with watch_image(trace, model.operator, "vadam"):
                result = fit_vadam(model32, y, init={"psf": start}, steps=STEPS, tol=0,
                                   seed=0, progress=False)
        elif name == "SVI full-PSF":
            with watch_image(trace, model.operator, "svi"):
                result = fit_svi(model32, y, guide="full-psf", init={"psf": start},
                                 steps=STEPS, tol=0, seed=0, progress=False)
        else:  # Gibbs, conditional on IVB full's PSF and started from its fit
            result = gibbs_sparse(model, y, init=out["IVB full"][0], num_samples=DRAWS,
                                  burn_in=0, seed=0, progress=False)
            running = np.cumsum(result.samples, 0) / np.arange(1, DRAWS + 1)[:, None, None]
            trace.psnr = [case.psnr(m) for m in running]  # mean of the draws so far
            trace.clock = list(np.linspace(0, result.runtime, DRAWS + 1))
        out[name] = (result, trace)
        print(f"{case.name:>26} | {name:<16} {len(trace.psnr):5d} it, "
              f"{result.runtime:6.1f} s, final PSNR {case.psnr(result.mean):.2f} dB")
    return out


runs = {case.name: run_all(case) for case in CASES}

# %% [markdown]
# ## PSNR of the posterior mean per iteration
#
# The slides' figure, for both images (iterations on a log axis: the IVB family needs tens of
# sweeps, SVI and Vadam thousands of steps). The brown line is the blurred observation, the
# dashed one a non-blind IVB fit with the true PSF (the best a blind method could hope for).

# %%
reference = {}
for case in CASES:
    op = ConvolutionOperator(case.psf, (case.size,) * 2, boundary="valid")
    known = DeconvolutionModel(op, prior=case.prior, noise=GaussianNoise())
    reference[case.name] = case.psnr(fit_sparse_ivb(known, case.y, progress=False).mean)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.3), sharey=False)
for ax, case in zip(axes, CASES, strict=True):
    for name in NAMES:
        trace = runs[case.name][name][1]
        ax.plot(np.arange(1, len(trace.psnr) + 1), trace.psnr, label=name,
                color=COLOURS[name], lw=1.6)
    ax.axhline(case.psnr(case.y), color="saddlebrown", lw=1.2, label="blurred input")
    ax.axhline(reference[case.name], color="k", ls="--", lw=1, label="true PSF, non-blind")
    ax.set_xscale("log")
    ax.set_xlabel("iteration (IVB sweep / optimiser step / Gibbs draw)")
    ax.set_ylabel("PSNR of the image mean (dB)")
    ax.set_title(case.name)
    ax.grid(alpha=0.3)
axes[1].legend(fontsize=8, loc="lower right")
fig.tight_layout()

# %% [markdown]
# ## The ELBO per iteration
#
# All schemes but Gibbs maximise a lower bound on the same $\log p(y)$, so their ELBOs share
# one axis. Two details make the numbers comparable:
#
# * IVB's ELBO is closed form for its factorised family, including $q(w)$ for the gradient
#   precisions. SVI and Vadam fit the same model with $w$ integrated out (each difference a
#   Student-t), which is the marginal of IVB's model with all its constants, so both bound the
#   same evidence and their values can be compared directly.
#
# SVI and Vadam report a one-draw Monte-Carlo estimate per step (faint; the solid line is a
# running median); the IVB values are exact. The right panel zooms in on the final values.

# %%
def elbo_trace(case, name):
    return np.asarray(runs[case.name][name][0].elbo, dtype=float)


def running_median(values, width):
    padded = np.pad(values, (width // 2, width - 1 - width // 2), mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, width), axis=1)


fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
for row, case in zip(axes, CASES, strict=True):
    finals = []
    for name in NAMES[:-1]:
        elbo = elbo_trace(case, name)
        steps = np.arange(1, len(elbo) + 1)
        if name in ("Vadam", "SVI full-PSF"):  # one-draw estimates: raw and running median
            smooth = running_median(elbo, max(5, len(elbo) // 30))
            for ax in row:
                ax.plot(steps, elbo, color=COLOURS[name], lw=0.5, alpha=0.25)
                ax.plot(steps, smooth, color=COLOURS[name], lw=1.6, label=f"{name} (median)")
            finals.append(smooth[-1])
        else:
            for ax in row:
                ax.plot(steps, elbo, color=COLOURS[name], lw=1.6, label=name)
            finals.append(elbo[-1])
    row[0].set_title(f"{case.name}: ELBO per iteration")
    row[1].set_title("zoom on the final values")
    span = max(finals) - min(finals)
    row[1].set_ylim(min(finals) - 0.3 * span - 1, max(finals) + 0.3 * span + 1)
    low = min(min(elbo_trace(case, n)[: max(2, len(elbo_trace(case, n)) // 20)].min()
                  for n in IVB_VARIANTS), min(finals))
    row[0].set_ylim(low - 0.2 * (max(finals) - low), max(finals) + 0.1 * (max(finals) - low))
    for ax in row:
        ax.set_xscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel("ELBO (nats)")
        ax.grid(alpha=0.3)
axes[0, 1].legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## Wall time
#
# Median seconds per iteration and total seconds of each scheme (the shared kernel search is
# not included; Gibbs excludes the IVB fit it starts from). Both on log axes.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
width = 0.38
x = np.arange(len(NAMES))
for offset, case in zip((-width / 2, width / 2), CASES, strict=True):
    per_it = [np.median(runs[case.name][n][1].seconds) for n in NAMES]
    total = [runs[case.name][n][0].runtime for n in NAMES]
    axes[0].bar(x + offset, per_it, width, label=case.name)
    axes[1].bar(x + offset, total, width, label=case.name)
for ax, label in zip(axes, ("seconds per iteration", "total seconds"), strict=True):
    ax.set_yscale("log")
    ax.set_xticks(x, NAMES, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3, axis="y")
axes[0].legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## PSF posterior mean and std
#
# Top row of each image: the posterior mean $\mathbb E k$ (truth on the left); bottom row: the
# marginal std $\sqrt{\mathrm{Var}\,k_j}$, on one colour scale per image. Gibbs samples
# conditional on IVB full's PSF, so its panels repeat that PSF. The title gives the L1
# distance of the mean to the true PSF (0 is perfect, 2 the most).

# %%
def psf_error(case, psf):
    """L1 distance to the true PSF, both placed on the larger support (centres aligned)."""
    size = max(psf.shape[0], case.psf.shape[0])
    a, b = np.zeros((size, size)), np.zeros((size, size))
    for out, k in ((a, psf), (b, case.psf)):
        o = (size - k.shape[0]) // 2
        out[o : o + k.shape[0], o : o + k.shape[1]] = k
    return float(np.abs(a - b).sum())


for case in CASES:
    fig, axes = plt.subplots(2, len(NAMES) + 1, figsize=(2.1 * (len(NAMES) + 1), 4.4))
    results = {n: runs[case.name][n][0] for n in NAMES}
    top = max(float(case.psf.max()), max(float(r.psf.max()) for r in results.values()))
    std_top = max(float(np.max(r.psf_std)) for r in results.values()) or 1.0
    show(axes[0, 0], case.psf, "true PSF", label="weight", cmap="magma", vmin=0, vmax=top)
    axes[1, 0].axis("off")
    for j, name in enumerate(NAMES, start=1):
        r = results[name]
        show(axes[0, j], r.psf, f"{name}\nL1 {psf_error(case, r.psf):.3f}", label="weight",
             cmap="magma", vmin=0, vmax=top)
        show(axes[1, j], r.psf_std, "std", label="std", cmap="viridis", vmin=0, vmax=std_top)
    fig.suptitle(f"{case.name}: PSF posterior mean (top) and std (bottom)")
    fig.tight_layout()

# %% [markdown]
# ### Summary per scheme

# %%
def summary_rows(case):
    rows = []
    for name in NAMES:
        result, trace = runs[case.name][name]
        elbo = elbo_trace(case, name) if name != "Gibbs" else np.array([np.nan])
        rows.append({
            "scheme": name,
            "iterations": len(trace.psnr),
            "PSNR (dB)": case.psnr(result.mean),
            "best PSNR (dB)": max(trace.psnr),
            "PSF L1": psf_error(case, result.psf),
            "final ELBO": float(np.median(elbo[-max(1, len(elbo) // 10):])),
            "s/iteration": float(np.median(trace.seconds)),
            "total s": result.runtime,
        })
    return rows


SUMMARY = {case.name: summary_rows(case) for case in CASES}
for case in CASES:
    print(f"\n{case.name}: blurred {case.psnr(case.y):.2f} dB, "
          f"non-blind with the true PSF {reference[case.name]:.2f} dB")
    print(f"{'scheme':<17}{'it':>6}{'PSNR':>8}{'best':>8}{'PSF L1':>8}"
          f"{'ELBO':>11}{'s/it':>9}{'total s':>9}")
    for r in SUMMARY[case.name]:
        print(f"{r['scheme']:<17}{r['iterations']:>6d}{r['PSNR (dB)']:>8.2f}"
              f"{r['best PSNR (dB)']:>8.2f}{r['PSF L1']:>8.3f}{r['final ELBO']:>11.1f}"
              f"{r['s/iteration']:>9.4f}{r['total s']:>9.1f}")

# %% [markdown]
# ## Incomplete images: the posterior std where pixels are missing
#
# The slides delete two areas of an image, one with edges (high variance) and one nearly
# constant, and show that the posterior precision drops there. We do the same on the
# piecewise image, blind, with two masks:
#
# * **blocks**: two square holes, one over the strongest edges of the truth, one in its
#   flattest region;
# * **random 30 %**: every pixel missing with probability 0.3.
#
# The engines report different stds: IVB's $q(x)$ is mean-field,
# $\sigma_p^2 = 1/\Lambda_{pp}$; Vadam's is $s^{-1/2}$ from its squared-gradient average;
# SVI's is the guide's scale; Gibbs gives the std of its draws. The ELBO-gradient variants only
# change $q(k)$, so IVB full and IVB + Vadam stand for the IVB family here.

# %%
HOLE = SIZE // 6 + 1
MASK_NAMES = ["IVB full", "IVB + Vadam", "Vadam", "SVI full-PSF", "Gibbs"]


def pick_holes(truth, size):
    """Top-left corners of the window with the most and the least gradient energy."""
    energy = np.abs(np.diff(truth, axis=0))[:, :-1] + np.abs(np.diff(truth, axis=1))[:-1]
    scores = {}
    for i in range(2, truth.shape[0] - size - 2, 2):
        for j in range(2, truth.shape[1] - size - 2, 2):
            scores[i, j] = energy[i : i + size, j : j + size].sum()
    edge = max(scores, key=scores.get)
    far = {k: v for k, v in scores.items()
           if abs(k[0] - edge[0]) > size + 2 or abs(k[1] - edge[1]) > size + 2}
    return edge, min(far, key=far.get)


edge_hole, flat_hole = pick_holes(piece.truth, HOLE)
blocks = np.ones((SIZE, SIZE), dtype=bool)
for i, j in (edge_hole, flat_hole):
    blocks[i : i + HOLE, j : j + HOLE] = False
random_mask = np.random.default_rng(5).random((SIZE, SIZE)) > 0.3
MASKS = {"blocks": blocks, "random 30 %": random_mask}
masked = {label: run_all(piece, mask=m, names=MASK_NAMES) for label, m in MASKS.items()}

# %%
def window(corner):
    i, j = corner
    return slice(i, i + HOLE), slice(j, j + HOLE)


fig, axes = plt.subplots(2, len(MASK_NAMES) + 1, figsize=(2.6 * (len(MASK_NAMES) + 1), 5.4))
for row, (label, mask) in zip(axes, MASKS.items(), strict=True):
    show(row[0], np.where(mask, piece.y, np.nan), f"observed ({label}; white: missing)",
         vmin=0, vmax=1)
    stds = [masked[label][n][0].std for n in MASK_NAMES]
    positive = np.concatenate([s[s > 0] for s in stds])
    norm = LogNorm(np.percentile(positive, 1), positive.max())
    for ax, name, std in zip(row[1:], MASK_NAMES, stds, strict=True):
        show(ax, np.maximum(std, norm.vmin), f"{name}: std", label="std (a.u.)",
             cmap="inferno", norm=norm)
    if label == "blocks":
        for ax in row:
            for corner, colour in ((edge_hole, "cyan"), (flat_hole, "lime")):
                ax.add_patch(plt.Rectangle((corner[1] - 0.5, corner[0] - 0.5), HOLE, HOLE,
                                           fill=False, ec=colour, lw=1))
fig.suptitle("posterior std per engine (log colour scale; cyan: edge hole, green: flat hole)")
fig.tight_layout()

# %% [markdown]
# The slides' lower figure: the posterior precision $1/\sigma^2$ along one row through each
# hole (the shaded columns are missing).

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for ax, (corner, title) in zip(axes, ((edge_hole, "edge hole"), (flat_hole, "flat hole")),
                               strict=True):
    row = corner[0] + HOLE // 2
    for name in MASK_NAMES:
        std = masked["blocks"][name][0].std[row]
        ax.plot(1 / np.maximum(std, 1e-12) ** 2, color=COLOURS[name], label=name)
    ax.axvspan(corner[1] - 0.5, corner[1] + HOLE - 0.5, color="0.85", label="missing")
    ax.set_yscale("log")
    ax.set_xlabel("column (pixels)")
    ax.set_ylabel("posterior precision $1/\\sigma^2$ (a.u.$^{-2}$)")
    ax.set_title(f"row {row}, through the {title}")
    ax.grid(alpha=0.3)
axes[1].legend(fontsize=8)
fig.tight_layout()

# %%
def std_ratios(label, name):
    """Mean std in the missing pixels (and per hole) over the mean std of observed pixels."""
    result = masked[label][name][0]
    mask = MASKS[label]
    observed = float(result.std[mask].mean())
    out = {"missing": float(result.std[~mask].mean()) / observed,
           "PSNR": piece.psnr(result.mean)}
    if label == "blocks":
        out["edge"] = float(result.std[window(edge_hole)].mean()) / observed
        out["flat"] = float(result.std[window(flat_hole)].mean()) / observed
    return out


RATIOS = {(label, n): std_ratios(label, n) for label in MASKS for n in MASK_NAMES}
print("std in missing pixels / std in observed pixels (means), and the PSNR of the mean")
print(f"{'engine':<14}{'blocks':>9}{'edge':>8}{'flat':>8}{'PSNR':>8}{'random':>9}{'PSNR':>8}")
for n in MASK_NAMES:
    b, r = RATIOS["blocks", n], RATIOS["random 30 %", n]
    print(f"{n:<14}{b['missing']:>9.2f}{b['edge']:>8.2f}{b['flat']:>8.2f}{b['PSNR']:>8.2f}"
          f"{r['missing']:>9.2f}{r['PSNR']:>8.2f}")

# %% [markdown]
# ## Do the slides' claims hold here?
#
# Each row states a claim of the slides, the test applied to this run's numbers ("the same
# accuracy" means a final PSNR at most 0.5 dB below the reference scheme) and the verdict per
# image. The verdicts are
# computed below, not written by hand; in smoke mode (small images, few iterations) they can
# differ from the committed full-size run.

# %%
def final(case, name, key="PSNR (dB)"):
    return next(r[key] for r in SUMMARY[case.name] if r["scheme"] == name)


def not_worse(case, a, b):
    """``a``'s final PSNR is at most TOL_DB below ``b``'s."""
    return final(case, a) >= final(case, b) - TOL_DB


def claim_rows():
    rows = []

    def add(claim, test, check):
        cells, verdicts = [], []
        for case in CASES:
            ok, numbers = check(case)
            verdicts.append(ok)
            cells.append(f"{'holds' if ok else 'does not hold'}: {numbers}")
        rows.append((claim, test, *cells))

    def p(case, *names):
        return ", ".join(f"{n} {final(case, n):.2f} dB" for n in names)

    add("IVB is fast; gradient-based ELBO maximisation is slow",
        "total time of IVB full < that of SVI and of Vadam",
        lambda c: (final(c, "IVB full", "total s")
                   < min(final(c, "SVI full-PSF", "total s"), final(c, "Vadam", "total s")),
                   ", ".join(f"{n} {final(c, n, 'total s'):.1f} s"
                             for n in ("IVB full", "SVI full-PSF", "Vadam"))))
    add("One sample is enough with a diagonal covariance",
        "ELBO 1 sample at most 0.5 dB below IVB diag",
        lambda c: (not_worse(c, "ELBO 1 sample", "IVB diag"), p(c, "ELBO 1 sample", "IVB diag")))
    add("25 samples give better results than 1",
        "PSNR of ELBO 25 samples > ELBO 1 sample",
        lambda c: (final(c, "ELBO 25 samples") > final(c, "ELBO 1 sample"),
                   p(c, "ELBO 25 samples", "ELBO 1 sample")))
    add("... but not as accurate as IVB with the full covariance",
        "PSNR of ELBO 25 samples < IVB full",
        lambda c: (final(c, "ELBO 25 samples") < final(c, "IVB full"),
                   p(c, "ELBO 25 samples", "IVB full")))
    add("Vadam (diagonal) reaches the accuracy of IVB with the full covariance",
        "IVB + Vadam at most 0.5 dB below IVB full",
        lambda c: (not_worse(c, "IVB + Vadam", "IVB full"), p(c, "IVB + Vadam", "IVB full")))
    add("IVB steps can be replaced by ELBO maximisation with Vadam without loss of accuracy",
        "Vadam on every factor at most 0.5 dB below IVB full",
        lambda c: (not_worse(c, "Vadam", "IVB full"),
                   p(c, "Vadam", "IVB full")))
    add("ELBO and Vadam estimates are as accurate as the estimate without stochasticity",
        "ELBO 1, ELBO 25 and IVB + Vadam each at most 0.5 dB below IVB diag",
        lambda c: (all(not_worse(c, n, "IVB diag")
                       for n in ("ELBO 1 sample", "ELBO 25 samples", "IVB + Vadam")),
                   p(c, "ELBO 1 sample", "ELBO 25 samples", "IVB + Vadam", "IVB diag")))
    return rows


def hole_row(claim, test, key, label, threshold):
    cells = []
    for n in MASK_NAMES:
        value = RATIOS[label, n][key]
        cells.append(f"{n} {value:.2f} ({'yes' if value > threshold else 'no'})")
    return claim, test, "; ".join(cells)


def edge_row():
    cells = []
    for n in MASK_NAMES:
        e, f = RATIOS["blocks", n]["edge"], RATIOS["blocks", n]["flat"]
        cells.append(f"{n} {e:.2f} vs {f:.2f} ({'yes' if e > f else 'no'})")
    return ("The std rises more in a hole over edges than in a flat one",
            "edge-hole ratio > flat-hole ratio (blocks)", "; ".join(cells))


ROWS = claim_rows()
HOLE_ROWS = [
    hole_row("The posterior precision is lower (the std higher) in missing areas",
             "mean std in the holes / in observed pixels > 1 (blocks)", "missing", "blocks", 1),
    hole_row("... also for scattered missing pixels", "the same ratio > 1 (random 30 %)",
             "missing", "random 30 %", 1),
    edge_row(),
]
lines = ["| claim of the slides | test | " + " | ".join(c.name for c in CASES) + " |",
         "|---|---|" + "---|" * len(CASES)]
lines += ["| " + " | ".join(row) + " |" for row in ROWS]
lines += ["", "| claim of the slides (piecewise image, blind) | test | per engine |",
          "|---|---|---|"]
lines += ["| " + " | ".join(row) + " |" for row in HOLE_ROWS]
from IPython.display import Markdown, display  # noqa: E402

display(Markdown("\n".join(lines)))

# %% [markdown]
# ## What this shows
#
# The table above is computed from this run and is the reference; these notes say what to look
# for in it and in the figures (they describe the committed full-size run).
#
# * From a shared kernel-search start, the five IVB-family schemes (closed form, ELBO gradient,
#   Vadam for $q(k)$) end within a few tenths of a dB of each other: the PSF update rule
#   matters less than the coordinate ascent they share. That is the slides' main conclusion,
#   tested by the "IVB + Vadam" row. More ELBO samples buy little here, and the full $q(k)$
#   covariance gains only a little PSNR, but a visibly higher ELBO.
# * Vadam on *every* latent value, and SVI, are different algorithms: they move the image and
#   the PSF jointly by noisy gradients, need thousands of steps, and can drift from the start
#   kernel (`docs/limitations.md`, "SVI and Vadam drift from the searched kernel"). So the
#   claim that IVB's steps can be replaced by Vadam holds for the PSF factor, not for the
#   whole model; where it holds on one image and not on the other, that is the drift. A higher
#   ELBO does not mean a sharper image: compare the ELBO and PSNR panels.
# * The diagonal families report a PSF std far below the full covariance's marginal std
#   (mean-field under-estimates variance when the entries are correlated).
# * With missing pixels, only Gibbs (and SVI, which integrates $w$ out) make the holes
#   clearly less certain than the data. Mean-field IVB gives the holes a *smaller* std than the
#   observed pixels: the known collapse of $q(x)\,q(w)$ under the piecewise prior
#   (`docs/limitations.md`). The slides' precision figure is therefore reproduced by the
#   sampler, not by the mean-field engines.
