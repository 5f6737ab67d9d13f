"""Output files of the ``bayesdeconv`` command: checks, staging and an all-or-nothing commit.

Outputs are written only after everything has been computed: each goes to a temporary file
in its target directory, and the temporary files are renamed over the targets at the very end.
Existing targets are moved aside first and put back if any rename fails, so a run replaces
either all of its outputs or none. An output may never be one of the input files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bayesdeconv.cli.errors import CLIError
from bayesdeconv.io import direct_writes, file_mode_for

__all__ = [
    "TIFF_SUFFIXES",
    "Output",
    "backup_name",
    "check_outputs",
    "commit",
    "missing_folders",
    "remove_quietly",
    "same_file",
    "write_all",
]

TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass
class Output:
    """One file to write: its destination and a function writing it to a given path."""

    path: Path
    write: Callable[[Path], object]


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (after resolving links, or as the same inode).

    Parameters
    ----------
    a, b : Path
        Paths to compare; they need not exist.

    Returns
    -------
    bool
        True if both resolve to the same path or are the same existing file.
    """
    if a.resolve() == b.resolve():
        return True
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return False


def check_outputs(
    outputs: dict[str, Path], inputs: dict[str, Path], suffixes: dict[str, tuple[str, ...]]
) -> None:
    """Refuse outputs that overwrite an input, collide, lack a folder or have a wrong suffix.

    Parameters
    ----------
    outputs : dict of str to Path
        Output paths by option name (for messages).
    inputs : dict of str to Path
        Input paths by option name.
    suffixes : dict of str to tuple of str
        Allowed suffixes (lower case) by output option name.

    Raises
    ------
    CLIError
        On the first problem found.
    """
    seen: dict[str, Path] = {}
    for option, path in outputs.items():
        allowed = suffixes[option]
        if path.suffix.lower() not in allowed:
            raise CLIError(f"{option} {path} must end in {' or '.join(allowed)}")
        for in_option, in_path in inputs.items():
            if same_file(path, in_path):
                raise CLIError(
                    f"{option} {path} is the {in_option} file; refusing to overwrite an input"
                )
        for other_option, other in seen.items():
            if same_file(path, other):
                raise CLIError(f"{option} and {other_option} are the same file {path}")
        seen[option] = path
        if path.is_dir():
            raise CLIError(f"{option} {path} is a directory")
        folder = path.parent
        if not folder.is_dir():
            raise CLIError(f"output directory {folder} does not exist (for {option} {path})")


def remove_quietly(paths: Iterable[Path]) -> None:
    """Delete files, ignoring those that cannot be deleted (or are already gone).

    Parameters
    ----------
    paths : iterable of Path
        Files to delete.
    """
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def backup_name(target: Path) -> Path:
    """A fresh hidden name next to ``target`` for moving the existing file aside.

    Parameters
    ----------
    target : Path
        File about to be replaced.

    Returns
    -------
    Path
        ``.NAME.bak-HEX`` in the folder of ``target``.
    """
    return target.with_name(f".{target.name}.bak-{uuid.uuid4().hex}")


def commit(staged: Sequence[tuple[Path, Path]]) -> None:
    """Rename every ``(temp, target)`` pair into place, all or nothing.

    Existing targets are first moved aside to backup names in their own folders; then the
    temporary files are renamed over the targets. If any rename fails, the new files already
    placed are removed and the backups are renamed back, so every target is as before; on
    success the backups are deleted. A backup that cannot be restored is left in place
    rather than deleted, so no previous data are lost.

    Parameters
    ----------
    staged : sequence of (Path, Path)
        Temporary files and their targets.

    Raises
    ------
    BaseException
        Whatever stopped a rename, after the rollback.
    """
    backups: list[tuple[Path, Path]] = []  # (target, backup)
    placed: list[Path] = []
    try:
        for _, target in staged:
            if os.path.lexists(target):
                backup = backup_name(target)
                os.replace(target, backup)
                backups.append((target, backup))
        for temp, target in staged:
            os.replace(temp, target)
            placed.append(target)
    except BaseException:
        remove_quietly(placed)
        for target, backup in reversed(backups):
            with contextlib.suppress(OSError):
                os.replace(backup, target)
        remove_quietly(temp for temp, _ in staged)
        raise
    remove_quietly(backup for _, backup in backups)


def write_all(outputs: Sequence[Output]) -> None:
    """Write every output to a temporary file next to it, then rename all of them.

    If any write fails, every temporary file is removed and no destination is touched. The
    renames are all or nothing as far as the file system allows (see :func:`commit`).

    Parameters
    ----------
    outputs : sequence of Output
        Files to write.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        with direct_writes():  # the writers write straight to our temporary files
            for output in outputs:
                target = output.path
                handle, name = tempfile.mkstemp(
                    dir=target.parent, prefix=f".{target.name}.", suffix=f".part{target.suffix}"
                )
                os.close(handle)
                temp = Path(name)
                staged.append((temp, target))
                output.write(temp)
                os.chmod(temp, file_mode_for(target))
    except BaseException:
        remove_quietly(temp for temp, _ in staged)
        raise
    commit(staged)


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its ancestors that do not exist yet, deepest first.

    Parameters
    ----------
    folder : Path
        Folder about to be created.

    Returns
    -------
    list of Path
        Absolute paths of the folders that creating ``folder`` would make.
    """
    missing: list[Path] = []
    current = folder.absolute()
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    return missing
