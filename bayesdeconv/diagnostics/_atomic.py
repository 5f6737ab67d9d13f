"""Atomic file writes: write a temporary file next to the target, then rename it over."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a fresh temporary path in ``path``'s directory, then rename.

    The temporary file is created with the usual permissions (``0o666`` less the umask) so the
    final file gets them too. :func:`os.replace` is atomic on POSIX and Windows when source and
    target are on the same file system, which holds for a sibling file, so readers see either
    the old file or the complete new one. On any failure the temporary file is removed and
    the exception re-raised; an existing ``path`` is then left untouched.

    Parameters
    ----------
    path : str or os.PathLike
        Final location; its directory must exist.
    write : callable
        Writes the complete file to the path it is given.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"directory {str(parent)!r} does not exist")
    tmp = parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
