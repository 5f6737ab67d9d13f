"""Per-step overhead of Pyro SVI versus the same mean-field ELBO step written in plain PyTorch.

The problem: a 256 x 256 image (camera, [0, 1]) blurred circularly by an anisotropic Gaussian
PSF with noise sigma 0.01, in float32; the model is
:class:`~bayesdeconv.models.deconvolution.DeconvolutionModel` with the smooth prior and Gaussian
noise, both precisions learned (Gamma hyper-priors), and the guide is the package's mean-field
guide (``make_guide(model, "mean-field")``, Pyro's ``AutoNormal``). Three step costs are timed:

* **Pyro SVI.step**: ``SVI(model, guide, ClippedAdam({"lr": 0.01}),
  Trace_ELBO(max_plate_nesting=0)).step(y)``, each step timed, median over ``--steps`` steps
  after warm-up; with Pyro's default validation and with validation off;
* **fit_svi per step**: ``fit_svi(model, y, steps=N, tol=0, progress=False)`` wall time / N
  (the engine's real cost: validation only on step 0, the loss checks, progress handling,
  guide creation and the final summary amortised over N);
* **plain PyTorch**: the same reparameterised single-sample ELBO estimator by hand (see
  :class:`PlainMeanField`) with ``torch.optim.Adam``.

Before timing, the two losses are checked to agree: exactly for the same parameters and the
same noise draws (Pyro's guide trace replayed into the model), including the gradients, and
statistically at initialisation (means of repeated evaluations within 4 standard errors).
Everything runs once with ``torch.set_num_threads(1)`` and once with torch's default thread
count (or only with ``--threads N``). Target: Pyro / plain <= 1.3.

Run ``python benchmarks/bench_svi_overhead.py [--smoke] [--threads N] [--steps N]``.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyro
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import ClippedAdam

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    blur_circular,
    load_image,
    markdown_table,
    parse_args,
    summarise,
    write_results,
)

from bayesdeconv.guides import make_guide  # noqa: E402
from bayesdeconv.infer._common import estimate_noise_std  # noqa: E402
from bayesdeconv.infer.svi import fit_svi  # noqa: E402
from bayesdeconv.likelihoods import GaussianNoise  # noqa: E402
from bayesdeconv.models import sites  # noqa: E402
from bayesdeconv.models.deconvolution import DeconvolutionModel  # noqa: E402
from bayesdeconv.physics import ConvolutionOperator, anisotropic_gaussian_psf  # noqa: E402
from bayesdeconv.priors import GammaPrior, SmoothPrior  # noqa: E402

NAME = "bench_svi_overhead"
NOISE_STD = 0.01
SEED = 7
LR = 0.01
TARGET = 1.3
NOISY = 1.5
_LOG_2PI = math.log(2 * math.pi)


def softplus_inverse(x: torch.Tensor) -> torch.Tensor:
    """The inverse of ``softplus``: :math:`x + \\log(-\\operatorname{expm1}(-x))`."""
    return x + torch.log(-torch.expm1(-x))


class PlainMeanField:
    """The mean-field ELBO of the deconvolution model in plain PyTorch.

    Unconstrained parameters (leaf tensors): ``loc`` and softplus-``scale`` of the image and of
    :math:`\\log\\alpha`, :math:`\\log\\gamma`, exactly as Pyro's ``AutoNormal`` stores them. One
    loss evaluation with standard normal draws :math:`\\varepsilon`:

    .. math::
        x = \\mu_x + s_x\\varepsilon_x, \\quad \\alpha = e^{\\mu_a + s_a\\varepsilon_a}, \\quad
        \\gamma = e^{\\mu_g + s_g\\varepsilon_g},

    .. math::
        \\text{loss} = \\log q - \\log p(y, x, \\alpha, \\gamma), \\qquad
        \\log q = \\sum \\big(-\\tfrac12\\varepsilon^2 - \\log s - \\tfrac12\\log 2\\pi\\big)
        - \\log\\alpha - \\log\\gamma,

    where the last two terms are the log-Jacobians of ``exp`` that ``AutoNormal`` adds through its
    ``Delta(log_density=...)`` sites, and :math:`\\log p` is the Gamma log-priors, the smooth
    prior (``SmoothPrior.quadratic`` and the log-determinant of ``SmoothPrior.spectrum``, as in
    ``StationaryGaussian.log_prob``) and the Normal likelihood of ``y`` given ``op.forward(x)``.
    """

    def __init__(
        self,
        model: DeconvolutionModel,
        y: torch.Tensor,
        locs: dict[str, torch.Tensor],
        scales: dict[str, torch.Tensor],
    ) -> None:
        self.op = model.operator
        self.prior = model.prior
        self.y = y
        self.ndim = model.ndim
        self.n_latent = math.prod(model.latent_shape)
        self.n_obs = model.n_observed
        spectrum = model.prior.spectrum(model.latent_shape, dtype=y.dtype, device=y.device)
        log_det = float(spectrum.double().log().sum())  # a constant: computed once, in float64
        self.prior_const = -0.5 * self.n_latent * _LOG_2PI + 0.5 * log_det
        self.gamma_consts = {}
        for name, spec in (
            (sites.IMAGE_PRECISION, model.prior.precision),
            (sites.NOISE_PRECISION, model.noise.precision),
        ):
            if not isinstance(spec, GammaPrior):
                raise ValueError("the plain version assumes learned (Gamma) precisions")
            a0, b0 = spec.shape, spec.rate
            self.gamma_consts[name] = (a0 * math.log(b0) - math.lgamma(a0), a0 - 1.0, b0)
        self.loc = {k: v.detach().clone().requires_grad_(True) for k, v in locs.items()}
        self.raw_scale = {
            k: softplus_inverse(v.detach()).clone().requires_grad_(True) for k, v in scales.items()
        }

    def parameters(self) -> list[torch.Tensor]:
        """The leaf tensors, in a fixed order (image, alpha, gamma; loc then raw scale)."""
        names = (sites.IMAGE, sites.IMAGE_PRECISION, sites.NOISE_PRECISION)
        return [self.loc[n] for n in names] + [self.raw_scale[n] for n in names]

    def draw(self) -> dict[str, torch.Tensor]:
        """Fresh standard normal draws for every site."""
        return {k: torch.randn_like(v) for k, v in self.loc.items()}

    def _gamma_log_prior(self, name: str, log_value: torch.Tensor, value: torch.Tensor):
        const, a0m1, b0 = self.gamma_consts[name]
        return const + a0m1 * log_value - b0 * value

    def loss(self, eps: dict[str, torch.Tensor]) -> torch.Tensor:
        """The negative single-sample ELBO estimate for the draws ``eps``."""
        log_q = -0.5 * _LOG_2PI * (self.n_latent + 2)
        z = {}
        for name, loc in self.loc.items():
            scale = torch.nn.functional.softplus(self.raw_scale[name])
            z[name] = loc + scale * eps[name]
            log_q = log_q + (-0.5 * eps[name] ** 2 - scale.log()).sum()
        log_alpha, log_gamma = z[sites.IMAGE_PRECISION], z[sites.NOISE_PRECISION]
        alpha, gamma = log_alpha.exp(), log_gamma.exp()
        log_q = log_q - log_alpha - log_gamma  # log|d log(v)/dv| of the exp transforms
        x = z[sites.IMAGE]
        log_p = (
            self._gamma_log_prior(sites.IMAGE_PRECISION, log_alpha, alpha)
            + self.prior_const
            + 0.5 * self.n_latent * log_alpha
            - 0.5 * alpha * self.prior.quadratic(x, self.ndim)
            + self._gamma_log_prior(sites.NOISE_PRECISION, log_gamma, gamma)
            + self.n_obs * (0.5 * log_gamma - 0.5 * _LOG_2PI)
            - 0.5 * gamma * ((self.y - self.op.forward(x)) ** 2).sum()
        )
        return log_q - log_p


def build_problem(size: int) -> tuple[DeconvolutionModel, torch.Tensor, dict, float]:
    """The model, the float32 observation, the guide's starting values and ``init_scale``.

    The starting values follow ``fit_svi``: the observation as the image, :math:`\\alpha_0 =
    N / x_0^\\top Q_0 x_0` and :math:`\\gamma_0 = 1/\\hat\\sigma^2` (Immerkær's estimate).
    """
    psf = anisotropic_gaussian_psf(15, 2.5, 1.2, 0.6)
    truth = load_image("camera", size)
    rng = np.random.default_rng(SEED)
    observed = blur_circular(truth, psf) + NOISE_STD * rng.standard_normal(truth.shape)
    op = ConvolutionOperator(psf, truth.shape, boundary="circular", dtype=torch.float32)
    model = DeconvolutionModel(op, prior=SmoothPrior(), noise=GaussianNoise())
    y = torch.as_tensor(observed, dtype=torch.float32)
    sigma = estimate_noise_std(y)
    x0 = y.clone()
    alpha0 = math.prod(model.latent_shape) / float(model.prior.quadratic(x0, model.ndim))
    init = {
        sites.IMAGE: x0,
        sites.IMAGE_PRECISION: torch.tensor(alpha0, dtype=torch.float32),
        sites.NOISE_PRECISION: torch.tensor(1.0 / sigma**2, dtype=torch.float32),
    }
    return model, y, init, min(sigma, 0.1)


def _guide_params(auto) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    names = (sites.IMAGE, sites.IMAGE_PRECISION, sites.NOISE_PRECISION)
    locs = {n: getattr(auto.locs, n).detach() for n in names}
    scales = {n: getattr(auto.scales, n).detach() for n in names}
    return locs, scales


def check_agreement(model, y, init, init_scale, n_eval: int) -> dict[str, Any]:
    """Check that Pyro's ``Trace_ELBO`` and :class:`PlainMeanField` compute the same loss.

    1. Same parameters, same draws: trace the guide, recover each site's
       :math:`\\varepsilon = (u - \\mu)/s` from its auxiliary ``*_unconstrained`` sample, replay
       the trace into the model (this is what ``Trace_ELBO`` does with one particle) and compare
       loss and gradients with the plain version.
    2. At initialisation, ``n_eval`` independent evaluations of ``Trace_ELBO().loss`` and of
       the plain loss: their means must agree within 4 standard errors.
    """
    torch.manual_seed(SEED)
    store = pyro.get_param_store()
    with store.scope():
        auto = make_guide(model, "mean-field", init_values=init, init_scale=init_scale)
        auto(y)  # creates the parameters
        plain = PlainMeanField(model, y, *_guide_params(auto))
        guide_tr = poutine.trace(auto).get_trace(y)
        model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(y)
        pyro_loss = -(model_tr.log_prob_sum() - guide_tr.log_prob_sum())
        eps = {}
        locs, scales = _guide_params(auto)
        for name in locs:
            u = guide_tr.nodes[f"{name}_unconstrained"]["value"].detach()
            eps[name] = (u - locs[name]) / scales[name]
        plain_loss = plain.loss(eps)
        # gradients with respect to the unconstrained parameters
        params = dict(store.named_parameters())
        names = (sites.IMAGE, sites.IMAGE_PRECISION, sites.NOISE_PRECISION)
        pyro_leaves = [params[f"AutoNormal.locs.{n}"] for n in names] + [
            params[f"AutoNormal.scales.{n}"] for n in names
        ]
        pyro_grads = torch.autograd.grad(pyro_loss, pyro_leaves)
        plain_grads = torch.autograd.grad(plain_loss, plain.parameters())
        grad_errors = [
            float((g1 - g2).norm() / g1.norm().clamp_min(1e-30))
            for g1, g2 in zip(pyro_grads, plain_grads, strict=True)
        ]
        pyro_value, plain_value = float(pyro_loss.detach()), float(plain_loss.detach())
        same_draw = {
            "pyro_loss": pyro_value,
            "plain_loss": plain_value,
            "abs_diff": abs(pyro_value - plain_value),
            "rel_diff": abs(pyro_value - plain_value) / abs(pyro_value),
            "max_grad_rel_error": max(grad_errors),
        }
        same_draw["ok"] = same_draw["rel_diff"] < 1e-4 and same_draw["max_grad_rel_error"] < 1e-3

        elbo = Trace_ELBO(max_plate_nesting=0)
        with torch.no_grad():
            pyro_values = [elbo.loss(model, auto, y) for _ in range(n_eval)]
            plain_values = [float(plain.loss(plain.draw())) for _ in range(n_eval)]
    m1, m2 = statistics.fmean(pyro_values), statistics.fmean(plain_values)
    se1 = statistics.stdev(pyro_values) / math.sqrt(n_eval)
    se2 = statistics.stdev(plain_values) / math.sqrt(n_eval)
    z = (m1 - m2) / math.sqrt(se1**2 + se2**2)
    statistical = {
        "n": n_eval,
        "pyro_mean": m1,
        "pyro_se": se1,
        "plain_mean": m2,
        "plain_se": se2,
        "z": z,
        "ok": abs(z) < 4.0,
    }
    return {"same_draw": same_draw, "statistical": statistical}


def _per_step(step, *, warmup: int, steps: int) -> dict[str, float | int]:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return summarise(times)


def time_pyro_step(model, y, init, init_scale, *, warmup, steps, validate: bool | None):
    """Median per-step time of ``SVI.step`` (``validate=None``: Pyro's default setting)."""
    torch.manual_seed(SEED)
    with pyro.get_param_store().scope():
        auto = make_guide(model, "mean-field", init_values=init, init_scale=init_scale)
        svi = SVI(model, auto, ClippedAdam({"lr": LR}), Trace_ELBO(max_plate_nesting=0))
        if validate is None:
            return _per_step(lambda: svi.step(y), warmup=warmup, steps=steps)
        with pyro.validation_enabled(validate):
            return _per_step(lambda: svi.step(y), warmup=warmup, steps=steps)


def time_plain_step(model, y, init, init_scale, *, warmup, steps):
    """Median per-step time of the plain PyTorch step (same start as the Pyro guide)."""
    torch.manual_seed(SEED)
    with pyro.get_param_store().scope():
        auto = make_guide(model, "mean-field", init_values=init, init_scale=init_scale)
        auto(y)
        plain = PlainMeanField(model, y, *_guide_params(auto))
    optim = torch.optim.Adam(plain.parameters(), lr=LR)

    def step() -> float:
        optim.zero_grad()
        loss = plain.loss(plain.draw())
        loss.backward()
        optim.step()
        return float(loss.detach())

    return _per_step(step, warmup=warmup, steps=steps)


def time_fit_svi(model, y, *, steps: int, repeat: int, warmup: int) -> dict[str, float | int]:
    """``fit_svi(..., steps=steps, tol=0)`` wall time divided by ``steps`` (per run)."""
    times = []
    for i in range(warmup + repeat):
        start = time.perf_counter()
        fit_svi(model, y, steps=steps, tol=0, progress=False, seed=SEED)
        if i >= warmup:
            times.append((time.perf_counter() - start) / steps)
    return summarise(times)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the result files."""

    def options(parser) -> None:
        parser.add_argument(
            "--steps", type=int, default=None, help="timed SVI steps (default 200; 5 in smoke)"
        )
        parser.add_argument("--size", type=int, default=None, help="image side (default 256)")

    args = parse_args(__doc__.splitlines()[0], argv, options)
    size = args.size or (32 if args.smoke else 256)
    steps = args.steps or (5 if args.smoke else 200)
    step_warmup = 2 if args.smoke else 20
    n_eval = 20 if args.smoke else 200
    default_threads = torch.get_num_threads()
    thread_settings = [args.threads] if args.threads else sorted({1, default_threads})

    model, y, init, init_scale = build_problem(size)
    torch.set_num_threads(thread_settings[-1])
    agreement = check_agreement(model, y, init, init_scale, n_eval)
    print(f"agreement: {agreement}", flush=True)

    runs = []
    for threads in thread_settings:
        torch.set_num_threads(threads)
        pyro_default = time_pyro_step(
            model, y, init, init_scale, warmup=step_warmup, steps=steps, validate=None
        )
        pyro_novalid = time_pyro_step(
            model, y, init, init_scale, warmup=step_warmup, steps=steps, validate=False
        )
        plain = time_plain_step(model, y, init, init_scale, warmup=step_warmup, steps=steps)
        fit = time_fit_svi(model, y, steps=steps, repeat=args.repeat, warmup=args.warmup)
        base = plain["median"]
        run = {
            "threads": threads,
            "pyro_svi_step": pyro_default,
            "pyro_svi_step_no_validation": pyro_novalid,
            "fit_svi_per_step": fit,
            "plain_pytorch_step": plain,
            "ratio_pyro_step_over_plain": pyro_default["median"] / base,
            "ratio_pyro_step_no_validation_over_plain": pyro_novalid["median"] / base,
            "ratio_fit_svi_over_plain": fit["median"] / base,
        }
        run["target_met"] = run["ratio_fit_svi_over_plain"] <= TARGET
        # a median far above the minimum means the machine stalled the threads (busy cores)
        run["noisy"] = any(
            stats["median"] > NOISY * stats["min"] for stats in (pyro_default, pyro_novalid, plain)
        )
        runs.append(run)
        print(
            f"threads={threads}: pyro {pyro_default['median'] * 1e3:.2f} ms "
            f"(no validation {pyro_novalid['median'] * 1e3:.2f}), fit_svi "
            f"{fit['median'] * 1e3:.2f} ms, plain {base * 1e3:.2f} ms per step",
            flush=True,
        )
    torch.set_num_threads(default_threads)

    summary = {
        "agreement_ok": agreement["same_draw"]["ok"] and agreement["statistical"]["ok"],
        "target": TARGET,
        "by_threads": {
            str(r["threads"]): {
                "ratio_pyro_step_over_plain": r["ratio_pyro_step_over_plain"],
                "ratio_fit_svi_over_plain": r["ratio_fit_svi_over_plain"],
                "target_met": r["target_met"],
                "noisy": r["noisy"],
            }
            for r in runs
        },
    }
    config = {
        "image_size": size,
        "dtype": "float32",
        "boundary": "circular",
        "psf": {"size": 15, "sigma_x": 2.5, "sigma_y": 1.2, "theta": 0.6},
        "noise_std": NOISE_STD,
        "guide": 'make_guide(model, "mean-field") (AutoNormal)',
        "optimiser_pyro": f'ClippedAdam({{"lr": {LR}}})',
        "optimiser_plain": f"torch.optim.Adam(lr={LR})",
        "loss": "Trace_ELBO(max_plate_nesting=0), one particle",
        "timed_steps": steps,
        "step_warmup": step_warmup,
        "fit_svi_steps": steps,
        "fit_svi_repeat": args.repeat,
        "fit_svi_warmup": args.warmup,
        "thread_settings": thread_settings,
        "default_threads": default_threads,
    }
    results = {"agreement": agreement, "runs": runs}

    def ms(stats):
        return f"{stats['median'] * 1e3:.2f} [{stats['min'] * 1e3:.2f}, {stats['max'] * 1e3:.2f}]"

    table = markdown_table(
        [
            "threads",
            "Pyro SVI.step ms",
            "SVI.step, validation off, ms",
            "fit_svi ms/step",
            "plain PyTorch ms",
            "SVI.step / plain",
            "fit_svi / plain",
            f"target <= {TARGET}",
        ],
        [
            [
                r["threads"],
                ms(r["pyro_svi_step"]),
                ms(r["pyro_svi_step_no_validation"]),
                ms(r["fit_svi_per_step"]),
                ms(r["plain_pytorch_step"]),
                r["ratio_pyro_step_over_plain"],
                r["ratio_fit_svi_over_plain"],
                ("hit" if r["target_met"] else "miss") + (" (noisy)" if r["noisy"] else ""),
            ]
            for r in runs
        ],
    )
    sd, st = agreement["same_draw"], agreement["statistical"]
    body = f"""
Problem: {size}x{size} float32 image, circular anisotropic Gaussian blur, noise sigma
{NOISE_STD}; smooth prior and Gaussian noise with learned precisions; mean-field guide
(`AutoNormal`). Per-step times in ms as median [min, max]: SVI.step over {steps} individually
timed steps after {step_warmup} warm-up steps; fit_svi as wall time / {steps} steps over
{args.repeat} run(s) after {args.warmup} warm-up run(s) (includes guide set-up and summary).

{table}

"(noisy)": a step-time median is more than {NOISY}x its minimum, i.e. the machine was busy
and the timings of that row are not trustworthy (typical with more torch threads than idle
cores).

Loss agreement (plain PyTorch versus Pyro `Trace_ELBO`):

- same parameters and draws: Pyro {sd["pyro_loss"]:.6g}, plain {sd["plain_loss"]:.6g}
  (relative difference {sd["rel_diff"]:.2g}); largest relative gradient error
  {sd["max_grad_rel_error"]:.2g}: {"ok" if sd["ok"] else "**FAILED**"}
- {st["n"]} independent evaluations at initialisation: Pyro {st["pyro_mean"]:.6g}
  ± {st["pyro_se"]:.2g}, plain {st["plain_mean"]:.6g} ± {st["plain_se"]:.2g} (z = {st["z"]:.2f}):
  {"ok" if st["ok"] else "**FAILED**"}
"""
    json_path, md_path = write_results(
        NAME,
        smoke=args.smoke,
        config=config,
        results=results,
        summary=summary,
        markdown_body=body,
        title="SVI per-step overhead: Pyro versus plain PyTorch",
    )
    print(f"wrote {json_path} and {md_path}")
    return 0 if summary["agreement_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
