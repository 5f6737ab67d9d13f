"""Error reporting of the ``bayesdeconv`` command: one readable line per problem.

Bad usage and bad input end the command with exit status 2 and one line
``bayesdeconv: error: ...`` on stderr. :class:`CLIError` is raised by the command itself;
:data:`INPUT_ERRORS` are the exceptions from the library that mean bad input.

The library speaks Python (``psf_covariance='diagonal'``, ``normalise_psf=True``); before an
API error is printed, :func:`translate` rewrites such argument names into the command's own
options (``--psf-covariance diagonal``, ``--normalise-psf``), using the parser's actions
(:func:`flags_of`) so that the messages follow the options when these change.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from bayesdeconv.io import ImageReadError

__all__ = [
    "INPUT_ERRORS",
    "MissingExtra",
    "PROG",
    "CLIError",
    "Flag",
    "describe",
    "error_line",
    "flags_of",
    "one_line",
    "translate",
    "usage_error",
]

PROG = "bayesdeconv"

class MissingExtra(ImportError):
    """An optional dependency the run needs is not installed (the message says what to
    install)."""


#: Errors that mean bad usage or bad input: reported on one line, exit status 2.
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    MissingExtra,
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


# --------------------------------------------------------------------------------------------
# Python argument names -> command-line options
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """How the command spells one library argument.

    Attributes
    ----------
    option : str
        The option string, e.g. ``"--psf-size"``.
    takes_value : bool
        False for a switch such as ``--normalise-psf`` (``store_true``).
    """

    option: str
    takes_value: bool


def flags_of(parser: argparse.ArgumentParser) -> dict[str, Flag]:
    """The option of every argparse ``dest`` of a parser and its sub-commands.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser (see :func:`bayesdeconv.cli.parser.build_parser`).

    Returns
    -------
    dict of str to Flag
        Options by ``dest`` (the first sub-command defining a ``dest`` wins); the long option
        string is preferred. Positional arguments, ``--help`` and ``--version`` are left out.
    """
    flags: dict[str, Flag] = {}
    pending = [parser]
    while pending:
        current = pending.pop(0)
        for action in current._actions:  # argparse keeps its actions in this attribute only
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(dict.fromkeys(action.choices.values()))
                continue
            if not action.option_strings or action.dest in ("help", "version"):
                continue
            long = [o for o in action.option_strings if o.startswith("--")]
            option = (long or action.option_strings)[0]
            flags.setdefault(action.dest, Flag(option, action.nargs != 0))
    return flags


#: A quoted Python string, as ``repr`` writes it.
_QUOTED = r"'[^']*'|" + r'"[^"]*"'
#: A value after ``name=``: quoted, or a bare word or number.
_VALUE = rf"{_QUOTED}|[\w+-]+(?:\.\d+)?"
#: Further quoted alternatives after a value: ``method='ivb' or 'gibbs'``.
_MORE = rf"(?:\s*(?:,|or|and|\(or)\s*(?:{_QUOTED}))*"
#: Not part of a longer word, an option (``--psf-size``) or a path (``/x/psf_size.tif``).
_BEFORE = r"(?<![\w./\\-])"
_AFTER = r"(?![\w-]|\.\w)"
#: Verbs after which a one-word argument name opening a clause is the argument, not a word.
_SUBJECT_VERBS = ("must", "applies", "is only", "needs", "has")


def _unquote(value: str) -> str:
    """A quoted Python value as a shell word: ``'diagonal'`` -> ``diagonal``."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
        return value if value and " " not in value else shlex.quote(value)
    return value


def _opens_clause(text: str, start: int, end: int, *, verbs: bool = True) -> bool:
    """Whether ``text[start:end]`` opens a clause (and, with ``verbs``, a verb follows)."""
    before = text[:start].rstrip()
    if before and not before.endswith((";", ":")):
        return False
    after = text[end:]
    return not verbs or any(re.match(rf" {verb}\b", after) for verb in _SUBJECT_VERBS)


def _blind_phrases(text: str, flags: Mapping[str, Flag]) -> str:
    """``blind deconvolution (psf=None)`` -> ``--blind``, in the phrasings the API uses."""
    blind = flags.get("blind")
    if blind is None:
        return text
    text = re.sub(r"\bfor blind deconvolution \(psf=None\)", f"with {blind.option}", text)
    text = re.sub(r"\bblind deconvolution \(psf=None\)", blind.option, text)
    return text.replace("(psf=None)", f"({blind.option})")


def translate(message: str, flags: Mapping[str, Flag]) -> str:
    """Rewrite the library's argument names in an error message as the command's options.

    ``name='value'`` and ``name="value"`` become ``--flag value`` (further quoted
    alternatives, ``'a' or 'b'``, lose their quotes too), ``name=True`` of a switch becomes
    ``--flag``, ``name=None`` and ``name=False`` become ``no --flag``, other ``name=value``
    become ``--flag value``. A bare name becomes ``--flag`` if it has an underscore
    (``psf_size``), or if it is a one-word name opening a clause before a verb such as
    ``must`` (``steps must be ...``), so that ordinary words (``the mask marks ...``) stay;
    such a name followed by a quoted value (``device 'cuda' was requested``) becomes
    ``--flag value``.
    ``blind deconvolution (psf=None)`` becomes ``--blind``. Names inside paths and options
    are left alone, and so is all other text.

    Parameters
    ----------
    message : str
        The library's message.
    flags : mapping of str to Flag
        Options by argparse ``dest``, from :func:`flags_of`.

    Returns
    -------
    str
        The message in the command's spelling.

    Examples
    --------
    >>> flags = {"psf_covariance": Flag("--psf-covariance", True)}
    >>> translate("Vadam needs psf_covariance='diagonal'", flags)
    'Vadam needs --psf-covariance diagonal'
    """
    text = _blind_phrases(message, flags)
    if not flags:
        return text
    names = "|".join(re.escape(name) for name in sorted(flags, key=len, reverse=True))
    pattern = re.compile(
        rf"{_BEFORE}(?P<name>{names})"
        rf"(?:=(?P<value>{_VALUE})(?P<more>{_MORE})| (?P<spaced>{_QUOTED}))?{_AFTER}"
    )

    def replace(match: re.Match[str]) -> str:
        name, value = match["name"], match["value"]
        flag = flags[name]
        if match["spaced"] is not None:  # ``device 'cuda' was requested``
            if not _opens_clause(match.string, match.start(), match.start(), verbs=False):
                return match[0]
            return f"{flag.option} {_unquote(match['spaced'])}"
        if value is None:
            bare = "_" in name or _opens_clause(match.string, match.start(), match.end())
            return flag.option if bare else match[0]
        more = re.sub(_QUOTED, lambda m: _unquote(m[0]), match["more"])
        if value in ("None", "False"):
            return f"no {flag.option}{more}"
        if value == "True" and not flag.takes_value:
            return f"{flag.option}{more}"
        return f"{flag.option} {_unquote(value)}{more}"

    return pattern.sub(replace, text)


def error_line(exc: BaseException, flags: Mapping[str, Flag]) -> str:
    """The one line printed for an input error, in the command's spelling.

    Parameters
    ----------
    exc : BaseException
        The error.
    flags : mapping of str to Flag
        Options by argparse ``dest``, from :func:`flags_of`.

    Returns
    -------
    str
        :func:`describe` of the error; library errors (not :class:`CLIError`, file-system
        or image-reading errors) go through :func:`translate`.
    """
    text = describe(exc)
    if isinstance(exc, CLIError | OSError | ImageReadError):
        return text
    return translate(text, flags)
