"""Tiled and batched deconvolution: seams against the untiled fit, memory, batch throughput.

1. **Seamlessness**: a 1024² image (the default std map) and a 32×512×512 stack (``std=
   "family"``: the full std map costs 11× the fit in 3-D), filament scenes, Gaussian PSF,
   Gaussian noise; the tiled fit (256-pixel tiles, default overlap, shared precisions from 4
   calibration tiles) against one fit of the whole image: RMS and maximum difference of the
   means as a fraction of the median posterior std (target: RMS ≤ 5 %), also against the whole
   image fitted at the tiles' shared precisions (the seams alone).
2. **Memory**: a 64×1024×1024 stack in an OME-Zarr store (read lazily) through
   ``deconvolve_tiles(..., tile=256, std="family").to_ome_zarr(...)``: peak RSS of the
   largest process (target ≤ 4 GB) and wall time, in-process and with 2 Dask workers.
3. **Batch**: 100 images of 256² through ``deconvolve_batch`` on a 2-worker ``LocalCluster``
   against the same work in one process (the plain loop), whole-process wall times.

Run ``python benchmarks/bench_tiling.py [--smoke]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, markdown_table, parse_args, write_results  # noqa: E402

from bayesdeconv import deconvolve  # noqa: E402
from bayesdeconv.diagnostics.phantoms import filament_scene  # noqa: E402
from bayesdeconv.physics import ConvolutionOperator  # noqa: E402
from bayesdeconv.physics.psf import gaussian_psf  # noqa: E402
from bayesdeconv.tiling import deconvolve_batch, deconvolve_tiles  # noqa: E402


def _psf(ndim: int) -> np.ndarray:
    g = gaussian_psf(9, 1.5)[4]
    psf = np.einsum("i,j->ij", g, g) if ndim == 2 else np.einsum("i,j,k->ijk", g[2:-2], g, g)
    return psf / psf.sum()


def _observed(shape, seed=0, sigma=0.01) -> tuple[np.ndarray, np.ndarray]:
    psf = _psf(len(shape))
    scene = filament_scene(shape, peak=1.0, seed=seed) + 0.1
    blurred = ConvolutionOperator(psf, shape).forward(torch.as_tensor(scene)).numpy()
    return blurred + sigma * np.random.default_rng(seed).standard_normal(shape), psf


def seamlessness(shape, tile: int, std: str = "auto") -> dict:
    y, psf = _observed(shape)
    start = time.perf_counter()
    whole = deconvolve(y, psf, progress=False, std=std)
    whole_s = time.perf_counter() - start
    start = time.perf_counter()
    tiled = deconvolve_tiles(y, psf, tile=tile, progress=False, std=std)
    mean, std_map = tiled.compute(scheduler="sync")
    tiled_s = time.perf_counter() - start
    same = deconvolve(y, psf, prior=tiled.prior, noise=tiled.noise, progress=False, std=std)
    scale = float(np.median(whole.std))
    diff, seam = np.abs(mean - whole.mean) / scale, np.abs(mean - same.mean) / scale
    return {
        "shape": list(shape), "std": std, "tile": tile, "overlap": list(tiled.layout.overlap),
        "tiles": len(tiled.layout), "median_std": scale,
        "rms_over_std": float(np.sqrt(np.mean(diff**2))), "max_over_std": float(diff.max()),
        "rms_same_precisions": float(np.sqrt(np.mean(seam**2))),
        "max_same_precisions": float(seam.max()),
        "std_ratio": float(np.median(std_map) / scale),
        "whole_s": whole_s, "tiled_s": tiled_s,
        "precisions_whole": {k: v.mean for k, v in whole.hyperparameters.items()},
        "precisions_tiled": tiled.hyperparameters,
    }  # fmt: skip


def _stack_store(folder: Path, shape, seed=0) -> Path:
    """A large stack written plane block by plane block (never whole in memory)."""
    from bayesdeconv.io import OmeZarrWriter

    rng = np.random.default_rng(seed)
    writer = OmeZarrWriter.create(folder / "stack.ome.zarr", shape, images=("data",),
                                  axes="zyx", voxel_size=(0.3, 0.1, 0.1), resume=False)  # fmt: skip
    step = 256
    for y0 in range(0, shape[1], step):
        for x0 in range(0, shape[2], step):
            block = (shape[0], min(step, shape[1] - y0), min(step, shape[2] - x0))
            scene = filament_scene(block, peak=1.0, seed=int(rng.integers(1 << 30))) + 0.1
            noisy = scene + 0.01 * rng.standard_normal(block)
            region = (slice(0, shape[0]), slice(y0, y0 + block[1]), slice(x0, x0 + block[2]))
            writer.write("data", region, noisy.astype(np.float32))
    return writer.finish()


def memory(shape, tile: int, workers: list[int]) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = _stack_store(folder, shape)
        np.save(folder / "psf.npy", _psf(3))
        for n in workers:
            out_store = str(folder / f"out{n}.ome.zarr")
            cmd = [sys.executable, "-c", _MEMORY_CHILD, str(store), out_store,
                   str(folder / "psf.npy"), str(tile), str(n)]  # fmt: skip
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
            seconds = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            peak_kb = int(proc.stdout.strip().splitlines()[-1])
            out.append({"shape": list(shape), "tile": tile, "workers": n, "seconds": seconds,
                        "peak_rss_gb": peak_kb / 1024**2})  # fmt: skip
    return out


# The job in a fresh process: peak RSS is that process's and its waited-for children's.
_MEMORY_CHILD = """
import resource, sys
import numpy as np
from bayesdeconv.io import read_ome_zarr
from bayesdeconv.tiling import deconvolve_tiles
from bayesdeconv.tiling.batch import close_client, cluster_client
store, out, psf, tile, workers = sys.argv[1:]
stack = read_ome_zarr(store)
tiled = deconvolve_tiles(stack.array, np.load(psf), tile=int(tile), std="family",
                         progress=False)
