"""Error reporting of the ``bayesdeconv`` command: one readable line per problem.

Bad usage and bad input end the command with exit status 2 and one line
``bayesdeconv: error: ...`` on stderr. :class:`CLIError` is raised by the command itself;
:data:`INPUT_ERRORS` are the exceptions from the library that mean bad input.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from bayesdeconv.io import ImageReadError

__all__ = ["INPUT_ERRORS", "PROG", "CLIError", "describe", "one_line", "usage_error"]

PROG = "bayesdeconv"

#: Errors that mean bad usage or bad input: reported on one line, exit status 2.
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    NotImplementedError,
    FileNotFoundError,
    ImageReadError,
    OSError,
    FloatingPointError,
)


class CLIError(Exception):
    """Bad usage or input detected by the command itself (exit status 2)."""


def one_line(text: object) -> str:
    """Collapse whitespace (newlines included) so that a message fits on one line.

    Parameters
    ----------
    text : object
        Message, converted with :class:`str`.

    Returns
    -------
    str
        The words of ``text`` separated by single spaces.
    """
    return " ".join(str(text).split())


def usage_error(prog: str, message: str) -> NoReturn:
    """Report bad usage on one line, ``bayesdeconv: error: ...``, and exit with status 2.

    Parameters
    ----------
    prog : str
        Program name shown in the hint, e.g. ``"bayesdeconv deconvolve"``.
    message : str
        What is wrong.

    Raises
    ------
    SystemExit
        Always, with code 2.
    """
    sys.stderr.write(f"{PROG}: error: {one_line(message)} (see '{prog} --help')\n")
    raise SystemExit(2)


def describe(exc: BaseException) -> str:
    """One readable line describing an input error.

    Parameters
    ----------
    exc : BaseException
        The error; an :class:`OSError` with a file name is shown as ``FILE: REASON``.

    Returns
    -------
    str
        The message on one line (the exception's type name if it has no message).
    """
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    text = one_line(exc)
    return text or type(exc).__name__
