"""The example scripts run (in smoke mode) and do what they say."""

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
