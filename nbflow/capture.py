"""Per-step capture of ``print`` and ``logging`` output.

While a run executes, ``sys.stdout``/``sys.stderr`` are wrapped by a tee that still
writes to the real stream (the notebook shows it as usual) and also appends to
the buffer of the step running on the current thread. A root ``logging`` handler
does the same for log records. Setting the current buffer is one attribute write,
so capture costs nothing for steps that print nothing.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, TextIO, TypeAlias

# The current step's buffer is a context variable, not a thread-local: each thread starts
# with its own (empty) context, and each asyncio task gets its own copy, so async steps
# sharing one event-loop thread keep their output apart.
#: ``(time, kind, level, text)``: a chunk of stdout/stderr as written, or one logging record
LogChunk: TypeAlias = tuple[float, str, str, str]

_buffer: contextvars.ContextVar[list[LogChunk] | None] = contextvars.ContextVar("nbflow_capture_buffer", default=None)
_local = threading.local()
_install_lock = threading.Lock()
_installed = 0
_saved: dict[str, Any] = {}


def current_buffer() -> list[LogChunk] | None:
    return _buffer.get()


def set_buffer(buf: list[LogChunk] | None) -> list[LogChunk] | None:
    """Make ``buf`` the capture buffer of the current thread (or asyncio task); return the previous one."""
    prev = _buffer.get()
    _buffer.set(buf)
    return prev


def set_quiet(quiet: bool) -> None:
    """Keep this thread's output out of the real streams (it is still captured)."""
    _local.quiet = quiet


class _HeldBack:
    """Steps' output kept out of the real streams (a notebook's run view shows it in the
    step logs instead of thousands of lines under the cell), and how many lines that was."""

    def __init__(self) -> None:
        self.active = False
        self.lines = 0
        self.lock = threading.Lock()


_held_back = _HeldBack()


def hold_back_steps_output() -> None:
    """From now until :func:`release_steps_output` (or the end of the run), what steps
    print goes to their logs only."""
    with _held_back.lock:
        _held_back.active, _held_back.lines = True, 0


def release_steps_output() -> int:
    """Steps print to the real streams again; return how many lines were held back."""
    with _held_back.lock:
        _held_back.active = False
        return _held_back.lines


class _Tee:
    def __init__(self, real: TextIO, stream: str) -> None:
        self._real, self._stream = real, stream

    def write(self, text: str) -> int:
        buf = _buffer.get()
        if buf is not None and text:
            buf.append((time.time(), self._stream, "INFO", text))
        if getattr(_local, "quiet", False):
            return len(text)
        if buf is not None and _held_back.active:
            with _held_back.lock:
                _held_back.lines += text.count("\n")
            return len(text)
        return self._real.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _CaptureHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buf = _buffer.get()
        if buf is None:
            return
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not fail the step
            message = str(record.msg)
        if record.exc_info and record.exc_info[0] is not None:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        buf.append((record.created, "log", record.levelname, f"{record.name}: {message}"))


_handler = _CaptureHandler(level=logging.NOTSET)


def install() -> None:
    """Start capturing (reference-counted: nested runs are fine)."""
    global _installed
    with _install_lock:
        _installed += 1
        if _installed > 1:
            return
        _saved["stdout"], _saved["stderr"] = sys.stdout, sys.stderr
        sys.stdout = _Tee(sys.stdout, "stdout")
        sys.stderr = _Tee(sys.stderr, "stderr")
        logging.getLogger().addHandler(_handler)


def uninstall() -> None:
    global _installed
    with _install_lock:
        _installed -= 1
        if _installed > 0:
            return
        # Only undo our own wrapping: something else may have replaced the streams since.
        if isinstance(sys.stdout, _Tee):
            sys.stdout = _saved["stdout"]
        if isinstance(sys.stderr, _Tee):
            sys.stderr = _saved["stderr"]
        logging.getLogger().removeHandler(_handler)
        _held_back.active = False  # an interrupted run must not keep later runs' output held back


def join_chunks(buf: Sequence[LogChunk]) -> list[LogChunk]:
    """Merge consecutive stream chunks (``print`` writes text and newline apart) into lines."""
    merged: list[LogChunk] = []
    pending: dict[str, list[Any]] = {}  # stream -> [time of its first chunk, texts...]
    for ts, kind, level, text in buf:
        if kind in ("stdout", "stderr"):
            parts = pending.setdefault(kind, [ts])
            parts.append(text)
            if text.endswith("\n"):
                merged.append((parts[0], kind, level, "".join(parts[1:]).rstrip("\n")))
                del pending[kind]
        else:
            merged.append((ts, kind, level, text))
    for kind, parts in pending.items():
        merged.append((parts[0], kind, "INFO", "".join(parts[1:])))
    return merged
