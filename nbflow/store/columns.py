"""Rows handed to DuckDB as NumPy columns.

DuckDB scans a registered dict of NumPy arrays directly, as fast as an Arrow table for the
large batches of a run. Arrow would import pyarrow, and pyarrow's conversion of Python lists
imports pandas too: about 90 MB and 0.2 s for a process that never makes a DataFrame.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from nbflow.store.serialize import safe_text


def rows_to_columns(rows: Sequence[tuple[Any, ...]], columns: Sequence[tuple[str, str]],
                    text_at: int | None = None) -> dict[str, Any]:
    """A dict of one NumPy array per column of ``rows`` (tuples of the same length).

    ``columns`` are ``(name, kind)`` pairs in the order of the rows' fields. A ``float64``
    column becomes a float array, where None is NaN and DuckDB reads NaN as NULL (these
    columns are times); every other column stays an array of the Python objects, whose SQL
    type DuckDB infers from their Python types. Free text at field ``text_at`` that UTF-8
    cannot hold (lone surrogates) is stored with backslash escapes.
    """
    import numpy as np

    fields = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    arrays: dict[str, Any] = {}
    for at, ((name, kind), values) in enumerate(zip(columns, fields, strict=True)):
        if at == text_at:
            values = tuple(safe_text(text) for text in values)
        arrays[name] = np.array(values, dtype=np.float64 if kind == "float64" else object)
    return arrays


def string_columns(**columns: list[str | None]) -> dict[str, Any]:
    """A dict of NumPy object arrays, one per keyword, for :func:`registered`."""
    import numpy as np

    return {name: np.array(values, dtype=object) for name, values in columns.items()}


@contextmanager
def registered(con: Any, view: str, columns: dict[str, Any]) -> Iterator[None]:
    """``columns`` readable as the view ``view`` on ``con`` inside the block."""
    con.register(view, columns)
    try:
        yield
    finally:
        con.unregister(view)
