"""The output values a run holds in memory, by ``(node, output, mapping key)``.

A mapped output's values sit in a list by key index (the order the fan-out yielded its
keys), not in a dict keyed by a tuple per value: a million collected items then cost a list
slot each (8 bytes) instead of a key tuple and a dict entry (about 130 bytes).

The executor goes by index: it knows each key's index when the key arrives. Only a lookup
by mapping key needs ``{key: index}``, made on the first such lookup (:class:`KeyIndex`):
at a million keys that dict and its index ints are about 60 MB a run need not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice, repeat
from operator import is_
from typing import Any

from nbflow.definitions.compose import DynSource

Slot = tuple[str, str, "str | None"]  # (node, output, mapping key)


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


_ABSENT: Any = _Absent()
ABSENT: Any = _ABSENT  # what RunValues.at gives for an index without a value


class KeyIndex:
    """``{mapping key: index}`` of one fan-out's keys, the index being the key's position in
    its list of keys: made on the first lookup, brought up to date as keys are appended."""

    __slots__ = ("_index", "_keys", "_seen", "_source", "_upto")

    def __init__(self, keys: Mapping[DynSource, list[str]], source: DynSource) -> None:
        self._keys, self._source = keys, source
        self._index: dict[str, int] = {}
        self._seen: list[str] | None = None  # the list indexed (a rerun's seed replaces it)
        self._upto = 0  # how many of its keys are in the index

    def get(self, key: str) -> int | None:
        keys = self._keys.get(self._source)
        if keys is not self._seen:
            self._index, self._seen, self._upto = {}, keys, 0
        index = self._index.get(key)
        if index is None and keys is not None and self._upto < len(keys):
            done, upto = self._upto, len(keys)
            self._index.update(zip(islice(keys, done, upto), range(done, upto), strict=True))
            self._upto = upto  # after the update: a reader on another thread never skips keys
            index = self._index.get(key)
        return index


class RunValues:
    """A mapping from ``(node, output, mapping key)`` to the value a run has in memory.

    ``keys`` is the executor's own ``{fan-out source: [mapping keys in the order yielded]}``,
    shared, not copied: a key's index is its position there. A mapped value whose key is not
    there (yet) is kept by its slot instead, so any key can be stored.
    """

    __slots__ = ("_by_slot", "_columns", "_indexes", "_keys", "_scopes")

    def __init__(self, keys: Mapping[DynSource, list[str]], scopes: Mapping[str, DynSource | None]) -> None:
        self._keys = keys
        self._indexes: dict[DynSource, KeyIndex] = {}
        self._scopes = scopes  # mapped node -> its fan-out source
        self._by_slot: dict[Slot, Any] = {}  # unmapped outputs, and keys without an index
        # node -> output -> (its fan-out source, its values by index)
        self._columns: dict[str, dict[str, tuple[DynSource, list[Any]]]] = {}

    def index_of(self, source: DynSource, key: str) -> int | None:
        """The index of mapping key ``key`` of fan-out ``source``, or None if it has not one."""
        return self._index(source).get(key)

    def _index(self, source: DynSource) -> KeyIndex:
        found = self._indexes.get(source)
        if found is None:
            found = self._indexes[source] = KeyIndex(self._keys, source)
        return found

    def _column(self, node: str, output: str) -> tuple[DynSource, list[Any]]:
        try:
            return self._columns[node][output]
        except KeyError:
            source = self._scopes.get(node) or DynSource(node, output)
            column: tuple[DynSource, list[Any]] = (source, [])
            self._columns.setdefault(node, {})[output] = column
            return column

    # -- the executor's hot path: the caller knows the key's index --------------------------
    def put_at(self, node: str, output: str, key: str, index: int, value: Any) -> None:
        """Store the value of mapping key ``key``, whose index in its fan-out is ``index``."""
        try:  # once per mapped output and step: the lookup inline, not through _column
            column = self._columns[node][output][1]
        except KeyError:
            column = self._column(node, output)[1]
        if index == len(column):  # the common case: keys come in the order of their indexes
            column.append(value)
        else:
            if index > len(column):
                column.extend([_ABSENT] * (index - len(column) + 1))
            column[index] = value
        if self._by_slot:
            self._by_slot.pop((node, output, key), None)

    def at(self, node: str, output: str, index: int | None) -> Any:
        """The value at ``index`` of a mapped output, or :data:`ABSENT`: a key with a value
        elsewhere (by its slot, or a parent run's) is looked up through ``self[slot]``."""
        try:
            column = self._columns[node][output][1]
        except KeyError:
            return _ABSENT
        return column[index] if index is not None and index < len(column) else _ABSENT

    def drop_at(self, node: str, output: str, key: str, index: int) -> None:
        """Forget the value of mapping key ``key`` (index ``index``), if there is one."""
        column = self._column(node, output)[1]
        if index < len(column):
            column[index] = _ABSENT
        if self._by_slot:
            self._by_slot.pop((node, output, key), None)

    # -- the mapping, for the rest ------------------------------------------------------------
    def __setitem__(self, slot: Slot, value: Any) -> None:
        node, output, key = slot
        index = None if key is None else self.index_of(self._column(node, output)[0], key)
        if index is None:
            self._by_slot[slot] = value
        else:
            self.put_at(node, output, key, index, value)  # type: ignore[arg-type]

    def get(self, slot: Slot, default: Any = None) -> Any:
        node, output, key = slot
        if key is not None:
            source, column = self._column(node, output)
            index = self.index_of(source, key)
            if index is not None and index < len(column):
                value = column[index]
                if value is not _ABSENT:
                    return value
        return self._by_slot.get(slot, default)

    def __getitem__(self, slot: Slot) -> Any:
        value = self.get(slot, _ABSENT)
        if value is _ABSENT:
            raise KeyError(slot)
        return value

    def __contains__(self, slot: object) -> bool:
        return isinstance(slot, tuple) and len(slot) == 3 and self.get(slot, _ABSENT) is not _ABSENT

    def pop(self, slot: Slot, default: Any = _ABSENT) -> Any:
        value = self.get(slot, _ABSENT)
        if value is _ABSENT:
            if default is _ABSENT:
                raise KeyError(slot)
            return default
        node, output, key = slot
        index = None if key is None else self.index_of(self._column(node, output)[0], key)
        if index is None:
            self._by_slot.pop(slot, None)
        else:
            self.drop_at(node, output, key, index)  # type: ignore[arg-type]
        return value

    def of_keys(self, node: str, output: str, keys: list[str]) -> list[Any]:
        """The values of ``keys`` in order; raises KeyError for the first key with none."""
        source, column = self._column(node, output)
        if keys is self._keys.get(source):  # a collect of every key: the values are in order
            found = column[:len(keys)] if len(column) >= len(keys) else [_ABSENT]
        else:
            index_of = self._index(source).get
            try:  # the common case: every key has an index and a value
                found = [column[index_of(key)] for key in keys]  # type: ignore[index]
            except (TypeError, IndexError):  # a key without an index (None), or without a value
                found = [_ABSENT]
        if any(map(is_, found, repeat(_ABSENT))):  # by identity: a value's __eq__ is never called
            return [self[(node, output, key)] for key in keys]
        return found

    def __len__(self) -> int:
        held = sum(1 for outputs in self._columns.values() for _, column in outputs.values()
                   for value in column if value is not _ABSENT)
        return held + len(self._by_slot)
