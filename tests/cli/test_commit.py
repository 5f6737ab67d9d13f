"""Outputs are replaced all together or not at all, and failed runs leave nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bayesdeconv.cli import main, outputs

PREFIX = "bayesdeconv: error: "


def _listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) with its content."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


def _fail_replace_into(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[str, str]]:
    """Make ``os.replace`` of a staged temporary file onto ``name`` fail; log all calls."""
    real_replace = os.replace
    calls: list[tuple[str, str]] = []

    def replace(src, dst, *args, **kwargs):
        calls.append((os.fspath(src), os.fspath(dst)))
        if Path(dst).name == name and ".part" in Path(src).name:
            raise OSError(5, "Input/output error", os.fspath(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(outputs.os, "replace", replace)
    return calls


def _deconvolve_args(inputs, *extra: str) -> list[str]:
    folder = inputs.folder
    return [
        "deconvolve", str(inputs.image), "--psf", str(inputs.psf), "-q", "--steps", "20",
        "-o", str(folder / "out.tif"), "--std-output", str(folder / "std.tif"), *extra,
    ]  # fmt: skip


def test_failed_rename_restores_earlier_outputs(inputs, capsys, monkeypatch):
    """The second rename fails: the first output gets its previous content back."""
    folder = inputs.folder
    (folder / "out.tif").write_bytes(b"previous mean")
    (folder / "std.tif").write_bytes(b"previous std")
    before = _listing(folder)
    calls = _fail_replace_into(monkeypatch, "std.tif")

    code = main(_deconvolve_args(inputs))

    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.err.startswith(PREFIX) and len(captured.err.splitlines()) == 1
    assert "input/output error" in captured.err.lower()
    # out.tif was really replaced before the failure, then restored
    assert any(Path(dst).name == "out.tif" and ".part" in src for src, dst in calls)
    assert (folder / "out.tif").read_bytes() == b"previous mean"
    assert (folder / "std.tif").read_bytes() == b"previous std"
    assert _listing(folder) == before  # no temporary or backup files left


def test_failed_rename_removes_new_outputs(inputs, capsys, monkeypatch):
    """Without previous files, a failed commit leaves no output at all."""
    folder = inputs.folder
    before = _listing(folder)
    _fail_replace_into(monkeypatch, "std.tif")
    assert main(_deconvolve_args(inputs)) == 2
    capsys.readouterr()
    assert _listing(folder) == before


def test_success_replaces_outputs_once_and_removes_backups(inputs, capsys, monkeypatch):
    """Each output goes through one temporary file (no second one from the io writers)."""
    folder = inputs.folder
    (folder / "out.tif").write_bytes(b"previous mean")
    calls = _fail_replace_into(monkeypatch, "(nothing fails)")
    report = folder / "report.png"

    assert main(_deconvolve_args(inputs, "--report", str(report))) == 0
    capsys.readouterr()

    into_folder = [(Path(src).name, Path(dst).name) for src, dst in calls]
    # out.tif moved aside once, then exactly one rename onto each output
    assert sorted(dst for src, dst in into_folder if ".part" in src) == [
        "out.tif",
        "report.png",
        "std.tif",
    ]
    assert len(into_folder) == 4
    assert (folder / "out.tif").read_bytes()[:4] in (b"II*\x00", b"MM\x00*")
    assert report.read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_commit_restores_when_moving_aside_fails(tmp_path, monkeypatch):
    """A failure while moving the old targets aside puts back those already moved."""
    targets = [tmp_path / f"{name}.tif" for name in "abc"]
    staged = []
    for target in targets:
        target.write_bytes(b"old " + target.name.encode())
        temp = tmp_path / f".{target.name}.x.part.tif"
        temp.write_bytes(b"new")
        staged.append((temp, target))
    real_replace = os.replace

    def replace(src, dst):
        if Path(src).name == "c.tif":
            raise PermissionError(13, "Permission denied", os.fspath(src))
        return real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", replace)
    with pytest.raises(PermissionError):
        outputs.commit(staged)
    assert _listing(tmp_path) == {t.name: b"old " + t.name.encode() for t in targets}


@pytest.mark.parametrize("where", ["staging", "commit"])
@pytest.mark.parametrize("existing", [False, True])
def test_failed_demo_leaves_no_new_folder(tmp_path, capsys, monkeypatch, where, existing):
    """A demo whose write phase fails removes the folders it created, and only those."""
    if where == "staging":
        import bayesdeconv.diagnostics.plots as plots

        def broken_report(path, **kwargs):
            raise OSError(28, "No space left on device", str(path))

        monkeypatch.setattr(plots, "save_report", broken_report)
    else:
        _fail_replace_into(monkeypatch, "natural_std.tif")
    parent = tmp_path / "results"
    folder = parent / "demo"
    if existing:
        folder.mkdir(parents=True)
        (folder / "keep.txt").write_text("mine")

    assert main(["demo", "-q", "-o", str(folder)]) == 2

    err = capsys.readouterr().err
    assert err.startswith(PREFIX) and len(err.splitlines()) == 1
    if existing:
        assert _listing(folder) == {"keep.txt": b"mine"}
    else:
        assert not parent.exists()
        assert list(tmp_path.iterdir()) == []
