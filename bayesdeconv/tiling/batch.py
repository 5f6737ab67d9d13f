r"""Many images through ``dask.distributed``: one OME-Zarr result per image, resumable.

Each item (an image, a stack, a time point; :mod:`~bayesdeconv.tiling.sources`) is read,
deconvolved (whole, or tile by tile when ``tile`` is given) and written to
``OUTPUT/<name>.ome.zarr`` (mean, std, voxel size, settings) by a worker, all or nothing. A
rerun skips every item whose result exists with the same settings, so an interrupted batch
loses at most the items in flight; a failing item is retried, then reported, and the rest
completes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayesdeconv.io import bayesdeconv_attributes
from bayesdeconv.tiling.sources import BatchItem, array_digest, batch_items

__all__ = [
    "BatchReport",
    "close_client",
    "cluster_client",
    "complete",
    "deconvolve_batch",
    "item_settings",
    "output_path",
    "run_item",
]

SUFFIX = ".ome.zarr"


@dataclass
class BatchReport:
    """What a batch did: items written, skipped (already complete) and failed (with why)."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        text = (
            f"{len(self.written)} written, {len(self.skipped)} already complete, "
            f"{len(self.failed)} failed in {self.seconds:.1f} s"
        )
        return text


def output_path(output: Path, item: BatchItem) -> Path:
    return Path(output) / f"{item.name}{SUFFIX}"


def item_settings(
    item: BatchItem,
    psf: np.ndarray,
    options: Mapping[str, Any],
    mask_saturated: bool,
    voxel_size: tuple[float, ...] | None = None,
) -> dict:
    """What ``item``'s result depends on, as JSON: the input (file, size, modification
    time, time point; or the array's hash), the PSF, the options and the package version.
    Stored with the result and compared on a rerun."""
    from bayesdeconv import __version__

    return {"version": __version__, "input": item.fingerprint(),
            "psf_sha256": array_digest(psf, np.float64),
            "psf_shape": list(psf.shape), "mask_saturated": mask_saturated,
            "voxel_size": None if voxel_size is None else list(voxel_size),
            **{k: repr(v) for k, v in sorted(options.items())}}  # fmt: skip


def complete(path: Path, settings: dict) -> bool | None:
    """True if ``path`` holds a finished result with these settings, None if it holds one
    with others (or something else), False if there is nothing."""
    if not path.exists():
        return False
    stored = (bayesdeconv_attributes(path) or {}).get("settings")
    return True if stored == settings else None


def run_item(
    item: BatchItem,
    psf: np.ndarray,
    target: Path,
    options: Mapping[str, Any],
    *,
    tiling: Mapping[str, Any] | None = None,
    threads: int | None = None,
    mask_saturated: bool = True,
    voxel_size: tuple[float, ...] | None = None,
) -> dict:
    """Deconvolve one item and write the OME-Zarr store ``target`` (all or nothing; the
    voxel size is the file's unless ``voxel_size`` is given); returns a short summary.

    Runs on a worker. ``tiling`` (``tile``, ``overlap``, ...) asks for
    :func:`~bayesdeconv.tiling.deconvolve_tiles` (computed on the worker itself). Voxels at
    the saturation value of the file's integer type are left out of the fit (as the command
    line does for one image) unless ``mask_saturated`` is False.
    """
    import torch

    from bayesdeconv.api import deconvolve
    from bayesdeconv.io import write_ome_zarr

    if threads is not None:
        torch.set_num_threads(int(threads))
    start = time.perf_counter()
    settings = item_settings(item, psf, {**options, **(tiling or {})}, mask_saturated,
                             voxel_size)  # fmt: skip
    image = item.load()
    axes = "zyx"[-image.ndim :]
    voxel = voxel_size or (image.voxel_size if image.unit == "um" else None)
    mask = image.unsaturated if mask_saturated else None
    if tiling:
        from bayesdeconv.tiling.tiled import deconvolve_tiles

        tiled = deconvolve_tiles(image.array, psf, mask=mask, progress=False, **tiling,
                                 **options)  # fmt: skip
        mean, std = tiled.compute(scheduler="sync")
        hyper = tiled.hyperparameters
    else:
        try:
            result = deconvolve(image.array, psf, mask=mask, progress=False, **options)
        except ValueError as exc:
            raise ValueError(f"{item.name}: {exc}") from None
        mean, std = result.mean, result.std
        hyper = {k: float(v.mean) for k, v in result.hyperparameters.items()}
    write_ome_zarr(
        target, {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}, axes=axes,
        voxel_size=voxel, overwrite=True,
        attributes={"settings": settings, "hyperparameters": hyper, "source": item.name},
    )  # fmt: skip
    return {"name": item.name, "seconds": time.perf_counter() - start}


