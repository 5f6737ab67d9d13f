"""The example scripts run (in smoke mode) and do what they say."""

import math
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_runs_and_every_engine_improves_on_the_observation():
    env = {**os.environ, "BAYESDECONV_SMOKE": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    ).stdout
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    observed = float(lines["observed"].split("PSNR")[1].split("dB")[0])
    for method in ("ivb", "svi", "map"):
        score = float(lines[method.rjust(4)].split("PSNR")[1].split("dB")[0])
        assert score > observed + 1.0, (method, score, observed)
    assert "posterior" in out and "observed_data" in out


def _run_smoke(script: str) -> dict[str, str]:
    """Run ``examples/<script>`` in smoke mode; its ``label: text`` lines by stripped label."""
    env = {**os.environ, "BAYESDECONV_SMOKE": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    ).stdout
    pairs = (line.split(":", 1) for line in out.splitlines() if ":" in line)
    return {label.strip(): text for label, text in pairs}


def _psnr(text: str) -> float:
    return float(text.split("PSNR")[1].split("dB")[0])


def test_custom_prior_is_fitted_by_the_tracing_engines_and_refused_by_ivb():
    lines = _run_smoke("custom_prior.py")
    observed = _psnr(lines["observed"])
    for method in ("svi", "map", "vadam"):
        assert _psnr(lines[method]) > observed + 1.0, (method, lines[method], observed)
    assert "refused" in lines["ivb"] and "method='ivb' cannot fit this model" in lines["ivb"]


def test_custom_gsm_prior_runs_with_ivb_gibbs_and_svi():
    lines = _run_smoke("custom_gsm_prior.py")
    observed = _psnr(lines["observed"])
    for method in ("ivb", "gibbs", "svi"):
        assert _psnr(lines[method]) > observed + 1.0, (method, lines[method], observed)


def test_custom_model_example_recovers_the_scene_and_the_shared_psf():
    """examples/custom_model.py: fit_svi on a Pyro model of one's own (a blurred and a noisy
    exposure of one scene, one unknown PSF) beats both exposures and finds the PSF's shift."""
    lines = _run_smoke("custom_model.py")

    observed = max(_psnr(lines["long exposure (blurred)"]), _psnr(lines["short exposure (noisy)"]))
    assert _psnr(lines["posterior mean"]) > observed + 2.0
    error, start = lines["PSF L1 error"].split("(start")
    assert float(error) < 0.85 * float(start.rstrip(")"))
    estimate, truth = lines["PSF centroid"].split(", true")
    offset = [float(v) for v in estimate.strip(" ()").split(",")]
    true_offset = [float(v) for v in truth.strip(" ()").split(",")]
    # the flat start has its centroid at the centre: the estimate moved most of the way
    assert math.dist(offset, true_offset) < 0.5 * math.hypot(*true_offset)


def test_lower_level_example_fits_one_model_three_ways():
    lines = _run_smoke("lower_level.py")
    observed = _psnr(lines["observed"])
    for method in ("ivb", "exact", "svi"):
        assert _psnr(lines[method]) > observed + 1.0, (method, lines[method], observed)
    assert float(lines["max |ivb - exact|"]) < 1e-3  # the exact posterior at IVB's precisions


def test_large_images_example_tiles_a_stack_and_runs_a_batch():
    lines = _run_smoke("large_images.py")
    observed, restored = (float(part.split()[-1]) for part in lines["RMS error"].split(","))
    assert restored < observed
    assert "3 written" in lines["batch"] and "plane2.ome.zarr" in lines["batch outputs"]
    assert "grid=(1, 2, 2)" in lines["tiles"]