client = cluster_client(None, int(workers))[0] if int(workers) > 1 else None
tiled.to_ome_zarr(out, voxel_size=stack.voxel_size, client=client, progress=False)
if client is not None:
    close_client(client)
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(max(own, kids))
"""


def batch(count: int, size: int, workers: int) -> dict:
    rng = np.random.default_rng(3)
    psf = _psf(2)
    images = {}
    for i in range(count):
        y, _ = _observed((size, size), seed=int(rng.integers(1 << 30)))
        images[f"img{i:03d}"] = y
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        loop = deconvolve_batch(images, psf, Path(tmp) / "loop", client="sync", progress=False)
        loop_s = time.perf_counter() - start
        start = time.perf_counter()
        cluster = deconvolve_batch(images, psf, Path(tmp) / "cluster", workers=workers,
                                   progress=False)  # fmt: skip
        cluster_s = time.perf_counter() - start
    assert loop.ok and cluster.ok and len(cluster.written) == count
    return {"images": count, "size": size, "workers": workers, "loop_s": loop_s,
            "cluster_s": cluster_s, "loop_per_image_s": loop_s / count,
            "cluster_per_image_s": cluster_s / count, "speedup": loop_s / cluster_s}  # fmt: skip


def main(argv=None) -> None:
    def extra(parser):
        parser.add_argument(
            "--session",
            action="store_true",
            help="sizes that finish in ~12 min on 2 cores (stated in the results)",
        )
        parser.add_argument("--batch-only", metavar="N", type=int,
                            help="only the batch part, N images (bench_tiling_batch.md)")

    args = parse_args(__doc__.splitlines()[0], argv, extra)
    if args.batch_only:
        bat = batch(2 if args.smoke else args.batch_only, 32 if args.smoke else 256, 2)
        write_results(
            "bench_tiling_batch", smoke=args.smoke, config={"environment": environment()},
            results={"batch": bat}, summary={"batch_speedup": bat["speedup"]},
            markdown_body=markdown_table(
                ["images", "size", "workers", "loop s/image", "cluster s/image", "speed-up"],
                [[bat["images"], bat["size"], bat["workers"], bat["loop_per_image_s"],
                  bat["cluster_per_image_s"], bat["speedup"]]]),
            title="Batch throughput: LocalCluster against the plain loop",
        )  # fmt: skip
        print(bat)
        return
    if args.session and not args.smoke:
        seams = [seamlessness((1024, 1024), 256), seamlessness((32, 256, 256), 128, "family")]
        mem = memory((32, 512, 512), 256, [1, 2])
        bat = batch(40, 256, 2)
    elif args.smoke:
        seams = [seamlessness((64, 64), 32), seamlessness((6, 40, 40), 20, "family")]
        mem = memory((6, 64, 64), 32, [1])
        bat = batch(2, 32, 1)
    else:
        seams = [seamlessness((1024, 1024), 256), seamlessness((32, 512, 512), 256, "family")]
        mem = memory((64, 1024, 1024), 256, [1, 2])
        bat = batch(100, 256, 2)
    rows = [["×".join(map(str, s["shape"])), s["tiles"], "×".join(map(str, s["overlap"])),
             s["rms_over_std"], s["max_over_std"], s["rms_same_precisions"],
             s["max_same_precisions"], s["whole_s"], s["tiled_s"]] for s in seams]  # fmt: skip
    mem_rows = [["×".join(map(str, m["shape"])), m["workers"], m["peak_rss_gb"], m["seconds"]]
                for m in mem]  # fmt: skip
    body = "\n\n".join([
        "## Seamlessness (tiled vs one fit of the whole image; differences / median std)",
        markdown_table(["shape", "tiles", "overlap", "RMS", "max", "RMS, same precisions",
                        "max, same precisions", "whole s", "tiled s"], rows),
        "## Memory and time (`deconvolve_tiles(...).to_ome_zarr(...)`, std family)",
        markdown_table(["shape", "workers", "peak RSS GB", "wall s"], mem_rows),
        "## Batch",
        markdown_table(["images", "size", "workers", "loop s/image", "cluster s/image", "speed-up"],
                       [[bat["images"], bat["size"], bat["workers"], bat["loop_per_image_s"],
                         bat["cluster_per_image_s"], bat["speedup"]]]),
    ])  # fmt: skip
    summary = {
        "seams_rms_over_std": [s["rms_over_std"] for s in seams],
        "seam_target_met": all(s["rms_over_std"] <= 0.05 for s in seams),
        "peak_rss_gb": [m["peak_rss_gb"] for m in mem],
        "memory_target_met": all(m["peak_rss_gb"] <= 4 for m in mem),
        "batch_speedup": bat["speedup"],
    }
    write_results(
        "bench_tiling", smoke=args.smoke,
        config={"environment": environment(), "sizes": "session" if args.session else "full",
                "std_seams": "auto (default) in 2-D, family in 3-D",
                "std_memory": "family", "noise": "gaussian σ = 0.01",
                "psf": "Gaussian σ 1.5 px (9 px; 5 planes in z)",
                "peak_rss": "max over the process and its waited-for children (ru_maxrss)"},
        results={"seams": seams, "memory": mem, "batch": bat}, summary=summary,
        markdown_body=body, title="Tiled and batched deconvolution",
    )  # fmt: skip
    print(summary)


if __name__ == "__main__":
    main()
