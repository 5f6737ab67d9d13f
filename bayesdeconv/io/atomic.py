"""All-or-nothing file writes: one temporary file in the target directory, then a rename.

:func:`atomic_write` is the one write mechanism of :mod:`bayesdeconv.io`; every writer goes
through it. :func:`direct_writes` turns the temporary file off for callers that stage their
outputs themselves, and :func:`file_mode_for` gives the permissions of the new file.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from bayesdeconv.io.formats import PathLike

__all__ = ["atomic_write", "direct_writes", "file_mode_for"]

# Set by direct_writes(): atomic_write then writes straight to its target.
_DIRECT_WRITES: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "bayesdeconv_io_direct_writes", default=False
)


@contextlib.contextmanager
def direct_writes() -> Iterator[None]:
    """Make :func:`atomic_write` (and every writer built on it) write straight to its target.

    For callers that already write into temporary files of their own and rename them into
    place themselves, such as the command line: without this each output would go through a
    second temporary file. The setting applies to the current thread (or task) only and is
    restored on exit.

    Examples
    --------
    >>> with direct_writes():  # doctest: +SKIP
    ...     write_tiff(my_temp_file, image)
    """
    token = _DIRECT_WRITES.set(True)
    try:
        yield
    finally:
        _DIRECT_WRITES.reset(token)


def atomic_write(path: PathLike, writer: Callable[[str], None], *, overwrite: bool = True) -> Path:
    """Run ``writer(tmp_name)`` on a temporary file, then rename it to `path`.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination. Its directory must exist.
    writer : callable
        Called with the name of an empty temporary file in the same directory as `path`;
        it must write the complete output to that name.
    overwrite : bool, default True
        If False and `path` exists, raise :class:`FileExistsError` before writing.

    Returns
    -------
    pathlib.Path
        The destination path.

    Raises
    ------
    FileExistsError
        If `overwrite` is False and `path` already exists.

    Notes
    -----
    The temporary file is removed if `writer` or the rename fails, so the destination is
    either the complete new file or left untouched. The new file gets the permissions of the
    file it replaces, or the default permissions (from the umask) for a new file.

    Inside :func:`direct_writes`, `writer` is called on `path` itself, with no temporary
    file and no change of permissions.
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(f"file exists and overwrite=False: {target}")
    if _DIRECT_WRITES.get():
        writer(str(target))
        return target
    directory = target.parent if str(target.parent) else Path(".")
    suffix = target.suffix or ".tmp"
    with tempfile.NamedTemporaryFile(
        delete=False, dir=directory, prefix=f".{target.name}.", suffix=suffix
    ) as handle:
        tmp_name = handle.name
    try:
        writer(tmp_name)
        os.chmod(tmp_name, file_mode_for(target))
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return target


def file_mode_for(target: Path) -> int:
    """Permission bits for the new file: those of the old file, else ``0o666 & ~umask``."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask
