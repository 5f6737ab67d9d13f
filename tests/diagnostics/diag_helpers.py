"""Helpers for the diagnostics tests (a uniquely named module, importable from the tests)."""

from __future__ import annotations

import numpy as np

from bayesdeconv import Result
from bayesdeconv.infer.result import LogNormalPosterior, PointValue


def gaussian_result(
    shape: tuple[int, ...], *, seed: int = 0, psf_shape: tuple[int, ...] | None = None
) -> Result:
    """A hand-made result whose posterior is exactly N(mean, diag(std^2)) (fast, any ndim)."""
    rng = np.random.default_rng(seed)
    mean = rng.random(shape)
    std = 0.05 + 0.1 * rng.random(shape)
    psf = np.ones(psf_shape or (3,) * len(shape))
    psf /= psf.sum()
    hyper = {"noise_precision": LogNormalPosterior(2.0, 0.1), "image_precision": PointValue(4.0)}

    def draw(n, generator, region=None):
        sub = (slice(None),) * len(shape) if region is None else region
        m, s = mean[sub], std[sub]
        out = {"image": m + s * generator.standard_normal((n, *m.shape))}
        for name, q in hyper.items():
            out[name] = q.sample(n, generator)
        return out

    return Result(
        mean=mean,
        std=std,
        psf=psf,
        psf_std=np.zeros_like(psf),
        elbo=np.linspace(-100.0, -10.0, 7),
        observed=mean + 0.1 * rng.standard_normal(shape),
        method="ivb",
        hyperparameters=hyper,
        latent_mean=mean,
        latent_std=std,
        n_iter=7,
        converged=True,
        runtime=0.25,
        draw_fn=draw,
    )
