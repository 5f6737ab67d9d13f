"""OME-Zarr: reading (`io.ome_zarr`), the layout, resumable writing (`io.ome_zarr_writer`)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
da = pytest.importorskip("dask.array")

from bayesdeconv.io import (  # noqa: E402
    ImageReadError,
    OmeZarrWriter,
    is_ome_zarr,
    read_image,
    read_ome_zarr,
    write_ome_zarr,
)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def _axes(names: str, units: dict[str, str] | None = None) -> list[dict]:
    kinds = {"t": "time", "c": "channel"}
    out = []
    for n in names:
        entry = {"name": n, "type": kinds.get(n, "space")}
        if units and n in units:
            entry["unit"] = units[n]
        out.append(entry)
    return out


def _hand_store(
    path: Path,
    data: np.ndarray,
    axes: str,
    *,
    units: dict[str, str] | None = None,
    scale: list[float] | None = None,
    fmt: int = 2,
    level: str = "0",
) -> Path:
    """An NGFF store written with plain zarr, as another program would."""
    root = zarr.open_group(store=str(path), mode="w", zarr_format=fmt)
    root.create_array(level, data=data, chunks=data.shape)
    dataset: dict = {"path": level}
    if scale is not None:
        dataset["coordinateTransformations"] = [{"type": "scale", "scale": scale}]
    ms = {"version": "0.4" if fmt == 2 else "0.5", "axes": _axes(axes, units)}
    ms["datasets"] = [dataset, {"path": "missing-level-1"}]
    if fmt == 2:
        root.attrs.update({"multiscales": [ms]})
    else:
        del ms["version"]
        root.attrs.update({"ome": {"version": "0.5", "multiscales": [ms]}})
    return path


# --------------------------------------------------------------------------------------------
# round trips and layout
# --------------------------------------------------------------------------------------------


def test_round_trip_2d(tmp_path: Path, rng: np.random.Generator):
    data = rng.random((20, 30)).astype(np.float32)
    out = write_ome_zarr(tmp_path / "a.ome.zarr", {"mean": data}, voxel_size=(0.1, 0.2))
    assert out == tmp_path / "a.ome.zarr" and is_ome_zarr(out)
    img = read_ome_zarr(out)
    assert img.axes == "yx" and img.spatial_ndim == 2 and img.shape == (20, 30)
    assert isinstance(img.array, da.Array)
    np.testing.assert_array_equal(img.array.compute(), data)
    assert img.voxel_size == pytest.approx((0.1, 0.2)) and img.unit == "um"
    assert img.attributes == {"images": ["mean"]} and img.name == "mean"


def test_round_trip_3d_mean_std_layout(tmp_path: Path, rng: np.random.Generator):
    mean = rng.random((5, 12, 14))
    std = rng.random((5, 12, 14))
    attributes = {"settings": {"method": "exact", "iters": 3}, "sigma": 0.25}
    path = write_ome_zarr(
        tmp_path / "r.ome.zarr", {"mean": mean, "std": std}, voxel_size=(0.3, 0.1, 0.1),
        attributes=attributes,
    )  # fmt: skip
    zattrs = json.loads((path / ".zattrs").read_text())
    assert json.loads((path / ".zgroup").read_text())["zarr_format"] == 2
    (ms,) = zattrs["multiscales"]
    assert ms["version"] == "0.4" and ms["name"] == "mean"
    assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    assert all(a["type"] == "space" and a["unit"] == "micrometer" for a in ms["axes"])
    (dataset,) = ms["datasets"]
    assert dataset["path"] == "0"
    assert dataset["coordinateTransformations"] == [{"type": "scale", "scale": [0.3, 0.1, 0.1]}]
    assert zattrs["bayesdeconv"] == {"images": ["mean", "std"], **attributes}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.ome.zarr"]  # no leftovers
    assert not any(p.name.startswith(".bayesdeconv") for p in path.iterdir())

    root = read_ome_zarr(path)
    np.testing.assert_array_equal(root.array.compute(), mean)
    assert root.axes == "zyx" and root.voxel_size == pytest.approx((0.3, 0.1, 0.1))
    assert root.attributes["sigma"] == 0.25
    assert is_ome_zarr(path / "std")
    sub = read_ome_zarr(path / "std")
    np.testing.assert_array_equal(sub.array.compute(), std)
    assert sub.axes == "zyx" and sub.unit == "um" and sub.name == "std"


def test_no_voxel_size_round_trip(tmp_path: Path):
    path = write_ome_zarr(tmp_path / "n.zarr", {"mean": np.ones((2, 3, 4), np.uint16)})
    img = read_ome_zarr(path)
    assert img.voxel_size is None and img.unit is None
    assert img.array.dtype == np.uint16


def test_nanometre_store_converted(tmp_path: Path):
    data = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    units = {"z": "nanometer", "y": "nanometer", "x": "millimeter"}
    path = _hand_store(tmp_path / "nm.zarr", data, "zyx", units=units, scale=[200, 65, 0.001])
    img = read_ome_zarr(path)
    assert img.voxel_size == pytest.approx((0.2, 0.065, 1.0)) and img.unit == "um"
    np.testing.assert_array_equal(img.array.compute(), data)


def test_unitless_scale_and_unknown_unit(tmp_path: Path):
    data = np.ones((3, 4))
    plain = read_ome_zarr(_hand_store(tmp_path / "a.zarr", data, "yx", scale=[2.0, 0.5]))
    assert plain.voxel_size == (2.0, 0.5) and plain.unit is None
    path = _hand_store(tmp_path / "b.zarr", data, "yx", units={"y": "parsec"}, scale=[1, 1])
    with pytest.warns(UserWarning, match="ignoring the voxel size"):
        assert read_ome_zarr(path).voxel_size is None
    assert read_ome_zarr(_hand_store(tmp_path / "c.zarr", data, "yx")).voxel_size is None


def test_ngff_05_zarr_v3(tmp_path: Path):
    data = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    units = dict.fromkeys("zyx", "micrometer")
    path = _hand_store(tmp_path / "v3.zarr", data, "zyx", units=units, scale=[1, 0.5, 0.5], fmt=3)
    assert is_ome_zarr(path)
    img = read_ome_zarr(path)
    assert img.axes == "zyx" and img.voxel_size == (1.0, 0.5, 0.5)
    np.testing.assert_array_equal(img.array.compute(), data)


def test_time_axis_and_singleton_channel(tmp_path: Path):
    data = np.arange(2 * 1 * 3 * 4 * 5, dtype=np.float32).reshape(2, 1, 3, 4, 5)
    units = dict.fromkeys("zyx", "micrometer")
    path = _hand_store(tmp_path / "t.zarr", data, "tczyx", units=units, scale=[1, 1, 2, 1, 1])
    img = read_ome_zarr(path)
    assert img.axes == "tzyx" and img.shape == (2, 3, 4, 5) and img.spatial_ndim == 3
    assert img.voxel_size == (2.0, 1.0, 1.0)
    np.testing.assert_array_equal(img.array.compute(), data[:, 0])
    with pytest.raises(ImageReadError, match="several images.*batch mode") as exc:
        read_image(path)
    assert str(path) in _one_line(exc)


def test_dask_input_equals_numpy(tmp_path: Path, rng: np.random.Generator):
    data = rng.random((6, 40, 50))
    lazy = da.from_array(data, chunks=(4, 15, 17))  # not aligned with the store's chunks
    a = write_ome_zarr(tmp_path / "np.zarr", {"mean": data, "std": data * 2})
    b = write_ome_zarr(tmp_path / "da.zarr", {"mean": lazy, "std": lazy * 2})
    for name in ("", "std"):
        np.testing.assert_array_equal(
            read_ome_zarr(a / name).array.compute(), read_ome_zarr(b / name).array.compute()
        )


def test_read_image_on_ome_zarr(tmp_path: Path, rng: np.random.Generator):
    data = rng.integers(0, 255, (1, 6, 7)).astype(np.uint8)
    path = write_ome_zarr(tmp_path / "img.ome.zarr", {"mean": data}, voxel_size=(0.5, 0.1, 0.2))
    img = read_image(path)
    assert img.array.dtype == np.float64 and img.array.shape == (6, 7)
    np.testing.assert_array_equal(img.array, data[0])
    assert img.voxel_size == pytest.approx((0.1, 0.2)) and img.unit == "um"
    assert img.saturation == 255.0
    with pytest.raises(ImageReadError, match="expected a 3-D image"):
        read_image(path, ndim=3)
    plain = tmp_path / "plain.zarr"
    zarr.open_group(store=str(plain), mode="w", zarr_format=2)
    with pytest.raises(ImageReadError, match="without OME-NGFF multiscales"):
        read_image(plain)


# --------------------------------------------------------------------------------------------
# read errors
# --------------------------------------------------------------------------------------------


def test_read_errors(tmp_path: Path):
    cases: dict[str, tuple[Path, str]] = {}
    cases["missing"] = (tmp_path / "nope.zarr", "not found")
    folder = tmp_path / "folder"
    folder.mkdir()
    cases["folder"] = (folder, "not a zarr group")
    afile = tmp_path / "file.zarr"
    afile.write_text("x")
    cases["file"] = (afile, "not a zarr group")
    plain = tmp_path / "plain.zarr"
    zarr.open_group(store=str(plain), mode="w", zarr_format=2)
    cases["no multiscales"] = (plain, "without OME-NGFF multiscales")
    data = np.ones((3, 4))
    cases["level"] = (_hand_store(tmp_path / "l.zarr", data, "yx"), "level array '0' missing")
    shutil.rmtree(tmp_path / "l.zarr" / "0")
    cases["axes"] = (_hand_store(tmp_path / "ax.zarr", data, "xy"), "unsupported axes 'xy'")
    cases["count"] = (_hand_store(tmp_path / "n.zarr", data, "zyx"), "unsupported axes 'zyx'")
    three = np.ones((3, 4, 5))
    cases["channels"] = (_hand_store(tmp_path / "c.zarr", three, "cyx"), "one channel per run")
    empty = np.ones((0, 4))
    cases["empty"] = (_hand_store(tmp_path / "e.zarr", empty, "yx"), "no pixels")
    text = np.array([["a", "b"], ["c", "d"]])
    cases["dtype"] = (_hand_store(tmp_path / "s.zarr", text, "yx"), "non-numeric")
    for case, (path, message) in cases.items():
        with pytest.raises(ImageReadError, match=message) as exc:
            read_ome_zarr(path)
        assert str(path) in _one_line(exc), case
        assert is_ome_zarr(path) == (case not in ("missing", "folder", "file", "no multiscales"))


def test_is_ome_zarr_never_raises(tmp_path: Path):
    bad = tmp_path / "bad.zarr"
    bad.mkdir()
    (bad / ".zgroup").write_text("{not json")
    assert not is_ome_zarr(bad)
    assert not is_ome_zarr(tmp_path / "missing")
    assert not is_ome_zarr(tmp_path)


# --------------------------------------------------------------------------------------------
# the resumable writer
# --------------------------------------------------------------------------------------------

SHAPE = (4, 8, 8)
SETTINGS = dict(axes="zyx", voxel_size=(0.2, 0.1, 0.1), chunks=(4, 4, 4))


def _blocks() -> list[tuple[str, tuple[slice, ...]]]:
    return [
        (f"0-{i}-{j}", (slice(None), slice(4 * i, 4 * i + 4), slice(4 * j, 4 * j + 4)))
        for i in range(2)
        for j in range(2)
    ]


def test_writer_resume(tmp_path: Path):
    path = tmp_path / "out.ome.zarr"
    attrs = {"sigma": 0.5, "shape": (1, 2)}
    full = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    writer = OmeZarrWriter.create(path, SHAPE, attributes=attrs, **SETTINGS)
    assert not writer.resumed and writer.partial_path == tmp_path / ".out.ome.zarr.partial"
    for key, region in _blocks()[:2]:
        writer.write("mean", region, full[region])
        writer.write("std", region, -full[region])
        writer.mark_done(key)
    assert writer.done_keys() == {"0-0-0", "0-0-1"} and writer.is_done("0-0-1")
    assert not path.exists()
    del writer  # the job dies

    writer = OmeZarrWriter.create(path, SHAPE, attributes=attrs, **SETTINGS)
    assert writer.resumed and writer.done_keys() == {"0-0-0", "0-0-1"}
    assert not writer.is_done("0-1-0")
    for key, region in _blocks():
        if not writer.is_done(key):
            writer = pickle.loads(pickle.dumps(writer))  # as sent to a worker
            writer.write("mean", region, full[region])
            writer.write("std", region, -full[region])
            writer.mark_done(key)
    assert not path.exists()
    assert writer.finish() == path
    assert not writer.partial_path.exists()
    np.testing.assert_array_equal(read_ome_zarr(path).array.compute(), full)
    np.testing.assert_array_equal(read_ome_zarr(path / "std").array.compute(), -full)
    assert read_ome_zarr(path).attributes == {"images": ["mean", "std"], "sigma": 0.5,
                                              "shape": [1, 2]}  # fmt: skip
    with pytest.raises(RuntimeError, match="already finished"):
        writer.write("mean", _blocks()[0][1], full[:, :4, :4])


def test_writer_mismatch_starts_fresh(tmp_path: Path):
    path = tmp_path / "out.zarr"
    region = _blocks()[0][1]
    writer = OmeZarrWriter.create(path, SHAPE, attributes={"sigma": 0.5}, **SETTINGS)
    writer.write("mean", region, np.ones((4, 4, 4)))
    writer.mark_done("0-0-0")
    fresh = OmeZarrWriter.create(path, SHAPE, attributes={"sigma": 0.6}, **SETTINGS)
    assert not fresh.resumed and fresh.done_keys() == set()
    fresh.finish()
    assert np.isnan(read_ome_zarr(path).array.compute()).all()  # unwritten: NaN
    writer = OmeZarrWriter.create(tmp_path / "b.zarr", SHAPE, **SETTINGS)
    writer.mark_done("k")
    other = OmeZarrWriter.create(tmp_path / "b.zarr", SHAPE, **{**SETTINGS, "chunks": (2,) * 3})
    assert not other.resumed and other.done_keys() == set()
    assert not OmeZarrWriter.create(tmp_path / "b.zarr", SHAPE, resume=False, **SETTINGS).resumed
    other.abort()
    assert not other.partial_path.exists() and not (tmp_path / "b.zarr").exists()


def test_writer_exists_and_overwrite(tmp_path: Path):
    path = write_ome_zarr(tmp_path / "o.zarr", {"mean": np.zeros((3, 4))})
    with pytest.raises(FileExistsError):
        OmeZarrWriter.create(path, (3, 4), axes="yx")
    with pytest.raises(FileExistsError):
        write_ome_zarr(path, {"mean": np.ones((3, 4))})
    assert (read_ome_zarr(path).array.compute() == 0).all()
    writer = OmeZarrWriter.create(path, (3, 4), axes="yx", images=("mean",), overwrite=True)
    writer.write("mean", (slice(None), slice(None)), np.full((3, 4), 7.0))
    assert (read_ome_zarr(path).array.compute() == 0).all()  # old store until finish
    writer.finish()
    assert (read_ome_zarr(path).array.compute() == 7).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.zarr"]
    write_ome_zarr(path, {"mean": np.full((3, 4), 2.0)}, overwrite=True)
    assert (read_ome_zarr(path).array.compute() == 2).all()


def test_failed_one_shot_leaves_nothing(tmp_path: Path):
    def explode(block):
        raise RuntimeError("boom")

    lazy = da.ones((4, 4), chunks=2).map_blocks(explode, dtype=float)
    with pytest.raises(RuntimeError, match="boom"):
        write_ome_zarr(tmp_path / "x.zarr", {"mean": lazy})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"voxel_size": (1.0, 1.0)}, "voxel_size must be 3"),
        ({"voxel_size": (1.0, -1.0, 1.0)}, "positive finite"),
        ({"voxel_size": (1.0, float("nan"), 1.0)}, "positive finite"),
        ({"images": ("mean", "std dev")}, "simple identifiers"),
        ({"images": ("mean", "mean")}, "distinct"),
        ({"axes": "yx"}, "axes must be"),
        ({"axes": "xyz"}, "axes must be"),
        ({"chunks": (1, 2)}, "chunks must be"),
        ({"dtype": "U4"}, "real numeric"),
        ({"attributes": {"f": object()}}, "JSON-serialisable"),
        ({"attributes": {"images": 1}}, "'images' key"),
    ],
)
def test_writer_validation(tmp_path: Path, kwargs: dict, message: str):
    settings = {"axes": "zyx", **kwargs}
    with pytest.raises(ValueError, match=message) as exc:
        OmeZarrWriter.create(tmp_path / "v.zarr", SHAPE, **settings)
    _one_line(exc)
    assert list(tmp_path.iterdir()) == []


def test_write_ome_zarr_validation(tmp_path: Path):
    with pytest.raises(ValueError, match="same shape"):
        write_ome_zarr(tmp_path / "a.zarr", {"mean": np.ones((2, 3)), "std": np.ones((3, 2))})
    with pytest.raises(ValueError, match="give axes"):
        write_ome_zarr(tmp_path / "a.zarr", {"mean": np.ones((2, 3, 4, 5))})
    with pytest.raises(ValueError, match="at least one"):
        write_ome_zarr(tmp_path / "a.zarr", {})
    path = write_ome_zarr(tmp_path / "t.zarr", {"mean": np.ones((2, 3, 4, 5))}, axes="tzyx")
    assert read_ome_zarr(path).axes == "tzyx"
    writer = OmeZarrWriter.create(tmp_path / "k.zarr", (2, 3), axes="yx")
    with pytest.raises(ValueError, match="done keys"):
        writer.mark_done("../x")
    with pytest.raises(ValueError, match="unknown image"):
        writer.write("var", (slice(None), slice(None)), np.ones((2, 3)))


def test_default_chunks(tmp_path: Path):
    writer = OmeZarrWriter.create(tmp_path / "c.zarr", (100, 300, 20), axes="zyx")
    assert writer.chunks == (64, 256, 20)
    writer.abort()
