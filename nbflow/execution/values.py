"""Values an op may not return: live resources that cannot be stored or passed on.

Outputs are stored and handed to the steps that follow (possibly in another process), so
an open file, a socket, a generator or a lock cannot be an output: storing a file would
read all of it (``/dev/zero`` never ends), and the others cannot be copied at all.
"""

from __future__ import annotations

import io
import types
from typing import Any

from nbflow.errors import NbflowError

_SCAN_ITEMS = 1000  # how many items of a list or dict are looked at (a cheap check, not a walk)


class UnstorableOutputError(NbflowError, TypeError):
    """An op returned a value that cannot be stored as an output (see the message)."""


_live: list[tuple[tuple[type, ...], str, str]] = []


def _live_types() -> list[tuple[tuple[type, ...], str, str]]:
    if not _live:
        import socket
        import threading

        _live.extend([
            ((io.IOBase,), "an open file", "its contents (f.read()) or its path"),
            ((socket.socket,), "a socket", "the data received from it"),
            ((types.GeneratorType, types.AsyncGeneratorType, types.CoroutineType), "a generator",
             "a list of its items (list(...)), or yield DynamicOutputs to fan out"),
            ((type(threading.Lock()), type(threading.RLock()), threading.Condition, threading.Semaphore,
              threading.Event), "a lock", "the data it guards"),
        ])
    return _live


def _what_to_return(value: Any) -> tuple[str, str] | None:
    """``(what it is, what to return instead)`` for a live resource; None for other values."""
    if isinstance(value, (io.BytesIO, io.StringIO)):
        return None  # in memory: stored like its contents
    if type(value).__name__ == "_TemporaryFileWrapper":  # tempfile's wrapper around a file
        return "an open file", "its contents (f.read()) or its path"
    for kinds, what, instead in _live_types():
        if isinstance(value, kinds):
            return what, instead
    return None


def check_storable(op_name: str, output_name: str, value: Any, depth: int = 2) -> None:
    """Raise :class:`UnstorableOutputError` if ``value`` (or an item of a list, tuple or dict
    it holds, two levels down) is an open file, a socket, a generator or a lock."""
    found = _find_live(value, depth)
    if found is not None:
        what, instead = found
        raise UnstorableOutputError(
            f"op '{op_name}' returned {what} as output '{output_name}'. Outputs are stored and passed "
            f"to the steps that follow, so they must be data: return {instead} instead."
        )


def unstorable_reason(value: Any, depth: int = 2) -> str | None:
    """What is wrong with ``value`` as an output, in words; None for data."""
    found = _find_live(value, depth)
    return None if found is None else f"{found[0]}; return {found[1]} instead"


# Values of these types hold nothing live: callers on a hot path may skip check_storable.
PLAIN_TYPES = frozenset({int, float, str, bool, type(None), bytes, complex})


def _find_live(value: Any, depth: int) -> tuple[str, str] | None:
    if type(value) in PLAIN_TYPES:  # the common case, checked first: one set lookup per output
        return None
    found = _what_to_return(value)
    if found is not None:
        return f"{found[0]} ({value!r:.80})", found[1]
    if depth <= 0:
        return None
    if type(value) in (list, tuple, set, frozenset):
        items: Any = value
    elif type(value) is dict:
        items = value.values()
    else:
        return None
    for i, item in enumerate(items):
        if i >= _SCAN_ITEMS:
            break
        inner = _find_live(item, depth - 1)
        if inner is not None:
            return f"a {type(value).__name__} holding {inner[0]}", inner[1]
    return None
