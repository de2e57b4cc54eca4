"""Dynamic partition keys in the store, with an in-memory index per definition.

Keys keep insertion order (a global sequence; a deleted and re-added key goes to the end).
Every add and delete is one transaction of set-based statements, also recorded in
``partition_events`` with its source. The index (``{key: None}`` in insertion order) is
loaded on first use and updated with each write (and dropped if its transaction rolls
back); it is dropped when the store was changed by another process (the change counter)
or by another Instance of this process on the same file, and is only trusted while this
process holds the store file, so membership checks cost a dictionary lookup.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

# How many partition writes this process's PartitionStores made, per store file. DuckDB shares
# one database between the connections a process opens on a file, so two Instance objects on
# the same file can both hold it open and never see each other's change counter; each one
# compares this count (a dict lookup) before trusting its index.
_writes_by_file: dict[str, int] = {}
_writes_lock = threading.Lock()


@dataclass
class AddResult:
    """What an add did: keys that were new, and keys that were there already."""

    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<AddResult {len(self.added)} added, {len(self.existing)} already present>"


@dataclass
class DeleteResult:
    """What a delete did: keys deleted, and keys that were not there (a no-op)."""

    deleted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<DeleteResult {len(self.deleted)} deleted, {len(self.missing)} not present>"


class PartitionStore:
    """The dynamic-partition part of a :class:`~nbflow.store.store.Store`."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._index: dict[str, dict[str, None]] = {}
        store.holder.on_change(self._index.clear)
        self._file = None if store.holder.in_memory else os.path.realpath(store.path)
        self._writes_seen = _writes_by_file.get(self._file, 0) if self._file else 0
        self._watchers: list[Any] = []

    def _keys(self, con: Any, name: str) -> dict[str, None]:
        if self._file is not None and _writes_by_file.get(self._file, 0) != self._writes_seen:
            self._index.clear()  # another Instance of this process wrote to the same file
            self._writes_seen = _writes_by_file.get(self._file, 0)
        index = self._index.get(name)
        if index is None:
            table = con.sql(
                "SELECT key FROM partitions WHERE def_name = ? ORDER BY seq", params=[name]
            ).to_arrow_table()
            index = self._index[name] = dict.fromkeys(table.column(0).to_pylist())
        return index

    # -- reads ---------------------------------------------------------------------------------
    def index(self, con: Any, name: str) -> dict[str, None]:
        """The keys as a read-only dict in order, within ``con``'s transaction (do not modify)."""
        return self._keys(con, name)

    def has(self, name: str, key: str) -> bool:
        with self.store.holder.use() as con:
            return key in self._keys(con, name)

    def keys(self, name: str) -> list[str]:
        with self.store.holder.use() as con:
            return list(self._keys(con, name))

    def count(self, name: str) -> int:
        with self.store.holder.use() as con:
            return len(self._keys(con, name))

    def select(self, name: str, regex: str | None, like: str | None) -> list[str]:
        import duckdb

        where, params = ["def_name = ?"], [name]
        if regex is not None:
            where.append("regexp_matches(key, ?)")
            params.append(regex)
        if like is not None:
            where.append("key LIKE ?")
            params.append(like)
        with self.store.holder.use() as con:
            try:
                table = con.sql(
                    f"SELECT key FROM partitions WHERE {' AND '.join(where)} ORDER BY seq", params=params
                ).to_arrow_table()
            except duckdb.InvalidInputException as exc:
                if regex is None:
                    raise
                from nbflow.partitions.dynamic import PartitionsError

                raise PartitionsError(
                    f"regex={regex!r} is not a valid regular expression (RE2 syntax, as in DuckDB's "
                    f"regexp_matches): {exc}"
                ) from None
        return cast("list[str]", table.column(0).to_pylist())

    def page(self, name: str, text: str | None, regex: bool, offset: int, limit: int) -> tuple[list[str], int]:
        """Keys ``offset`` to ``offset + limit`` in order (of those containing ``text``, or matching
        it as a regular expression), and how many match. Unfiltered pages come from the index."""
        import itertools

        import duckdb

        if not text:
            with self.store.holder.use() as con:
                index = self._keys(con, name)
                return list(itertools.islice(index, offset, offset + limit)), len(index)
        match = "regexp_matches(key, ?)" if regex else "contains(lower(key), lower(?))"
        where, params = f"def_name = ? AND {match}", [name, text]
        try:
            with self.store.holder.use() as con:
                total = con.execute(f"SELECT count(*) FROM partitions WHERE {where}", params).fetchall()[0][0]
                rows = con.execute(f"SELECT key FROM partitions WHERE {where} ORDER BY seq "
                                   f"LIMIT {int(limit)} OFFSET {int(offset)}", params).fetchall()
        except duckdb.InvalidInputException as exc:
            from nbflow.partitions.dynamic import PartitionsError

            raise PartitionsError(f"{text!r} is not a valid regular expression (RE2 syntax): {exc}") from None
        return [r[0] for r in rows], total

    def history(self, name: str) -> Any:
        return self.store.sql(
            "SELECT key, action, ts, source, source_id FROM partition_events WHERE def_name = ? "
            "ORDER BY ts, rowid", [name])

    # -- writes --------------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[Any]:
        """A store transaction for partition changes: if it does not commit (a full disk), the
        index forgets what it was told, and the error raised is the one that stopped it."""
        try:
            with self.store.holder.transaction() as con:
                yield con
        except BaseException as exc:
            self._index.clear()  # reloaded from what the store really holds
            if not _failed_to_write(exc):
                raise
            from nbflow.errors import StoreError

            raise StoreError(
                f"Could not write to the nbflow store {self.store.path}: {exc}. Nothing of this "
                f"change was stored; fix the cause (e.g. free disk space) and make the change again."
            ) from exc

    def add(self, name: str, keys: list[str], source: str = "api", source_id: str | None = None,
            restore_outputs: bool = False, con: Any = None) -> AddResult:
        """Add ``keys`` (already validated); duplicates within the call are collapsed."""
        if con is not None:
            return self._add(con, name, keys, source, source_id, restore_outputs)
        with self.writing() as tx:
            result = self._add(tx, name, keys, source, source_id, restore_outputs)
        return result

    def _add(self, con: Any, name: str, keys: list[str], source: str, source_id: str | None,
             restore_outputs: bool) -> AddResult:
        import pyarrow as pa

        from nbflow.partitions.keys import validate_key

        index = self._keys(con, name)
        wanted = list(dict.fromkeys(keys))
        new = [k for k in wanted if k not in index]
        result = AddResult(new, [k for k in wanted if k in index])
        if not new:
            return result
        for key in new:  # every way of adding keys ends here: none gets past the key rules
            validate_key(key, "partition key")
        now = time.time()
        con.register("_nbflow_new_keys", pa.table({"key": pa.array(new, pa.string())}))
        try:
            # A key that comes back after a delete starts as missing, unless asked to restore
            # what was materialized for it before (valid_from in the past).
            valid_from = "'-infinity'::TIMESTAMPTZ" if restore_outputs else "to_timestamp($now)"
            con.execute(
                "INSERT INTO partitions SELECT $name, key, nextval('partition_seq'), to_timestamp($now), "
                f"{valid_from} FROM _nbflow_new_keys", {"name": name, "now": now})
            con.execute(
                "INSERT INTO partition_events SELECT $name, key, 'add', to_timestamp($now), $source, $sid "
                "FROM _nbflow_new_keys", {"name": name, "now": now, "source": source, "sid": source_id})
        finally:
            con.unregister("_nbflow_new_keys")
        index.update(dict.fromkeys(new))
        self._after_write(con)
        return result

    def delete(self, name: str, keys: list[str], source: str = "api", source_id: str | None = None,
               con: Any = None) -> DeleteResult:
        if con is not None:
            return self._delete(con, name, keys, source, source_id)
        with self.writing() as tx:
            result = self._delete(tx, name, keys, source, source_id)
        return result

    def _delete(self, con: Any, name: str, keys: list[str], source: str,
                source_id: str | None) -> DeleteResult:
        import pyarrow as pa

        index = self._keys(con, name)
        wanted = list(dict.fromkeys(keys))
        gone = [k for k in wanted if k in index]
        result = DeleteResult(gone, [k for k in wanted if k not in index])
        if not gone:
            return result
        con.register("_nbflow_gone_keys", pa.table({"key": pa.array(gone, pa.string())}))
        try:
            con.execute(
                "DELETE FROM partitions WHERE def_name = $name AND key IN (SELECT key FROM _nbflow_gone_keys)",
                {"name": name})
            con.execute(
                "INSERT INTO partition_events SELECT $name, key, 'delete', to_timestamp($now), $source, $sid "
                "FROM _nbflow_gone_keys", {"name": name, "now": time.time(), "source": source, "sid": source_id})
        finally:
            con.unregister("_nbflow_gone_keys")

        for key in gone:
            index.pop(key, None)
        self._after_write(con)
        return result

    def _after_write(self, con: Any) -> None:
        # The index is updated at once, so a later add or delete in the same transaction (a
        # sensor tick applies several requests in one) sees this one; nothing else can read
        # it meanwhile, as the transaction holds the store. A rollback drops the index, so it
        # is reloaded from what the store really holds.
        self.store.holder.after_commit(self._committed, on_rollback=self._index.clear)

    def watch(self, callback: Any) -> None:
        """Call ``callback()`` after each committed partition change in this process (held weakly:
        pass a bound method of an object that lives as long as it should be told)."""
        import weakref

        self._watchers.append(weakref.WeakMethod(callback))

    def _tell_watchers(self) -> None:
        alive = []
        for ref in self._watchers:
            callback = ref()
            if callback is None:
                continue
            alive.append(ref)
            try:
                callback()
            except Exception:  # a broken view must never break a write
                pass
        self._watchers = alive

    def _committed(self) -> None:
        self._tell_watchers()
        if self._file is None:
            return
        with _writes_lock:
            current = _writes_by_file.get(self._file, 0)
            if current != self._writes_seen:  # another Instance wrote since we looked
                self._index.clear()
            _writes_by_file[self._file] = self._writes_seen = current + 1


def _failed_to_write(exc: BaseException) -> bool:
    """Whether DuckDB could not write the change to the file (a full disk, an I/O error).

    The transaction already rolled back; the error is the first one (a failed ROLLBACK after
    a failed COMMIT does not hide it, see ``ConnectionHolder.transaction``)."""
    import duckdb

    return isinstance(exc, duckdb.IOException | duckdb.TransactionException | OSError)