def cluster_client(client, workers: int | None, threads: int = 1):
    """``(client, owned)``: ``client`` itself, a client of the scheduler at that address, or
    (``None``) a new ``LocalCluster`` of ``workers`` processes; close an owned one with
    :func:`close_client`."""
    from distributed import Client, LocalCluster

    if client is not None:
        return (Client(client), True) if isinstance(client, str) else (client, False)
    import dask

    n = workers or max(1, (os.cpu_count() or 1) // threads)
    # Dask's workers start with MALLOC_TRIM_THRESHOLD_=65536, which makes every large
    # allocation a fresh mmap: our fits ran 3.6x slower in such a worker (22 s against 6 s
    # for a 256² fit, benchmarks/README.md). The workers keep glibc's adaptive default.
    environ = dask.config.get("distributed.nanny.pre-spawn-environ", {})
    environ = {k: v for k, v in environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
            silence_logs=40,
        )  # fmt: skip
    return Client(cluster), True


def close_client(client) -> None:
    """Close a client and the local cluster it started."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def deconvolve_batch(
    source,
    psf,
    output,
    *,
    client=None,
    workers: int | None = None,
    threads: int = 1,
    retries: int = 1,
    tile: int | tuple[int, ...] | None = None,
    overlap: int | tuple[int, ...] | None = None,
    normalise_psf: bool = False,
    mask_saturated: bool = True,
    progress: bool = True,
    **options,
) -> BatchReport:
    r"""Deconvolve many images on a ``dask.distributed`` cluster, one OME-Zarr result each.

    Parameters
    ----------
    source
        What :func:`~bayesdeconv.tiling.sources.batch_items` accepts: a folder, a glob
        pattern, a time series (TIFF or OME-Zarr), paths, arrays, or a name → array mapping.
    psf : array_like
        The known PSF, shared by every item.
    output : path
        Folder for ``<name>.ome.zarr`` results (created if needed).
    client : distributed.Client or str, optional
        A running client, or a scheduler address (``"tcp://host:8786"``); workers must see
        ``output`` and the inputs. Default: a ``LocalCluster`` of ``workers`` processes.
        ``"sync"`` runs in this process, one item after another (no cluster).
    workers : int, optional
        Processes of the local cluster (default: the cores divided by ``threads``).
    threads : int
        Torch threads per item.
    retries : int
        Further attempts of a failing item before it is reported.
    tile, overlap
        Fit every item tile by tile (:func:`~bayesdeconv.tiling.deconvolve_tiles`).
    normalise_psf, progress
        As for :func:`~bayesdeconv.deconvolve`; the progress bar counts items.
    mask_saturated : bool
        Leave out voxels at the saturation value of a file's integer type (as the command
        line does for one image; ``--keep-saturated`` turns it off).
    **options
        Passed to each item's fit (``prior``, ``noise``, ``method``, ``std``, ``steps``, ...).

    Returns
    -------
    BatchReport
        Items written, skipped as complete (same settings), and failed with the reason.
    """
    from tqdm.auto import tqdm

    from bayesdeconv.physics.psf import check_psf

    start = time.perf_counter()
    psf = check_psf(psf, normalise=normalise_psf, normalise_option="normalise_psf")
    if overlap is not None and tile is None:
        raise ValueError("overlap is used only with tile")
    items = batch_items(source)
    output = Path(output)
    for item in items:
        if item.path is not None and output_path(output, item).resolve() == item.path.resolve():
            raise ValueError(f"the result for {item.path} would overwrite it; use another output")
    tiling = None if tile is None else {"tile": tile, "overlap": overlap}
    run = {"tiling": tiling, "threads": threads, "mask_saturated": mask_saturated}
    output.mkdir(parents=True, exist_ok=True)
    report = BatchReport()
    todo = []
    for item in items:
        settings = item_settings(item, psf, {**options, **(tiling or {})}, mask_saturated)
        state = complete(output_path(output, item), settings)
        if state is True:
            report.skipped.append(item.name)
        elif state is None:
            report.failed[item.name] = (
                f"{output_path(output, item)} exists with other settings (or is not a "
                "result); remove it to recompute"
            )
        else:
            todo.append(item)
    bar = tqdm(total=len(todo), desc="images", unit="image", disable=not progress)
    try:
        if client == "sync":
            _run_here(todo, psf, output, options, run, retries, report, bar)
        elif todo:  # no cluster to start for nothing
            _run_cluster(todo, psf, output, options, run, retries, report, bar, client, workers)
    finally:
        bar.close()
    report.seconds = time.perf_counter() - start
    return report


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _run_here(todo, psf, output, options, run, retries, report, bar) -> None:
    for item in todo:
        for attempt in range(retries + 1):
            try:
                run_item(item, psf, output_path(output, item), options, **run)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 (any failure is reported, not fatal)
                if attempt == retries:
                    report.failed[item.name] = _reason(exc)
                continue
            report.written.append(item.name)
            break
        bar.update()


def _run_cluster(todo, psf, output, options, run, retries, report, bar, client, workers) -> None:
    from distributed import as_completed

    client, owned = cluster_client(client, workers, run["threads"])
    try:
        psf_future = client.scatter(psf, broadcast=True)
        futures = {
            client.submit(run_item, item, psf_future, output_path(output, item), dict(options),
                          **run,
                          retries=retries,
                          key=f"bayesdeconv-{item.name}-{uuid.uuid4().hex[:12]}",
                          pure=False): item  # fmt: skip
            for item in todo
        }
        try:
            for future in as_completed(futures):
                item = futures[future]
                if future.status == "finished":
                    report.written.append(item.name)
                else:
                    report.failed[item.name] = _reason(future.exception())
                bar.update()
        except BaseException:
            client.cancel(list(futures))
            raise
    finally:
        if owned:
            close_client(client)
