"""The Polyblur-style Gaussian-blur estimate: accuracy on images of known blur, conventions,
errors.

Tolerances: on a synthetic dead-leaves image (random discs, edges of every orientation) and on
the camera photograph the estimate is within 20 % for the wider sigma, 35 % for the narrower
one (sigma near 1 is overestimated by up to ~25 % on these sharp synthetic edges) and 15 % for
their geometric mean, and the angle of a clearly anisotropic blur (ratio >= 2) within 8 degrees.
scripts/calibrate_blur_estimate.py reports the held-out accuracy (module docstring).
"""

import math

import numpy as np
import pytest
import torch

from bayesdeconv.infer.blur_estimate import GaussianBlurEstimate, estimate_gaussian_blur
from bayesdeconv.physics.psf import anisotropic_gaussian_psf

N = 256


def dead_leaves(n: int = N, seed: int = 0, count: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, n))
    for _ in range(count):
        r = 0.3 * n * rng.uniform(0.02, 1.0) ** 2 + 2.0
        cy, cx = rng.uniform(-r, n + r, 2)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 2, n)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 2, n)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        x[y0:y1, x0:x1][(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.random()
    return x


def blur(x, sx, sy, theta, mode="circular", noise=0.005, seed=1):
    r = int(math.ceil(4 * max(sx, sy)))
    xp = np.pad(x, r, mode="reflect") if mode == "reflect" else x
    k = np.zeros(xp.shape)
    k[: 2 * r + 1, : 2 * r + 1] = anisotropic_gaussian_psf(2 * r + 1, sx, sy, theta)
    k = np.roll(k, (-r, -r), axis=(0, 1))
    y = np.fft.irfft2(np.fft.rfft2(xp) * np.fft.rfft2(k), s=xp.shape)
    y = y[r:-r, r:-r] if mode == "reflect" else y
    return y + noise * np.random.default_rng(seed).standard_normal(y.shape)


def angle_error(a, b):
    return math.degrees(abs((a - b + math.pi / 2) % math.pi - math.pi / 2))


@pytest.fixture(scope="module")
def leaves():
    return dead_leaves()


def test_isotropic_blur(leaves):
    e = estimate_gaussian_blur(blur(leaves, 2.0, 2.0, 0.0))
    assert isinstance(e, GaussianBlurEstimate)
    assert e.sigma == pytest.approx(2.0, rel=0.15)
    assert e.sigma_x >= e.sigma_y and e.sigma_x / e.sigma_y < 1.35  # theta is then irrelevant
    assert e.sigma == pytest.approx(math.sqrt(e.sigma_x * e.sigma_y))
    assert 0.0 <= e.theta < math.pi
    assert e.angles.shape == e.profile.shape and e.angles.size >= 3


@pytest.mark.parametrize("mode", ["circular", "reflect"])
@pytest.mark.parametrize("noise", [0.005, 0.02])
def test_anisotropic_blur(leaves, mode, noise):
    e = estimate_gaussian_blur(blur(leaves, 3.0, 1.2, 0.6, mode, noise))
    assert e.sigma_x == pytest.approx(3.0, rel=0.2)
    assert e.sigma_y == pytest.approx(1.2, rel=0.35)
    assert e.sigma == pytest.approx(math.sqrt(3.0 * 1.2), rel=0.15)
    assert angle_error(e.theta, 0.6) < 8.0


def test_swapped_axes_give_sigma_x_the_wider(leaves):
    """(sx, sy, theta) and (sy, sx, theta + pi/2) are one blur: sigma_x >= sigma_y comes back."""
    e = estimate_gaussian_blur(blur(leaves, 1.2, 2.5, 2.0))
    assert e.sigma_x == pytest.approx(2.5, rel=0.2) and e.sigma_y == pytest.approx(1.2, rel=0.35)
    assert angle_error(e.theta, 2.0 + math.pi / 2) < 8.0


def test_photograph_and_torch_input():
    data = pytest.importorskip("skimage.data")
    x = data.camera().astype(float).reshape(256, 2, 256, 2).mean(axis=(1, 3)) / 255.0
    y = blur(x, 2.5, 1.2, 1.0, noise=0.02)
    e = estimate_gaussian_blur(y)
    assert e.sigma_x == pytest.approx(2.5, rel=0.2) and e.sigma_y == pytest.approx(1.2, rel=0.35)
    assert angle_error(e.theta, 1.0) < 8.0
    t = estimate_gaussian_blur(torch.tensor(y, dtype=torch.float32))
    assert t.sigma_x == pytest.approx(e.sigma_x, rel=1e-3)
    assert t.theta == pytest.approx(e.theta, abs=1e-3)
    # the estimate does not depend on the intensity scale
    s = estimate_gaussian_blur(5.0 * y + 3.0)
    assert s.sigma_x == pytest.approx(e.sigma_x, rel=1e-6)


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((4, 64, 64)), "2-D"),
        (np.zeros(64), "2-D"),
        (np.zeros((16, 64)), "at least"),
        (np.full((64, 64), 0.3), "constant"),
        (np.where(np.eye(64) > 0, np.nan, 1.0), "NaN or Inf"),
        (np.where(np.eye(64) > 0, np.inf, 1.0), "NaN or Inf"),
        (np.random.default_rng(0).standard_normal((96, 96)), "no edges"),
    ],
)
def test_bad_images(image, match):
    with pytest.raises(ValueError, match=match):
        estimate_gaussian_blur(image)


@pytest.mark.parametrize(
    ("options", "match"),
    [({"n_angles": 2}, "n_angles"), ({"n_edges": 0}, "n_edges"), ({"scale": 0.0}, "scale"),
     ({"border": 60}, "border")],
)  # fmt: skip
def test_bad_options(leaves, options, match):
    with pytest.raises(ValueError, match=match):
        estimate_gaussian_blur(leaves[:128, :128], **options)


def test_heavy_noise_falls_back_to_stronger_smoothing(leaves):
    """At 20 % noise no edge is clear of the noise at scale 1; a stronger smoothing answers."""
    e = estimate_gaussian_blur(blur(leaves, 2.5, 1.2, 0.6, noise=0.2))
    assert math.isfinite(e.sigma_x) and e.sigma_x >= e.sigma_y >= 0.25
