#!/usr/bin/env bash
# One short GPU check of the deep image priors (run when a CUDA device is lent): the CUDA
# tests of DIP, a timing of the published network per step, then the Levin DIP benchmark at
# the published network and schedule on the 4 CPU cases, one seed, within about 8 minutes.
# All 32 cases at the published schedule need about 3 engines x 32 x 3 min: a longer lease.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -q tests/test_cuda.py -k dip
python - <<'PY'
import time
import torch
from bayesdeconv.priors.dip import PUBLISHED_NETWORK
from bayesdeconv.priors.dip_networks import SkipGenerator
net = SkipGenerator(PUBLISHED_NETWORK, 2).cuda()
z = torch.rand(1, 8, 279, 279, device="cuda")
for i in range(12):
    if i == 2:
        torch.cuda.synchronize(); t = time.perf_counter()
    net(z).sum().backward()
torch.cuda.synchronize()
print(f"published generator, 279²: {(time.perf_counter() - t) / 10 * 1e3:.1f} ms a step", flush=True)
PY
timeout 480 python benchmarks/bench_dip.py --device cuda --preset published --seeds 1 \
    --engines selfdeblur,vdip-sparse,vdip-extreme --tag gpu || echo "bench_dip stopped (time limit)"
