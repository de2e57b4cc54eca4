"""Turning the body of a ``%%sensor`` cell into a sensor function.

The body becomes ``def NAME(context):`` + the body, compiled so that its line numbers
are the cell's: the magic line is line 1 of the cell and of the compiled source, so a
syntax error or a traceback during a tick points at the line as the notebook numbers it.
"""

from __future__ import annotations

import linecache
import textwrap
from typing import Any


def sensor_function(name: str, body: str, namespace: dict[str, Any]) -> Any:
    """Compile ``body`` as the body of ``def name(context)`` with the notebook's globals."""
    if not body.strip():
        body = "return None"
    source = f"def {name}(context):\n" + textwrap.indent(body, "    ", lambda line: True)
    filename = f"<%%sensor {name}>"
    lines = source.splitlines(keepends=True)
    # Registered so that tracebacks show the cell's lines (the magic line stands for the def).
    linecache.cache[filename] = (len(source), None, lines, filename)
    code = compile(source, filename, "exec")
    scope: dict[str, Any] = {}
    exec(code, namespace, scope)
    return scope[name]
