"""Keys and small tables handed to DuckDB as NumPy columns.

DuckDB reads a registered dict of NumPy arrays directly. An Arrow table would import
pyarrow, whose conversion of Python lists imports pandas too: about 90 MB and 0.2 s for a
process that only reruns steps, ticks a sensor or adds partition keys. DuckDB reads arrays of
Python objects holding the interpreter lock for each chunk, so a run's large batches, which
the writer inserts beside the running steps, still go in as Arrow (see
``RunWriter._insert``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def string_columns(**columns: Sequence[str | None]) -> dict[str, Any]:
    """A dict of NumPy object arrays, one per keyword, for :func:`registered`."""
    import numpy as np

    return {name: np.array(values, dtype=object) for name, values in columns.items()}


@contextmanager
def registered(con: Any, view: str, columns: Any) -> Iterator[None]:
    """``columns`` (a dict of NumPy arrays, or an Arrow table) readable as the view ``view``
    on ``con`` inside the block."""
    con.register(view, columns)
    try:
        yield
    finally:
        con.unregister(view)
