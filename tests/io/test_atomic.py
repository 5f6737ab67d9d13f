"""Tests for :mod:`bayesdeconv.io.atomic`: failed writes leave nothing, direct writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from bayesdeconv import io as bio
from bayesdeconv.io import read_image, write_image, write_npy, write_tiff

# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


def _fail_tiff_write(*args, **kwargs):
    Path(args[0]).write_bytes(b"partial")  # simulate a half-written file
    raise RuntimeError("disk full")


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tifffile, "imwrite", _fail_tiff_write)
    with pytest.raises(RuntimeError, match="disk full"):
        write_tiff(tmp_path / "out.tif", np.ones((3, 3)))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write_tiff(tmp_path / "out.tif", np.full((3, 3), 5.0))
    before = path.read_bytes()
    monkeypatch.setattr(tifffile, "imwrite", _fail_tiff_write)
    with pytest.raises(RuntimeError):
        write_tiff(path, np.zeros((3, 3)))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


@pytest.mark.parametrize("name", ["out.npy", "out.png"])
def test_failed_npy_png_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
):
    def boom(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(np, "save", boom)
    monkeypatch.setattr(Image.Image, "save", boom)
    existing = tmp_path / "keep.npy"
    existing.write_bytes(b"old")
    with pytest.raises(OSError, match="no space"):
        write_image(tmp_path / name, np.ones((3, 3)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npy"]


def test_atomic_write_helper(tmp_path: Path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    seen: list[str] = []

    def writer(name: str) -> None:
        seen.append(name)
        assert Path(name).parent == tmp_path
        assert Path(name).suffix == ".txt"
        Path(name).write_text("new")

    bio.atomic_write(target, writer)
    assert target.read_text() == "new"
    assert not Path(seen[0]).exists()
    with pytest.raises(FileExistsError):
        bio.atomic_write(target, writer, overwrite=False)


def test_direct_writes_skip_the_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "direct.tif"
    seen: list[str] = []
    real_imwrite = tifffile.imwrite

    def imwrite(name, *args, **kwargs):
        seen.append(str(name))
        return real_imwrite(name, *args, **kwargs)

    monkeypatch.setattr(tifffile, "imwrite", imwrite)
    with bio.direct_writes():
        write_tiff(target, np.ones((3, 3)))
        with pytest.raises(FileExistsError):
            write_tiff(target, np.ones((3, 3)), overwrite=False)
    assert seen == [str(target)]
    np.testing.assert_array_equal(read_image(target).array, np.ones((3, 3)))
    # outside the context, writes are atomic again (through a temporary sibling)
    write_tiff(target, np.zeros((3, 3)))
    assert seen[1] != str(target) and Path(seen[1]).parent == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct.tif"]


def test_written_file_has_normal_permissions(tmp_path: Path):
    path = write_npy(tmp_path / "perm.npy", np.zeros((2, 2)))
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
