"""Warnings and library log messages collected as one-line texts instead of being printed."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

from bayesdeconv.cli.errors import one_line

__all__ = ["LogCollector", "collect_warnings"]


class LogCollector(logging.Handler):
    """Logging handler that keeps one-line messages instead of printing them.

    Parameters
    ----------
    messages : list of str
        List the messages of level WARNING and above are appended to.
    """

    def __init__(self, messages: list[str]) -> None:
        super().__init__(level=logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        """Append the record's message, on one line."""
        with contextlib.suppress(Exception):
            self.messages.append(one_line(record.getMessage()))


@contextlib.contextmanager
def collect_warnings(messages: list[str]) -> Iterator[None]:
    """Record warnings and library log messages as one-line texts instead of printing them.

    Libraries such as tifffile report problems through :mod:`logging`; without a handler
    Python would print them to stderr, breaking the one-line error contract.

    Parameters
    ----------
    messages : list of str
        List the messages are appended to (also when the block raises).

    Yields
    ------
    None
    """
    root = logging.getLogger()
    handler = LogCollector(messages)
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                messages.extend(one_line(w.message) for w in caught)
    finally:
        root.removeHandler(handler)
