"""Turning output values into storable form and back.

* DataFrames (pandas, Arrow) become DuckDB tables in the ``frames`` schema;
* values that survive a JSON round trip unchanged are stored as JSON text;
* everything else is pickled (cloudpickle for objects plain pickle refuses).

A value that cannot be stored at all is recorded as ``unstored`` with the reason,
so a run never fails because of storage.
"""

from __future__ import annotations

import json
import math
import pickle
from typing import Any

JSON, PICKLE, TABLE, UNSTORED = "json", "pickle", "table", "unstored"
_SCALARS = (str, int, bool, type(None))


def table_kind(value: Any) -> str | None:
    """``"pandas"`` or ``"arrow"`` when ``value`` should become a table (no imports needed)."""
    cls = type(value)
    module = cls.__module__
    if cls.__name__ == "DataFrame" and module.startswith("pandas"):
        return "pandas"
    if cls.__name__ == "Table" and module.startswith("pyarrow"):
        return "arrow"
    return None


def encode(value: Any) -> tuple[str, str | None, bytes | None, str]:
    """Return ``(kind, json_text, blob, type_name)`` for a non-table value."""
    cls = type(value)
    type_name = f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__name__
    if cls in _SCALARS or (cls is float and math.isfinite(value)):
        return JSON, json.dumps(value), None, type_name
    if cls in (list, dict):
        try:
            text = json.dumps(value)
            if json.loads(text) == value:
                return JSON, text, None, type_name
        except (TypeError, ValueError, RecursionError):
            pass
    try:
        return PICKLE, None, pickle.dumps(value, protocol=5), type_name
    except Exception:
        pass
    try:
        import cloudpickle

        return PICKLE, None, cloudpickle.dumps(value), type_name
    except Exception as exc:
        return UNSTORED, json.dumps(f"{type(exc).__name__}: {exc}"), None, type_name


def decode(kind: str, text: str | None, blob: bytes | None) -> Any:
    if kind == JSON:
        return json.loads(text)  # type: ignore[arg-type]
    if kind == PICKLE:
        return pickle.loads(blob)  # type: ignore[arg-type]
    raise ValueError(f"cannot decode a stored value of kind {kind!r}")


def safe_text(text: str | None) -> str | None:
    """``text`` as UTF-8 can hold it: a lone surrogate (part of a file name ``os.listdir``
    could not decode) becomes a backslash escape such as ``\\udce9``; other text is unchanged."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def safe_json(value: Any, **dumps: Any) -> str:
    """``json.dumps(value)`` that DuckDB's JSON accepts: lone surrogates in strings (which JSON
    would escape as invalid ``\\udcXX``) are stored as backslash escapes (:func:`safe_text`)."""
    text = json.dumps(value, **dumps)
    if "\\ud" not in text:
        return text
    return json.dumps(_safe_strings(value), **dumps)


def _safe_strings(value: Any) -> Any:
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {_safe_strings(k): _safe_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe_strings(v) for v in value]
    return value
