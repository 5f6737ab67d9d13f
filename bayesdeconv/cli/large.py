"""``bayesdeconv deconvolve`` on large images and batches: OME-Zarr out, tiles, a cluster.

The command switches to this mode when INPUT holds several images (a folder, a quoted glob
pattern, a TIFF with a time axis, an OME-Zarr store with a ``t`` axis), when OUTPUT is an
OME-Zarr store (``.zarr``), or when ``--tile`` is given. Results are OME-Zarr stores holding
the posterior mean (the root image) and std (``OUTPUT/std``) with the voxel size: one store
for one image, ``OUTPUT/<name>.ome.zarr`` per image of a batch. A rerun resumes: finished
images (and, for one tiled image, finished tiles) are not computed again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bayesdeconv.cli.errors import PROG, CLIError, MissingExtra, usage_error

__all__ = ["add_large_arguments", "is_large_run", "run_large", "validate_large_args"]

ZARR_SUFFIX = ".zarr"


def add_large_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``deconvolve`` options of this mode."""
    group = parser.add_argument_group(
        "large images and batches (INPUT a folder, glob, time series or OME-Zarr; "
        "OUTPUT .ome.zarr or a folder)"
    )
    group.add_argument("--tile", metavar="N", type=int,
                       help="fit tile by tile, cores of N pixels per axis (memory: a few tiles)")
    group.add_argument("--overlap", metavar="N", type=int,
                       help="pixels each tile extends beyond its core (default: 2x the PSF)")
    group.add_argument("--workers", metavar="N", type=int,
                       help="processes of the local Dask cluster (default: one per core)")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing Dask cluster (tcp://host:8786)")
    group.add_argument("--retries", metavar="N", type=int, default=1,
                       help="further attempts of a failing image (default: 1)")  # fmt: skip


def is_large_run(args: argparse.Namespace) -> bool:
    """Whether the run is for this mode (see the module docstring)."""
    from bayesdeconv.tiling.sources import is_batch_source

    return (
        args.tile is not None
        or str(args.output).lower().rstrip("/").endswith(ZARR_SUFFIX)
        or is_batch_source(args.input)
    )


def validate_large_args(prog: str, args: argparse.Namespace) -> None:
    """Options this mode cannot honour are usage errors (exit status 2)."""
    for flag, value in (("--tile", args.tile), ("--overlap", args.overlap),
                        ("--workers", args.workers)):  # fmt: skip
        if value is not None and value < 1:
            usage_error(prog, f"{flag} must be a positive integer, got {value}")
    if args.retries < 0:
        usage_error(prog, f"--retries must be 0 or more, got {args.retries}")
    if args.overlap is not None and args.tile is None:
        usage_error(prog, "--overlap is used only with --tile")
    if not is_large_run(args):
        if args.workers is not None or args.scheduler is not None:
            usage_error(prog, "--workers and --scheduler are used with batches or --tile")
        return
    if args.psf is None or args.blind or args.psf_size is not None:
        usage_error(prog, "batches and OME-Zarr output need a PSF file (--psf PSF)")
    for flag, value in (("--std-output", args.std_output), ("--psf-output", args.psf_output),
                        ("--report", args.report), ("--arviz", args.arviz),
                        ("--mask", args.mask), ("--crop-psf", args.crop_psf),
                        ("--prior-file", args.prior_file),
                        ("--any-psf", args.any_psf or None)):  # fmt: skip
        if value is not None:
            usage_error(prog, f"{flag} is not available for batches and OME-Zarr output "
                              "(the store holds the mean and the std)")  # fmt: skip


def _read_psf(path: Path, normalise: bool):
    from bayesdeconv.io import read_image
    from bayesdeconv.physics.psf import check_psf

    if not path.exists():
        raise CLIError(f"--psf {path} does not exist (batches need a PSF file)")
    array = read_image(path).array
    return check_psf(array, name=f"the PSF in {path}", normalise=normalise,
                     normalise_option="--normalise-psf")  # fmt: skip


def _options(args: argparse.Namespace) -> dict:
    options = {"prior": args.prior, "noise": args.noise, "boundary": args.boundary,
               "steps": args.steps, "seed": args.seed, "device": args.device}  # fmt: skip
    for name in ("method", "guide"):  # unset: the library's own choice
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return options


def run_large(args: argparse.Namespace) -> list[str]:
    """Run a batch, or one image into an OME-Zarr store (tiled with ``--tile``)."""
    from bayesdeconv.tiling.sources import is_batch_source

    for module in ("dask", "distributed", "zarr"):
        try:
            __import__(module)
        except ImportError:
            raise MissingExtra(
                f"batches, --tile and OME-Zarr need {module}: pip install \"bayesdeconv[dask]\""
            ) from None
    psf = _read_psf(args.psf, args.normalise_psf)
    if is_batch_source(args.input):
        return _run_batch(args, psf)
    return _run_one(args, psf)


def _run_batch(args: argparse.Namespace, psf) -> list[str]:
    from bayesdeconv.io.formats import SUPPORTED_SUFFIXES
    from bayesdeconv.tiling import deconvolve_batch

    output = Path(args.output)
    if (output.exists() and not output.is_dir()) or output.suffix.lower() in (
        ZARR_SUFFIX, *SUPPORTED_SUFFIXES
    ):
        raise CLIError(
            f"--output {output} must be a folder for a batch of {args.input} "
            "(one NAME.ome.zarr per image)"
        )
    tiling = {} if args.tile is None else {"tile": args.tile, "overlap": args.overlap}
    if args.voxel_size is not None:
        raise CLIError("--voxel-size applies to one image; a batch takes each file's own")
    report = deconvolve_batch(
        args.input, psf, output, client=args.scheduler, workers=args.workers,
        retries=args.retries, mask_saturated=not args.keep_saturated,
        progress=not args.quiet, **tiling, **_options(args),
    )  # fmt: skip
    if report.failed:
        names = sorted(report.failed)
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise CLIError(
            f"{len(names)} image(s) failed: {listed} ({names[0]}: {report.failed[names[0]]}); "
            f"{len(report.written)} written, {len(report.skipped)} already complete"
        )
    return [f"{PROG}: {report}; results in {output}"]


def _read_one(args: argparse.Namespace):
    """The image (a lazy Dask array for an OME-Zarr store), its voxel size, and the mask of
    unsaturated voxels (as for one TIFF: :func:`~bayesdeconv.cli.microscope.saturation_mask`)."""
    from bayesdeconv.cli.microscope import saturation_mask
    from bayesdeconv.io import ImageReadError, is_ome_zarr, read_image, read_ome_zarr

    path = Path(args.input)
    if is_ome_zarr(path):
        image = read_ome_zarr(path)
        if image.axes not in ("yx", "zyx"):
            raise ImageReadError(f"{path} has axes {image.axes}: one image per run here")
        return image.array.astype("float64"), image.voxel_size, None
    image = read_image(path)
    voxel = image.voxel_size if image.unit == "um" else None
    return image.array, voxel, saturation_mask(args, image, None)


def _run_one(args: argparse.Namespace, psf) -> list[str]:
    import time

    from bayesdeconv.tiling.batch import complete, item_settings, run_item
    from bayesdeconv.tiling.sources import BatchItem

    output = Path(args.output)
    if not str(output).lower().rstrip("/").endswith(ZARR_SUFFIX):
        raise CLIError(f"--output {output} must end in .zarr (OME-Zarr) with --tile")
    if output.resolve() == Path(args.input).resolve():
        raise CLIError(f"--output {output} is the INPUT; refusing to overwrite an input")
    if not output.parent.is_dir():
        raise CLIError(f"output directory {output.parent} does not exist")
    start = time.perf_counter()
    voxel = None if args.voxel_size is None else tuple(args.voxel_size)
    if args.tile is None:  # one fit, as a batch of one
        item = BatchItem(output.name, path=Path(args.input))
        settings = item_settings(item, psf, _options(args), not args.keep_saturated, voxel)
        if complete(output, settings):
            return [f"{PROG}: {output} is complete (same input and settings); nothing to do"]
        run_item(item, psf, output, _options(args), mask_saturated=not args.keep_saturated,
                 voxel_size=voxel)  # fmt: skip
        what = "one fit"
    else:
        from bayesdeconv.tiling import deconvolve_tiles
        from bayesdeconv.tiling.batch import close_client, cluster_client

        array, file_voxel, mask = _read_one(args)
        tiled = deconvolve_tiles(array, psf, tile=args.tile, overlap=args.overlap, mask=mask,
                                 progress=not args.quiet, **_options(args))  # fmt: skip
        client, owned = None, False
        if args.scheduler is not None or args.workers is not None:
            client, owned = cluster_client(args.scheduler, args.workers)
        try:
            tiled.to_ome_zarr(output, voxel_size=voxel or file_voxel, client=client,
                              overwrite=True, retries=args.retries,
                              progress=not args.quiet)  # fmt: skip
        finally:
            if owned:
                close_client(client)
        what = f"{len(tiled.layout)} tiles"
    seconds = time.perf_counter() - start
    return [f"{PROG}: {what}, {seconds:.1f} s; wrote {output} (mean, std)"]
