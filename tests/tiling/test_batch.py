"""Batches: every item written as OME-Zarr, a corrupt item reported while the rest completes,
a rerun skipping finished items, time series split into items, a local dask cluster."""

import numpy as np
import pytest
import tifffile

from bayesdeconv import deconvolve
from bayesdeconv.io import read_ome_zarr, write_ome_zarr
from bayesdeconv.physics.psf import gaussian_psf
from bayesdeconv.tiling import batch_items, deconvolve_batch

PSF = gaussian_psf(5, 1.0)
OPTIONS = {"std": "family"}


def _images(folder, n=3, shape=(40, 48)):
    rng = np.random.default_rng(0)
    folder.mkdir()
    arrays = {}
    for i in range(n):
        arrays[f"img{i}"] = rng.random(shape) + 0.5
        np.save(folder / f"img{i}.npy", arrays[f"img{i}"])
    return arrays


def test_batch_writes_each_item_and_a_rerun_skips_them(tmp_path):
    arrays = _images(tmp_path / "in")
    out = tmp_path / "out"
    report = deconvolve_batch(tmp_path / "in", PSF, out, client="sync", progress=False, **OPTIONS)
    assert sorted(report.written) == ["img0", "img1", "img2"] and report.ok
    stored = read_ome_zarr(out / "img1.ome.zarr")
    direct = deconvolve(arrays["img1"], PSF, progress=False, **OPTIONS)
    np.testing.assert_allclose(np.asarray(stored.array), direct.mean, rtol=1e-5, atol=1e-6)
    (out / "img1.ome.zarr").rename(tmp_path / "moved")  # as if interrupted before img1
    again = deconvolve_batch(tmp_path / "in", PSF, out, client="sync", progress=False, **OPTIONS)
    assert again.written == ["img1"] and sorted(again.skipped) == ["img0", "img2"]
    other = deconvolve_batch(tmp_path / "in", PSF, out, client="sync", progress=False)
    assert len(other.failed) == 3 and "other settings" in other.failed["img0"]


def test_a_corrupt_item_is_reported_and_the_rest_completes(tmp_path):
    _images(tmp_path / "in")
    (tmp_path / "in" / "broken.npy").write_bytes(b"not an array")
    bad = np.ones((40, 48))
    bad[3, 3] = np.nan
    np.save(tmp_path / "in" / "nan.npy", bad)
    report = deconvolve_batch(tmp_path / "in", PSF, tmp_path / "out", client="sync",
                              retries=0, progress=False, **OPTIONS)  # fmt: skip
    assert sorted(report.written) == ["img0", "img1", "img2"]
    assert set(report.failed) == {"broken", "nan"}
    assert "NaN" in report.failed["nan"] and "broken.npy" in report.failed["broken"]
    assert not (tmp_path / "out" / "nan.ome.zarr").exists()
    assert "2 failed" in str(report)


def test_local_cluster_batch(tmp_path):
    from distributed import Client, LocalCluster

    arrays = _images(tmp_path / "in", n=2)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:  # fmt: skip
        report = deconvolve_batch(arrays, PSF, tmp_path / "out", client=client,
                                  progress=False, **OPTIONS)  # fmt: skip
    assert sorted(report.written) == ["img0", "img1"] and report.ok
    assert (tmp_path / "out" / "img0.ome.zarr").is_dir()


def test_time_series_become_items(tmp_path):
    rng = np.random.default_rng(1)
    series = rng.random((3, 4, 20, 24)).astype(np.float32)
    tifffile.imwrite(tmp_path / "ts.tif", series, imagej=True, metadata={"axes": "TZYX"})
    items = batch_items(tmp_path / "ts.tif")
    assert [i.name for i in items] == ["ts_t0000", "ts_t0001", "ts_t0002"]
    np.testing.assert_allclose(items[2].load().array, series[2])
    store = write_ome_zarr(tmp_path / "tz.ome.zarr", {"mean": series[:, 0]}, axes="tyx")
    zitems = batch_items(store)
    assert len(zitems) == 3 and zitems[1].name == "tz_t0001"
    np.testing.assert_allclose(zitems[1].load().array, series[1, 0])
    globbed = batch_items(str(tmp_path / "*.tif"))
    assert len(globbed) == 3


def test_bad_batches_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image"):
        deconvolve_batch(tmp_path / "empty", PSF, tmp_path / "out", client="sync")
    _images(tmp_path / "in", n=1)
    write_ome_zarr(tmp_path / "in" / "y.ome.zarr", {"mean": np.ones((30, 30))})
    with pytest.raises(ValueError, match="overwrite"):  # y's result would be y itself
        deconvolve_batch(tmp_path / "in", PSF, tmp_path / "in", client="sync")
    with pytest.raises(ValueError, match="only with tile"):
        deconvolve_batch(tmp_path / "in", PSF, tmp_path / "out", overlap=8, client="sync")
    assert not (tmp_path / "out").exists()  # nothing created before the checks


def test_results_in_the_input_folder_are_not_inputs_on_a_rerun(tmp_path):
    _images(tmp_path / "in", n=2)
    first = deconvolve_batch(tmp_path / "in", PSF, tmp_path / "in", client="sync",
                             progress=False, **OPTIONS)  # fmt: skip
    again = deconvolve_batch(tmp_path / "in", PSF, tmp_path / "in", client="sync",
                             progress=False, **OPTIONS)  # fmt: skip
    assert sorted(first.written) == sorted(again.skipped) == ["img0", "img1"]


def test_an_item_in_flight_is_redone_and_a_changed_input_is_not_skipped(tmp_path):
    from bayesdeconv.io import OmeZarrWriter

    _images(tmp_path / "in", n=2)
    out = tmp_path / "out"
    deconvolve_batch(tmp_path / "in", PSF, out, client="sync", progress=False, **OPTIONS)
    # img1 as if the batch had stopped while writing it: its partial store only
    (out / "img1.ome.zarr").rename(tmp_path / "gone")
    OmeZarrWriter.create(out / "img1.ome.zarr", (40, 48), axes="yx", resume=False)
    np.save(tmp_path / "in" / "img0.npy", np.ones((40, 48)))  # a new input under an old name
    again = deconvolve_batch(tmp_path / "in", PSF, out, client="sync", progress=False,
                             **OPTIONS)  # fmt: skip
    assert again.written == ["img1"] and not again.skipped
    assert "other settings" in again.failed["img0"]
    assert not any(p.name.endswith(".partial") for p in out.iterdir())


def test_saturated_voxels_are_left_out_unless_asked(tmp_path):
    from bayesdeconv.io import ImageData

    raw = (np.random.default_rng(2).random((40, 48)) * 30000 + 1000).astype(np.uint16)
    raw[10:20, 10:20] = 65535
    tifffile.imwrite(tmp_path / "sat.tif", raw)
    image = ImageData(raw.astype(float), saturation=65535.0)
    assert image.unsaturated.sum() == raw.size - 100
    assert ImageData(np.ones((4, 4)), saturation=65535.0).unsaturated is None
    runs = {}
    for masked in (True, False):
        out = tmp_path / f"out{masked}"
        deconvolve_batch([tmp_path / "sat.tif"], PSF, out, client="sync", progress=False,
                         mask_saturated=masked)  # the default std map shows the hole  # fmt: skip
        std = np.asarray(read_ome_zarr(out / "sat.ome.zarr" / "std").array)
        runs[masked] = std[15, 15] / np.median(std)
    assert runs[True] > 1.1 * runs[False]  # left out: more uncertain (1.23 against 1.00)
