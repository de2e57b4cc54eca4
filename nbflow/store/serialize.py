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
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring_ascii as _json_string  # what json.dumps uses for a str
from typing import Any

JSON, PICKLE, TABLE, UNSTORED = "json", "pickle", "table", "unstored"
_SCALARS = (str, int, bool, type(None))


def frame_table(name: str) -> str:
    """SQL for the table ``name`` in the ``frames`` schema, quoted as an identifier.

    Table names are read back from the store file, which may come from someone else:
    they are never pasted into SQL unquoted (a crafted name could run any statement).
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"not a stored table name: {name!r}")
    return 'frames."' + name.replace('"', '""') + '"'


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
    from nbflow.execution.values import unstorable_reason

    live = unstorable_reason(value)
    if live is not None:  # cloudpickle would read a whole file (or /dev/zero, forever)
        return UNSTORED, json.dumps(f"not stored: {live}"), None, type_name
    try:
        return PICKLE, None, pickle.dumps(value, protocol=5), type_name
    except Exception:
        pass
    try:
        import cloudpickle

        return PICKLE, None, cloudpickle.dumps(value), type_name
    except Exception as exc:
        return UNSTORED, json.dumps(f"{type(exc).__name__}: {exc}"), None, type_name


def scalar_json(value: Any) -> tuple[str, str] | None:
    """``(json_text, type_name)`` of an int, a str shorter than :data:`LARGE_BYTES`, a bool,
    None or a finite float -- what :func:`encode` gives them, without a ``json.dumps`` call
    each; None for every other value."""
    cls = type(value)
    try:
        if cls is int:
            return int.__repr__(value), "int"
        if cls is str:
            return (_json_string(value), "str") if len(value) < LARGE_BYTES else None
        if cls is float:
            return (float.__repr__(value), "float") if math.isfinite(value) else None
    except ValueError:  # an int past the digits limit of int-to-text conversion
        return None
    if cls is bool:
        return ("true" if value else "false"), "bool"
    if value is None:
        return "null", "NoneType"
    return None


def scalar_json_column(values: Sequence[Any]) -> tuple[list[str], str] | None:
    """``(json_texts, type_name)`` of ``values`` that are all ints, all finite floats or all
    strs shorter than :data:`LARGE_BYTES` -- :func:`scalar_json` of each, in C loops (the
    outputs of a fan-out's batch are mostly of one such type); None for any other mix."""
    if not values:
        return None
    cls = type(values[0])
    if cls not in _COLUMN_ENCODERS or list(map(type, values)).count(cls) != len(values):
        return None
    if cls is str and max(map(len, values)) >= LARGE_BYTES:
        return None
    if cls is float and not all(map(math.isfinite, values)):
        return None
    try:
        return list(map(_COLUMN_ENCODERS[cls], values)), cls.__name__
    except ValueError:  # an int past the digits limit of int-to-text conversion
        return None


_COLUMN_ENCODERS: dict[type, Callable[[Any], str]] = {int: int.__repr__, float: float.__repr__, str: _json_string}


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


def safe_texts(texts: Sequence[str | None]) -> Sequence[str | None]:
    """:func:`safe_text` of each of ``texts``; ``texts`` themselves when none needs it, which
    one join and one check in C find out (a batch of 100,000 step errors, nearly all None,
    is not walked in Python)."""
    joined = "".join(filter(None, texts))
    if joined.isascii():
        return texts
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return [safe_text(text) for text in texts]
    return texts


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


# -- run config: kept exactly for reruns ------------------------------------------------------
# A run's config is stored as JSON, so it can be read with SQL. Values JSON has no type for
# are stored as {"__nbflow_type__": name, "value": ...} and turned back on load; a value
# that cannot come back exactly is refused before the run starts.
_TAG = "__nbflow_type__"
_CONFIG_TYPES = "str, int, float, bool, None, lists and dicts, tuple, set, datetime, date, time, timedelta, Decimal, Path, bytes"


class ConfigNotStorable(ValueError):
    """A run config value that cannot be stored so that a rerun gets it back exactly."""


def config_to_json(config: Any) -> str:
    """``config`` as JSON text that :func:`config_from_json` turns back into an equal config
    with the same types; raises :class:`ConfigNotStorable` naming the first value it cannot."""
    encoded = _encode_config(config, "run_config")
    text = safe_json(encoded)
    back = config_from_json(text)
    if not _same(back, config):  # e.g. text with lone surrogates, a subclass of a known type
        raise ConfigNotStorable(
            f"run_config cannot be stored so that a rerun gets it back exactly (stored, it reads back "
            f"as {back!r}). Use {_CONFIG_TYPES}."
        )
    return text


def config_from_json(text: str | None) -> Any:
    return _decode_config(json.loads(text or "{}"))


def _tagged(name: str, value: Any) -> dict[str, Any]:
    return {_TAG: name, "value": value}


def _encode_config(value: Any, where: str) -> Any:
    import datetime as dt
    import decimal
    import pathlib

    cls = type(value)
    if value is None or cls in (str, bool, int):
        return value
    if cls is float:
        return value if math.isfinite(value) else _tagged("float", repr(value))
    if cls is list:
        return [_encode_config(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if cls is dict:
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: _encode_config(v, f"{where}[{k!r}]") for k, v in value.items()}
        return _tagged("dict", [[_encode_config(k, f"{where} key {k!r}"), _encode_config(v, f"{where}[{k!r}]")]
                                for k, v in value.items()])
    if cls in (tuple, set, frozenset):
        items = [_encode_config(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return _tagged(cls.__name__, items)
    if cls in (dt.datetime, dt.time) and value.tzinfo is not None and type(value.tzinfo) is not dt.timezone:
        pass  # a zone (ZoneInfo...) would come back as a fixed offset: refused below
    elif cls in (dt.datetime, dt.date, dt.time):
        return _tagged(cls.__name__, value.isoformat())
    if cls is dt.timedelta:
        return _tagged("timedelta", [value.days, value.seconds, value.microseconds])
    if cls is decimal.Decimal:
        return _tagged("Decimal", str(value))
    if cls in (pathlib.PosixPath, pathlib.PurePosixPath, pathlib.PureWindowsPath):
        return _tagged(cls.__name__, str(value))
    if cls is bytes:
        import base64

        return _tagged("bytes", base64.b64encode(value).decode("ascii"))
    raise ConfigNotStorable(
        f"{where} is a {cls.__module__}.{cls.__qualname__} ({value!r:.80}), which a stored run cannot "
        f"give back exactly to a rerun. Use {_CONFIG_TYPES} -- or pass it as text and parse it in the op."
    )


def _decode_config(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_config(v) for v in value]
    if not isinstance(value, dict):
        return value
    if _TAG not in value:
        return {k: _decode_config(v) for k, v in value.items()}
    import datetime as dt
    import decimal
    import pathlib

    name, inner = value[_TAG], value["value"]
    simple: dict[str, Callable[[Any], Any]] = {
        "float": float, "datetime": dt.datetime.fromisoformat, "date": dt.date.fromisoformat,
        "time": dt.time.fromisoformat, "Decimal": decimal.Decimal, "PosixPath": pathlib.PosixPath,
        "PurePosixPath": pathlib.PurePosixPath,
        "PureWindowsPath": pathlib.PureWindowsPath,
    }
    if name in simple:
        return simple[name](inner)
    if name == "dict":
        return {_decode_config(k): _decode_config(v) for k, v in inner}
    if name in ("tuple", "set", "frozenset"):
        return {"tuple": tuple, "set": set, "frozenset": frozenset}[name](_decode_config(v) for v in inner)
    if name == "timedelta":
        return dt.timedelta(days=inner[0], seconds=inner[1], microseconds=inner[2])
    if name == "bytes":
        import base64

        return base64.b64decode(inner)
    return value  # written by a newer nbflow: shown as stored


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 == 1.0 == True are not the same here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in b and _same(v, b[k]) and _same_key(k, b) for k, v in a.items())
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _same_key(key: Any, other: dict[Any, Any]) -> bool:
    return any(k == key and type(k) is type(key) for k in other)


# -- large values: pickled in chunks ------------------------------------------------------------
# A BLOB of several hundred MB costs DuckDB about five times its size to insert, on top of the
# pickle and the batch's column. A value that is large by itself (bytes, str, an array)
# is instead pickled straight into a table of fixed-size chunks, one chunk at a time, and
# unpickled from them one chunk at a time.
CHUNKED = "chunked"
LARGE_BYTES = 32 * 2**20  # a value at least this large is stored in chunks
CHUNK_BYTES = 8 * 2**20


def is_large(value: Any) -> bool:
    """Whether ``value`` is large by itself (known without pickling it)."""
    cls = type(value)
    if cls in (bytes, bytearray, str):
        return len(value) >= LARGE_BYTES
    nbytes = getattr(value, "nbytes", None) if cls.__module__.startswith(("numpy", "pyarrow")) else None
    return isinstance(nbytes, int) and nbytes >= LARGE_BYTES


class _ChunkSink:
    """A file-like object for :class:`pickle.Pickler` handing fixed-size chunks to ``put``."""

    def __init__(self, put: Any) -> None:
        self.put, self.pending, self.size, self.chunks, self.total = put, bytearray(), 0, 0, 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        written = len(view)
        self.total += written
        while len(view):
            room = CHUNK_BYTES - len(self.pending)
            self.pending += view[:room]
            view = view[room:]
            if len(self.pending) >= CHUNK_BYTES:
                self._emit()
        return written

    def _emit(self) -> None:
        self.put(self.chunks, bytes(self.pending))
        self.chunks += 1
        self.pending = bytearray()

    def close(self) -> None:
        if self.pending or not self.chunks:
            self._emit()


def pickle_in_chunks(value: Any, put: Any) -> dict[str, int]:
    """Pickle ``value`` into ``put(index, chunk)`` calls; return the meta to store with it."""
    sink = _ChunkSink(put)
    pickle.Pickler(sink, protocol=5).dump(value)
    sink.close()
    return {"chunks": sink.chunks, "bytes": sink.total}


class _ChunkSource:
    """A file-like object for :func:`pickle.load` reading chunks from an iterator."""

    def __init__(self, chunks: Any) -> None:
        self.chunks, self.buffer, self.offset = iter(chunks), b"", 0

    def _fill(self) -> bool:
        chunk = next(self.chunks, None)
        if chunk is None:
            return False
        rest = self.buffer[self.offset:]
        self.buffer, self.offset = (rest + chunk if rest else chunk), 0
        return True

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            parts = [self.buffer[self.offset:], *self.chunks]
            self.buffer, self.offset = b"", 0
            return b"".join(parts)
        if len(self.buffer) - self.offset >= n:
            out = self.buffer[self.offset:self.offset + n]
            self.offset += n
            return out
        parts, want = [self.buffer[self.offset:]], n - (len(self.buffer) - self.offset)
        self.buffer, self.offset = b"", 0
        while want > 0 and self._fill():
            take = self.buffer[:want]
            parts.append(take)
            want -= len(take)
            self.offset = len(take)
        return b"".join(parts)

    def readinto(self, target: Any) -> int:
        # The unpickler reads a large bytes object straight into it: filled chunk by chunk.
        view = memoryview(target).cast("B")
        done = 0
        while done < len(view):
            if self.offset >= len(self.buffer) and not self._fill():
                break
            take = min(len(view) - done, len(self.buffer) - self.offset)
            view[done:done + take] = self.buffer[self.offset:self.offset + take]
            done += take
            self.offset += take
        return done

    def readline(self) -> bytes:
        line = bytearray()
        while True:
            byte = self.read(1)
            line += byte
            if not byte or byte == b"\n":
                return bytes(line)

    def peek(self, n: int = 1) -> bytes:
        if len(self.buffer) - self.offset < max(n, 1):
            self._fill()
        return self.buffer[self.offset:self.offset + max(n, 1)]


def unpickle_chunks(chunks: Any) -> Any:
    """The value :func:`pickle_in_chunks` stored, from its chunks in order."""
    return pickle.load(_ChunkSource(chunks))
