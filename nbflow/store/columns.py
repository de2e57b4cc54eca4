"""Rows, keys and small tables handed to DuckDB as NumPy columns.

DuckDB reads a registered dict of NumPy arrays directly. An Arrow table would import
pyarrow, whose conversion of Python lists imports pandas too: about 75 MB and 0.2 s for a
fresh process's first large run, rerun, sensor tick or partition add. DuckDB reads an array
of Python objects taking the interpreter for each chunk; during a run the switch interval is
short (:mod:`~nbflow.execution.switching`), so the writer's thread gets it back at once and
a run's batches go in as fast as Arrow tables did (figures: ``bench/README.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

_NUMBERS = frozenset({"float64", "int64", "int32"})  # the kinds that go in as float arrays


def varying_columns(columns: Iterable[Sequence[Any]], spec: Sequence[tuple[str, str]],
                    text_at: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(arrays, constants)``: a dict of one NumPy array per column, for :func:`registered`,
    and the text or bytes columns that hold one value in every row, as ``{name: value}`` in
    the order of ``spec``.

    ``columns`` are read one at a time, in the order of ``spec``'s ``(name, kind)`` pairs
    (``zip(*rows)`` turns rows into them without holding every column at once); one given
    as an array already (a text column as integers) is kept as it is. Numbers go in as float
    arrays, where None is NaN and DuckDB reads NaN as NULL: DuckDB reads them without the
    interpreter (the columns are times, counts and positions, exact as doubles; the INSERT
    casts them back). Text and bytes stay arrays of the Python objects, which DuckDB reads
    holding the interpreter, a value at a time: in a run's batch most such columns hold one
    value (a status, an output's name, no error) and are better given once, as a query
    parameter. At least one column stays an array: the arrays say how many rows there are.
    Free text at column ``text_at`` that UTF-8 cannot hold (lone surrogates) is stored with
    backslash escapes.
    """
    import numpy as np

    from nbflow.store.serialize import safe_texts

    arrays: dict[str, Any] = {}
    constants: dict[str, Any] = {}
    found = iter(columns)
    for at, (name, kind) in enumerate(spec):
        values = next(found, ())  # no rows: zip(*rows) gives no columns
        if hasattr(values, "dtype"):  # an array already, such as a text column given as integers
            arrays[name] = values
            continue
        if kind not in _NUMBERS and (arrays or at < len(spec) - 1) and _one_value(values):
            constants[name] = values[0] if at != text_at else safe_texts(values[:1])[0]
            continue
        if at == text_at:
            values = safe_texts(values)
        arrays[name] = _array(np, values, kind)
    return arrays, constants


def _array(np: Any, values: Sequence[Any], kind: str) -> Any:
    if kind in _NUMBERS:
        return np.array(values, dtype=np.float64)
    # fromiter: np.array looks into every object for nested sequences (47 ns a None, 8 here)
    return np.fromiter(values, dtype=object, count=len(values))


def int_column(values: Sequence[Any]) -> Any:
    """``values`` as an int64 array when they are all ints (not bools) that fit in one, else
    None. DuckDB turns such an array into decimal text (JSON) without the interpreter, where a
    column of texts would take ``int.__repr__`` and the interpreter for each value."""
    import numpy as np

    if not values or list(map(type, values)).count(int) != len(values):
        return None
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return None


def _one_value(values: Sequence[Any]) -> bool:
    """Whether ``values`` hold one value, in C: the last one first, which is different in
    nearly every column that is not all one value."""
    if not values:
        return False
    first = values[0]
    return bool(values[-1] == first) and values.count(first) == len(values)


def string_columns(**columns: Sequence[str | None]) -> dict[str, Any]:
    """A dict of NumPy object arrays, one per keyword, for :func:`registered`."""
    import numpy as np

    return {name: np.array(values, dtype=object) for name, values in columns.items()}


@contextmanager
def registered(con: Any, view: str, columns: dict[str, Any]) -> Iterator[None]:
    """``columns`` (a dict of NumPy arrays) readable as the view ``view`` on ``con`` inside
    the block."""
    con.register(view, columns)
    try:
        yield
    finally:
        con.unregister(view)
