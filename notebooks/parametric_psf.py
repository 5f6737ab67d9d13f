# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Parametric PSFs: a posterior over a blur's width, angle, radius or numerical aperture
#
# Most real blur is described by a few numbers: the widths and angle of a Gaussian (mild
# optical blur, as in Polyblur), the radius of a defocus disk, the length and angle of a linear
# motion, a widefield microscope's numerical aperture. bayesdeconv's parametric PSF priors make
# the PSF a differentiable function of those numbers, each with its own prior, and return
# their posterior with the image's:
#
# | PSF prior | parameters (sites `psf_<name>`) |
# |---|---|
# | `GaussianPSF(size)` | `sigma_x`, `sigma_y`, `theta` (or `sigma` with `isotropic=True`) |
# | `DefocusPSF(size)` | `radius` |
# | `LinearMotionPSF(size)` | `length`, `angle` |
# | `WidefieldPSF(size, wavelength=…, pixel_size=…)` | `numerical_aperture` (+ `defocus` in 2-D) |
#
# Which engine `deconvolve` picks depends on the image prior:
#
# * **smooth prior, circular boundary, no mask** → `"evidence"`: the image is integrated out in
#   closed form and NUTS samples the PSF parameters and both precisions; the image posterior
#   is averaged over those draws. Exact for its model, but photographs are not draws from the
#   smooth prior, and its σ comes out 10–20 % too wide on them.
# * **sparse / piecewise prior, any boundary or mask** → `"ivb"`: sparse IVB sweeps with the
#   parameters fitted by variational EM (one FFT per evaluation of the M-step) and a Laplace
#   posterior. Much less biased on photographs, but its intervals condition on q(x) and are
#   too narrow.
# * anything else → `"svi"` on the joint model.
#
# Set `BAYESDECONV_SMOKE=1` for a quick run on smaller images.

# %%
import math
import os
import time

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pyro.distributions as dist
import torch
from skimage import data, transform

from bayesdeconv import deconvolve
from bayesdeconv.diagnostics import psnr
from bayesdeconv.infer.blur_estimate import estimate_gaussian_blur
from bayesdeconv.physics import ConvolutionOperator
from bayesdeconv.physics.psf.differentiable import gaussian_kernel
from bayesdeconv.psf_priors import DefocusPSF, GaussianPSF, WidefieldPSF

SMOKE = os.environ.get("BAYESDECONV_SMOKE") == "1"
SIZE = 96 if SMOKE else 256
NUTS_DRAWS = 50 if SMOKE else 200
print(f"smoke mode: {SMOKE}; image {SIZE}x{SIZE}")

# %% [markdown]
# The data: scikit-image's camera photograph at `SIZE`², blurred by an anisotropic Gaussian
# (σ 2.2 and 1.3 px, the wide axis at 40°) on a 25×25 support, noise σ = 0.01.

# %%
SUPPORT = 25
TRUE = {"sigma_x": 2.2, "sigma_y": 1.3, "theta": math.radians(40)}
truth = transform.resize(data.camera() / 255.0, (SIZE, SIZE), anti_aliasing=True)
kernel = gaussian_kernel(SUPPORT, TRUE["sigma_x"], TRUE["sigma_y"], TRUE["theta"])
rng = np.random.default_rng(0)


def observe(boundary):
    shape = truth.shape if boundary == "circular" else tuple(s - SUPPORT + 1 for s in truth.shape)
    op = ConvolutionOperator(kernel, shape, boundary=boundary)
    y = op.forward(torch.as_tensor(truth)).numpy()
    return y + 0.01 * rng.standard_normal(shape)


def frame_of(boundary):
    h = SUPPORT // 2
    return truth if boundary == "circular" else truth[h:-h, h:-h]


y_circ = observe("circular")
y_valid = observe("valid")


def widths(result):
    """The wide and narrow width draws (the pair is unordered: the same kernel either way)."""
    p = result.psf_parameters
    a, b = p["psf_sigma_x"].values, p["psf_sigma_y"].values
    return np.maximum(a, b), np.minimum(a, b)


def report(name, result, boundary, seconds):
    wide, narrow = widths(result)
    lo_w, hi_w = np.quantile(wide, [0.05, 0.95])
    lo_n, hi_n = np.quantile(narrow, [0.05, 0.95])
    print(
        f"{name:28s} wide {wide.mean():.3f} [{lo_w:.3f}, {hi_w:.3f}]  "
        f"narrow {narrow.mean():.3f} [{lo_n:.3f}, {hi_n:.3f}]  "
        f"PSNR {psnr(result.mean, frame_of(boundary), data_range=1.0):.2f} dB  {seconds:.1f} s"
    )


print(f"truth: wide {TRUE['sigma_x']}, narrow {TRUE['sigma_y']}")

# %% [markdown]
# ## A fast start from the image gradients
#
# `estimate_gaussian_blur` (a Polyblur-style estimator: the contrast-normalised steepest edges
# per direction, fitted by an ellipse of directional widths) takes milliseconds. It starts
# the samplers; alone it is good to 10–20 % on photographs.

# %%
t = time.perf_counter()
start = estimate_gaussian_blur(y_circ)
print(
    f"gradient estimate: sigma_x {start.sigma_x:.2f}, sigma_y {start.sigma_y:.2f}, "
    f"theta {math.degrees(start.theta):.0f} deg ({1e3 * (time.perf_counter() - t):.0f} ms)"
)

# %% [markdown]
# ## The smooth prior: the image integrated out, NUTS on the parameters
#
# The priors here are the model's: σ ∈ U(0.5, 4), θ ∈ U(0, π).

