"""Tracebacks as the views show them: starting at the user's code, the full one kept aside.

A step's traceback begins in nbflow's step runner (``op.fn(ctx, **inputs)``) before it
reaches the op; a sensor's in the tick evaluator. Those frames say nothing about the
user's mistake, so the views drop them and offer the full traceback a click away.
"""

from __future__ import annotations

import os
import re

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # nbflow/
FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line \d+')


def _own_frame(line: str) -> bool:
    found = FRAME.match(line)
    return found is not None and os.path.abspath(found["file"]).startswith(PACKAGE)


def users_part(text: str) -> str:
    """``text`` without the frames of nbflow's own files (each frame is its ``File`` line and
    the indented source and caret lines under it); unchanged when there are none, or when
    every frame is nbflow's (then the error is nbflow's, and all of it matters)."""
    lines = text.splitlines()
    frames = [line for line in lines if FRAME.match(line)]
    if not frames or all(_own_frame(line) for line in frames):
        return text
    kept: list[str] = []
    skipping = False
    for line in lines:
        if FRAME.match(line):
            skipping = _own_frame(line)
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")


def shown(text: str) -> dict[str, str]:
    """``{"error": what the view shows first, "error_full": the whole text, or ""}``."""
    short = users_part(text)
    return {"error": short, "error_full": text if short != text else ""}
