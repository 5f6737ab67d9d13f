"""Smoke tests for the benchmark scripts: each runs with ``--smoke`` and writes its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("skimage")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TOP_KEYS = {"benchmark", "smoke", "environment", "config", "results", "summary"}
ENV_KEYS = {"date", "cpu_model", "cpu_count", "torch", "pyro", "skimage", "torch_threads"}

CASES = {
    "bench_ivb_vs_wiener": {
        "mean_psnr_ivb",
        "mean_psnr_wiener",
        "mean_ratio_wiener_over_ivb",
        "psnr_target_met",
        "speed_target_met",
    },
    "bench_svi_overhead": {"agreement_ok", "target", "by_threads"},
    "bench_ivb_fft_bound": {"circular", "valid"},
    "bench_vadam_step": {"ratio_vadam_over_svi"},
    "bench_blur_estimators": {"median_rel_err", "polyblur_available"},
    "bench_parametric_psf": {
        "median_rel_err",
        "coverage_90",
        "ivb_gap_to_true_psf_db",
        "widefield_na",
    },
    "bench_fluorescence": {
        "cases",
        "quality_target_met",
        "time_target_met",
        "model_coverage_90",
        "redlionfish_available",
    },
    "bench_tiling": {
        "seams_rms_over_std",
        "seam_target_met",
        "peak_rss_gb",
        "memory_target_met",
        "batch_speedup",
    },
    "bench_learned_wiener": {
        "gain_2d_db",
        "gain_3d_db",
        "gain_target_met_2d",
        "gain_target_met_3d",
        "gap_target_met_2d",
        "gap_target_met_3d",
        "time_ratio",
        "time_target_met",
    },
    "bench_vae": {
        "low-noise_divblurring_psnr",
        "low-noise_best_classic_psnr",
        "low-noise_target_met",
        "low-noise_coverage_90",
        "time_vae_seconds",
        "train_seconds_per_model",
    },
    "bench_extreme_search": {"without", "with", "selected", "rescued", "rescued_by_selection"},
    "bench_dip": {"engines", "vdip_at_least_ivb", "vdip_spread_below_selfdeblur"},
    "bench_camera_shake": {"engines", "never_worse_than_blurred"},
    "bench_uncertainty": {
        "hole_over_observed",
        "std_over_fit_time",
        "prior_coverage_90",
        "photo_coverage_90",
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_smoke(name: str, tmp_path: Path) -> None:
    script = BENCHMARKS / f"{name}.py"
    smoke_results = tmp_path / "smoke"
    output = smoke_results / f"{name}.json"
    # write to a temporary folder so that running the tests leaves the repository untouched
    env = {**os.environ, "BAYESDECONV_SMOKE": "1", "BAYESDECONV_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert output.exists()
    assert (smoke_results / f"{name}.md").exists()
    payload = json.loads(output.read_text(encoding="utf-8"))
    assert TOP_KEYS <= set(payload)
    assert payload["benchmark"] == name
    assert payload["smoke"] is True
    assert ENV_KEYS <= set(payload["environment"])
    assert CASES[name] <= set(payload["summary"])
    assert payload["results"]


@pytest.mark.slow
def test_bench_levin_auto_size_smoke(tmp_path: Path) -> None:
    """``bench_levin --auto-size`` on its smoke crop: the support is estimated and recorded."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import levin

        levin.find_root()
    except FileNotFoundError:
        pytest.skip("Levin 2009 data not available")
    finally:
        sys.path.remove(str(BENCHMARKS))
    env = {**os.environ, "BAYESDECONV_SMOKE": "1", "BAYESDECONV_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_levin.py"), "--smoke", "--threads", "1"]
        + ["--auto-size", "--engines", "l0-search,ivb-full", "--tag", "auto"],
        capture_output=True,
        text=True,
        timeout=300,  # about 30 s on an idle core
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    payload = json.loads((tmp_path / "smoke" / "bench_levin_auto.json").read_text("utf-8"))
    assert payload["config"]["auto_size"] is True
    rows = payload["results"]
    assert [r["engine"] for r in rows] == ["l0-search", "ivb-full"]
    assert all(r["psf_size"] % 2 == 1 and r["psf_size_true"] == 17 for r in rows)
    assert rows[0]["psf_size"] == rows[1]["psf_size"]  # one estimate shared by the engines
    assert {"error_ratio_gmean", "success_rate"} <= set(payload["summary"]["ivb-full"])


@pytest.mark.slow
def test_bench_dip_resume_runs_only_missing(tmp_path: Path) -> None:
    """``bench_dip --resume`` keeps the runs already written (on the support estimated now)
    and reruns only the missing ones."""
    env = {**os.environ, "BAYESDECONV_SMOKE": "1", "BAYESDECONV_BENCH_RESULTS": str(tmp_path)}
    command = [sys.executable, str(BENCHMARKS / "bench_dip.py"), "--smoke", "--threads", "1"]
    command += ["--engines", "ivb,vdip-sparse", "--seeds", "1"]
    path = tmp_path / "smoke" / "bench_dip.json"
    first = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    payload = json.loads(path.read_text("utf-8"))
    rows = [r for r in payload["results"] if not r["engine"].endswith("@best")]
    assert sorted(r["engine"] for r in rows) == ["ivb", "vdip-sparse"]
    kept = next(r for r in rows if r["engine"] == "ivb")
    kept["psnr"] = -123.0  # a marker: a rerun of this task would overwrite it
    stale = next(r for r in rows if r["engine"] == "vdip-sparse")
    size = stale["psf_size"]
    stale["psf_size"] = size + 2  # a run on another support than the one estimated now
    payload["results"] = [kept, stale]
    path.write_text(json.dumps(payload), "utf-8")
    second = subprocess.run(command + ["--resume"], capture_output=True, text=True,
                            timeout=300, env=env)  # fmt: skip
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert "ivb seed 0" not in second.stdout and "vdip-sparse seed 0" in second.stdout
    rows = json.loads(path.read_text("utf-8"))["results"]
    assert sorted(r["engine"] for r in rows) == ["ivb", "vdip-sparse", "vdip-sparse@best"]
    assert next(r for r in rows if r["engine"] == "ivb")["psnr"] == -123.0
    assert next(r for r in rows if r["engine"] == "vdip-sparse")["psf_size"] == size
    other = subprocess.run(command + ["--resume", "--true-size"], capture_output=True,
                           text=True, timeout=60, env=env)  # fmt: skip
    assert other.returncode != 0 and "other ['true_size']" in other.stderr