# %%
u = dist.Uniform(torch.tensor(0.5, dtype=torch.float64), torch.tensor(4.0, dtype=torch.float64))
prior = GaussianPSF(SUPPORT, sigma_x=u, sigma_y=u)
t = time.perf_counter()
smooth = deconvolve(y_circ, psf=prior, boundary="circular", steps=NUTS_DRAWS, progress=False)
report(f"{smooth.method} (smooth, circular)", smooth, "circular", time.perf_counter() - t)
az.summary(smooth.to_arviz())

# %% [markdown]
# ## The sparse prior: variational EM with a Laplace posterior, any boundary

# %%
fits = {}
for boundary, y in (("circular", y_circ), ("valid", y_valid)):
    t = time.perf_counter()
    fits[boundary] = deconvolve(y, psf=prior, prior="sparse", boundary=boundary, progress=False)
    report(
        f"{fits[boundary].method} (sparse, {boundary})",
        fits[boundary],
        boundary,
        time.perf_counter() - t,
    )
t = time.perf_counter()
reference = deconvolve(y_valid, psf=kernel.numpy(), prior="sparse", progress=False)
print(
    f"true PSF, sparse, valid: PSNR {psnr(reference.mean, frame_of('valid'), data_range=1.0):.2f}"
    f" dB ({time.perf_counter() - t:.1f} s); input "
    f"{psnr(y_valid, frame_of('valid'), data_range=1.0):.2f} dB"
)

# %% [markdown]
# The posteriors of the two widths side by side. The evidence posterior (smooth prior) is
# honest *for its model*, but the photograph's spectrum falls faster than the smooth prior's
# at high frequencies and the evidence explains the difference as blur: it sits to the right
# of the truth. The sparse prior's estimate is much closer, and its Laplace interval, which
# treats q(x) as known, is far narrower than its actual error — read it as a local curvature,
# not as a calibrated interval (`benchmarks/bench_parametric_psf.py` measures both).

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for ax, index, name in zip(axes, (0, 1), ("wide", "narrow"), strict=True):
    for label, result in (("smooth / evidence", smooth), ("sparse / IVB", fits["circular"])):
        ax.hist(widths(result)[index], bins=40, density=True, alpha=0.6, label=label)
    ax.axvline(TRUE["sigma_x"] if index == 0 else TRUE["sigma_y"], color="k", label="truth")
    ax.set_xlabel(f"{name} σ (px)")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
panels = [
    ("observed (valid)", y_valid),
    ("sparse IVB, parametric PSF", fits["valid"].mean),
    ("true PSF, sparse", reference.mean),
    ("marginal std (mean-field)", fits["valid"].std),
]
for ax, (title, image) in zip(axes, panels, strict=True):
    limits = (0, 1) if "std" not in title else (None, None)
    shown = ax.imshow(image, cmap="gray", vmin=limits[0], vmax=limits[1])
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Other families: a defocus disk
#
# The same call with another PSF prior: a uniform disk of unknown radius.

# %%
disk = DefocusPSF(15)
disk_kernel = disk.kernel(radius=3.4)
op = ConvolutionOperator(disk_kernel, truth.shape, boundary="circular")
y_disk = op.forward(torch.as_tensor(truth)).numpy() + 0.01 * rng.standard_normal(truth.shape)
t = time.perf_counter()
disk_fit = deconvolve(y_disk, psf=disk, prior="sparse", boundary="circular", progress=False)
radius = disk_fit.psf_parameters["psf_radius"]
print(
    f"radius: truth 3.4, posterior {radius.mean:.3f} ± {radius.std:.3f} "
    f"({time.perf_counter() - t:.1f} s)"
)

# %% [markdown]
# ## 3-D: a widefield stack's numerical aperture
#
# `WidefieldPSF` is the Born & Wolf (or Gaussian) widefield fluorescence PSF; the wavelength
# and voxel size are what the user knows, NA gets a prior. A synthetic stack of beads, NA 1.2
# oil objective, circular boundary: the evidence engine (smooth prior) returns NA with an
# interval. In 3-D the defocus is not identifiable from the evidence (an axial shift only
# changes the phase of the OTF) and stays fixed.

# %%
shape = (12, 32, 32) if SMOKE else (24, 48, 48)
volume = np.zeros(shape)
for _ in range(40 if SMOKE else 100):
    volume[tuple(rng.integers(0, s) for s in shape)] = rng.uniform(0.5, 1.0)
optics = dict(wavelength=0.52, pixel_size=0.1, z_step=0.25, refractive_index=1.515)
na_prior = dist.Uniform(
    torch.tensor(0.8, dtype=torch.float64), torch.tensor(1.45, dtype=torch.float64)
)
widefield = WidefieldPSF((9, 15, 15), **optics, numerical_aperture=na_prior)
op = ConvolutionOperator(widefield.kernel(numerical_aperture=1.2), shape, boundary="circular")
stack = op.forward(torch.as_tensor(volume)).numpy() + 0.01 * rng.standard_normal(shape)
t = time.perf_counter()
stack_fit = deconvolve(stack, psf=widefield, boundary="circular", steps=NUTS_DRAWS, progress=False)
na = stack_fit.psf_parameters["psf_numerical_aperture"].values
print(
    f"NA: truth 1.2, posterior {na.mean():.3f}, 90 % interval "
    f"[{np.quantile(na, 0.05):.3f}, {np.quantile(na, 0.95):.3f}] ({time.perf_counter() - t:.1f} s)"
)

# %% [markdown]
# ## What to take away
#
# * For a photograph, use the sparse prior: its σ is within a few per cent on images with clear
#   edges; it is less reliable on fine textures (grass, gravel), where it tends to too little blur.
# * The smooth prior's evidence posterior is exact for its model and fast, but biased wide on
#   photographs; on data close to its model (smooth fields) its intervals are calibrated.
# * Neither interval is calibrated on photographs: the benchmark reports how far off.
