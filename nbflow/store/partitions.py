"""Dynamic partition keys in the store, with an in-memory index per definition.

Keys keep insertion order (a global sequence; a deleted and re-added key goes to the end).
Every add and delete is one transaction of set-based statements, also recorded in
``partition_events`` with its source. The index (``{key: None}`` in insertion order) is
updated with each write (and dropped if its transaction rolls back); it is dropped when
the store was changed by another process (the change counter) or by another Instance of
this process on the same file, and is only trusted while this process holds the store
file, so membership checks cost a dictionary lookup.

Listing keys or writing loads the index at once. A membership check does not wait for it:
while there is no index, it asks DuckDB for the one key (a few milliseconds at a million
keys: each large add stores its keys sorted, see ``_add``) and a background thread loads
the index in chunks of short reads, between the user's own reads and writes (a million keys
take about a second). A load that any write or invalidation overtook is thrown away.
A check that reopens the store leaves the rest of the opening (marking runs of dead
processes) to that thread too, or to the next other use.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, cast

from nbflow._state import STATE
from nbflow.store.columns import registered, string_columns

_LOAD_CHUNK = 20_000  # values of seq per read of a background load: each holds the store for a few ms
# Adds of more keys than DuckDB processes at a time (a vector) store them sorted (see _add).
_ONE_VECTOR = 2048

# How many partition writes this process's PartitionStores made, per store file. DuckDB shares
# one database between the connections a process opens on a file, so two Instance objects on
# the same file can both hold it open and never see each other's change counter; each one
# compares this count (a dict lookup) before trusting its index.
_writes_by_file: dict[str, int] = STATE.partition_writes
_writes_lock = threading.Lock()

# Suggestions rank at most this many keys sharing half of the asked key by edit distance (a
# short key's half is shared by most keys; the Jaro-Winkler candidates come on top).
_HALF_MATCH_CAP = 10_000

# Background work on indexes (loading, freeing) runs in one thread per process, taking jobs
# in order: handing it a job costs microseconds, starting a thread up to milliseconds.
_jobs: queue.SimpleQueue[tuple[float, Callable[[], object]]] = queue.SimpleQueue()
# A job waits this long after it was handed over, so the call that handed it over ends
# first: a thread working meanwhile takes the GIL whenever that call waits for DuckDB, and
# it gets it back only after the interpreter's switch interval (5 ms) each time.
_SETTLE = 0.02
_worker: threading.Thread | None = None
_worker_lock = threading.Lock()
_loads: dict[int, PartitionStore] = {}  # background loads asked for, by id of their store
_exiting = False


def _in_background(job: Callable[[], object]) -> None:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = threading.Thread(target=_work, name="nbflow-partition-index", daemon=True)
            _worker.start()
    _jobs.put((time.monotonic(), job))


def _work() -> None:
    while True:
        handed_over, job = _jobs.get()
        wait = handed_over + _SETTLE - time.monotonic()
        if wait > 0 and not _exiting:
            time.sleep(wait)
        try:
            job()
        except Exception:  # each job is an optimization; a failed one changes no answer
            pass


def _forget_worker_in_child() -> None:
    global _worker, _jobs
    _worker, _jobs = None, queue.SimpleQueue()  # a forked child has no copy of the thread


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_worker_in_child)


@atexit.register
def _stop_background_work_at_exit() -> None:
    # Loads are given up and the worker waited for: a daemon thread stopped by the
    # interpreter's exit inside DuckDB aborts the process.
    global _exiting
    _exiting = True
    if _worker is None:
        return
    for partitions in list(_loads.values()):
        partitions._generation += 1
    idle = threading.Event()
    _jobs.put((0.0, idle.set))
    idle.wait(timeout=5)


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
        # Bumped by every write and every invalidation: a background load started before
        # the last bump may have read keys that are no longer right, and is thrown away.
        self._generation = 0
        self._loading: set[str] = set()  # definitions a background thread is loading
        # What the loaded indexes are known to hold: every row up to this seq, with this many
        # deletes made in the store (None: not known, so another process's change drops them).
        self._seq_seen: int | None = None
        self._deletes_seen: int | None = None
        self._behind = False  # another process changed the store since the indexes were right
        store.holder.on_change(self._fall_behind)
        store.holder.on_quick_open(self._finish_opening_later)
        self._file = None if store.holder.in_memory else os.path.realpath(store.path)
        self._writes_seen = _writes_by_file.get(self._file, 0) if self._file else 0
        self._watchers: list[Any] = []

    def _forget(self) -> None:
        """Drop the index (it is reloaded from what the store holds) and any load under way."""
        self._generation += 1
        self._seq_seen = self._deletes_seen = None
        self._behind = False
        dropped, self._index = self._index, {}
        if sum(map(len, dropped.values())) > _LOAD_CHUNK:
            # Freeing a million keys takes 100 ms: not on the call that noticed the change.
            _in_background(lambda: _free_in_chunks(dropped))

    def _fall_behind(self) -> None:
        """Another process changed the store (the file was just reopened): the indexes are
        brought up to date before their next use, and a load under way is thrown away."""
        self._generation += 1
        self._behind = True

    def _loaded(self, name: str, con: Any) -> dict[str, None] | None:
        """The index of ``name`` if it is loaded and still right, else None."""
        if self._file is not None and _writes_by_file.get(self._file, 0) != self._writes_seen:
            self._forget()  # another Instance of this process wrote to the same file
            self._writes_seen = _writes_by_file.get(self._file, 0)
        if self._behind:
            self._catch_up(con)
        return self._index.get(name)

    def _catch_up(self, con: Any) -> None:
        """Bring the loaded indexes up to date with another process's changes: add the keys
        it added (the rows past the highest ``seq`` seen), unless it deleted any, which drops
        them. Most changes are no partition change at all (a run in another kernel): then
        this is one short read, where reloading a million keys took half a second."""
        self._behind = False
        deletes = self.store.holder.meta.get("partition_deletes")
        if not self._index or self._seq_seen is None or deletes is None or deletes != self._deletes_seen:
            self._forget()
            return
        # Filtered and ordered here: DuckDB's ORDER BY and a filter on the definitions cost a
        # third more on this read, which the first check after another process wrote waits for.
        rows = con.execute("SELECT def_name, key, seq FROM partitions WHERE seq > ?", [self._seq_seen]).fetchall()
        rows.sort(key=itemgetter(2))
        for def_name, key, _ in rows:
            index = self._index.get(def_name)
            if index is not None:
                index[key] = None
        if rows:
            self._seq_seen = rows[-1][2]

    def _loaded_now(self, con: Any, name: str, index: dict[str, None]) -> None:
        """``index`` holds every key of ``name`` as of now (the caller holds the store)."""
        self._index[name] = index
        if self._seq_seen is None:  # the first index since the indexes were last right
            self._seq_seen = con.execute("SELECT coalesce(max(seq), 0) FROM partitions").fetchall()[0][0]
            self._deletes_seen = self.store.holder.meta.get("partition_deletes")

    def _keys(self, con: Any, name: str) -> dict[str, None]:
        index = self._loaded(name, con)
        if index is None:
            # Python lists, not Arrow: a process that never builds a DataFrame never imports
            # pyarrow and pandas (100 MB and a third of a second), and this is not slower.
            rows = con.execute("SELECT key FROM partitions WHERE def_name = ? ORDER BY seq", [name]).fetchall()
            index = dict.fromkeys([row[0] for row in rows])
            self._loaded_now(con, name, index)
        return index

    # -- reads ---------------------------------------------------------------------------------
    def index(self, con: Any, name: str) -> dict[str, None]:
        """The keys as a read-only dict in order, within ``con``'s transaction (do not modify)."""
        return self._keys(con, name)

    def has(self, name: str, key: str) -> bool:
        # A quick use: if the check reopens the file, the work of opening that answers nothing
        # here (marking runs of dead processes) is done after it, in the background. Passed
        # by position (lock_timeout=None, quick=True): as keywords, through the context
        # manager, they cost a warm check (a dictionary lookup) 7 % more.
        with self.store.holder.use(None, True) as con:
            index = self._loaded(name, con)
            if index is not None:
                return key in index
            # No index yet (a new process, a reopen after another process wrote): ask for
            # this key, and have the index loaded in the background for the next checks.
            found = con.execute("SELECT 1 FROM partitions WHERE def_name = ? AND key = ? LIMIT 1",
                                [name, key]).fetchall()
            self._load_in_background(name)
            return bool(found)

    def _finish_opening_later(self) -> None:
        # Called by a quick use that opened the file, with the holder's lock held.
        _in_background(self._finish_opening)

    def _finish_opening(self) -> None:
        if not _exiting:
            self.store.holder.finish_opening()

    def _load_in_background(self, name: str) -> None:
        # Called with the holder's lock held (as are all changes of _index and _generation).
        if name in self._loading:
            return
        self._loading.add(name)
        _loads[id(self)] = self
        generation = self._generation
        _in_background(lambda: self._background_load(name, generation))

    def _background_load(self, name: str, generation: int) -> None:
        """Load the index of ``name`` a chunk at a time, in order of ``seq``; each chunk is
        its own short read, so the user's checks and writes get the store in between.

        A chunk is the keys whose ``seq`` falls in the next ``_LOAD_CHUNK`` values, not the
        next ``_LOAD_CHUNK`` keys (``ORDER BY seq LIMIT``): each add stores its rows sorted by
        key, so a large add's parts each hold ``seq`` values from all over its range, and a
        limit read all the rest of the add for every chunk (a million shuffled keys took
        2.2 s in all, by ranges 0.65 s). A range with no key of ``name`` (keys of other
        definitions, or deleted) is skipped to the next key there is."""
        index: dict[str, None] = {}
        after, last = 0, None
        try:
            while True:
                with self.store.holder.use_if_open() as con:
                    if con is None or self._generation != generation:
                        return  # released meanwhile (not worth waiting for a turn), or overtaken
                    if last is None:  # the first chunk: where the keys of name are
                        after, last = con.execute("SELECT coalesce(min(seq) - 1, 0), coalesce(max(seq), 0) "
                                                  "FROM partitions WHERE def_name = ?", [name]).fetchall()[0]
                    rows = con.execute(
                        "SELECT key FROM partitions WHERE def_name = ? AND seq > ? AND seq <= ? ORDER BY seq",
                        [name, after, after + _LOAD_CHUNK]).fetchall()
                    index.update(dict.fromkeys([row[0] for row in rows]))
                    after += _LOAD_CHUNK
                    if not rows and after < last:
                        skip_to = con.execute("SELECT min(seq) - 1 FROM partitions WHERE def_name = ? AND seq > ?",
                                              [name, after]).fetchall()[0][0]
                        after = last if skip_to is None else skip_to
                    if after >= last:
                        if name not in self._index:
                            self._loaded_now(con, name, index)
                        return
                time.sleep(0)  # let a waiting thread have the store before the next chunk
        finally:
            with self.store.holder._lock:
                self._loading.discard(name)
                if not self._loading:
                    _loads.pop(id(self), None)

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
                rows = con.execute(
                    f"SELECT key FROM partitions WHERE {' AND '.join(where)} ORDER BY seq", params
                ).fetchall()
            except duckdb.InvalidInputException as exc:
                if regex is None:
                    raise
                from nbflow.partitions.dynamic import PartitionsError

                raise PartitionsError(
                    f"regex={regex!r} is not a valid regular expression (RE2 syntax, as in DuckDB's "
                    f"regexp_matches): {exc}"
                ) from None
        return [cast(str, row[0]) for row in rows]

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

    def closest(self, name: str, key: str, n: int = 5, con: Any = None) -> list[str]:
        """Up to ``n`` keys of ``name`` closest to ``key`` (for "did you mean"), closest first.

        Candidates are the keys most similar to ``key`` by Jaro-Winkler (ignoring case), plus
        those of about its length sharing its first or its last half: one typo leaves one half
        intact, which Jaro-Winkler alone misses in long keys with repeated characters. The
        candidates are ranked by edit distance, then similarity, then insertion order. Runs in
        DuckDB over the stored keys (about 0.1-0.2 s for a million), within ``con``'s
        transaction when given (so keys added earlier in it count).
        """
        if con is not None:
            return self._closest(con, name, key, n)
        with self.store.holder.use() as con:
            return self._closest(con, name, key, n)

    @staticmethod
    def _closest(con: Any, name: str, key: str, n: int) -> list[str]:
        half = len(key) // 2
        rows = con.execute(
            "WITH keys AS (SELECT key, seq FROM partitions WHERE def_name = $name), "
            "near AS ((SELECT key, seq FROM keys ORDER BY "
            "          jaro_winkler_similarity(lower(key), lower($key)) DESC, seq LIMIT $wide) "
            "        UNION (SELECT key, seq FROM keys WHERE abs(length(key) - length($key)) <= 2 "
            "          AND (starts_with(key, $head) OR ends_with(key, $tail)) ORDER BY seq LIMIT $cap)) "
            "SELECT key FROM near ORDER BY levenshtein(lower(key), lower($key)), "
            "jaro_winkler_similarity(lower(key), lower($key)) DESC, seq LIMIT $n",
            {"name": name, "key": key, "head": key[:half], "tail": key[half:], "wide": max(4 * n, 50),
             "cap": _HALF_MATCH_CAP, "n": n},
        ).fetchall()
        return [row[0] for row in rows]

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
            self._rolled_back()
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
        from nbflow.partitions.keys import validate_keys

        # Every way of adding keys ends here, so they are checked here (before anything else:
        # a key that is no str may not even be hashable).
        validate_keys(keys, "partition key")
        index = self._keys(con, name)
        wanted = list(dict.fromkeys(keys))
        if index:
            new = [k for k in wanted if k not in index]
            result = AddResult(new, [k for k in wanted if k in index])
        else:  # the first add of a definition: every key is new
            new, result = wanted, AddResult(wanted, [])
        if not new:
            return result
        now = time.time()
        sort = len(new) > _ONE_VECTOR
        _keys_table(con, "_nbflow_new_keys", new, numbered=sort)
        # A key that comes back after a delete starts as missing, unless asked to restore
        # what was materialized for it before (valid_from in the past).
        valid_from = "'-infinity'::TIMESTAMPTZ" if restore_outputs else "to_timestamp($now)"
        if sort:
            # The rows are stored sorted by key: DuckDB keeps each row group's smallest and
            # largest key (its zonemap), so looking up one key without the index (the first
            # check of a new process) skips all but a few row groups whatever order the keys
            # came in; a million keys added shuffled were scanned whole (30-60 ms). ``seq``
            # still follows the order given: the n values taken from the sequence are numbered
            # smallest first and the i-th goes to the i-th key, as the calls of nextval need
            # not follow the order of the rows (DuckDB may evaluate them in several threads).
            # Keys given in order are already sorted: ordering by position is cheaper.
            order = "k.pos" if _in_order(new) else "k.key"
            con.execute(
                "INSERT INTO partitions "
                "WITH taken AS (SELECT nextval('partition_seq') AS seq FROM range($n)), "
                "numbered AS (SELECT seq, row_number() OVER (ORDER BY seq) - 1 AS pos FROM taken) "
                f"SELECT $name, k.key, numbered.seq, to_timestamp($now), {valid_from} "
                f"FROM _nbflow_new_keys k JOIN numbered USING (pos) ORDER BY {order}",
                {"name": name, "now": now, "n": len(new)})
        else:
            # One vector of rows is one call of nextval, in one thread, through the rows in
            # order. Sorting would not let a check skip anything (such an add shares its row
            # group with others) and costs 1-2 ms.
            con.execute(
                "INSERT INTO partitions SELECT $name, key, nextval('partition_seq'), to_timestamp($now), "
                f"{valid_from} FROM _nbflow_new_keys", {"name": name, "now": now})
        con.execute(
            "INSERT INTO partition_events SELECT $name, key, 'add', to_timestamp($now), $source, $sid "
            "FROM _nbflow_new_keys", {"name": name, "now": now, "source": source, "sid": source_id})
        con.execute("DROP TABLE temp._nbflow_new_keys")
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
        index = self._keys(con, name)
        wanted = list(dict.fromkeys(keys))
        gone = [k for k in wanted if k in index]
        result = DeleteResult(gone, [k for k in wanted if k not in index])
        if not gone:
            return result
        _keys_table(con, "_nbflow_gone_keys", gone)
        con.execute(
            "DELETE FROM partitions WHERE def_name = $name AND key IN (SELECT key FROM _nbflow_gone_keys)",
            {"name": name})
        # Counted, so another process's index drops the keys it holds (see _catch_up); this
        # process's indexes are right, as they lose the keys below.
        counted = con.execute("UPDATE nbflow_meta SET value = value + 1 WHERE key = 'partition_deletes' "
                              "RETURNING value").fetchall()
        if counted:
            self.store.holder.meta["partition_deletes"] = self._deletes_seen = counted[0][0]
        con.execute(
            "INSERT INTO partition_events SELECT $name, key, 'delete', to_timestamp($now), $source, $sid "
            "FROM _nbflow_gone_keys", {"name": name, "now": time.time(), "source": source, "sid": source_id})
        con.execute("DROP TABLE temp._nbflow_gone_keys")

        for key in gone:
            index.pop(key, None)
        self._after_write(con)
        return result

    def _after_write(self, con: Any) -> None:
        # The index is updated at once, so a later add or delete in the same transaction (a
        # sensor tick applies several requests in one) sees this one; nothing else can read
        # it meanwhile, as the transaction holds the store. A rollback drops the index, so it
        # is reloaded from what the store really holds.
        self._generation += 1
        self.store.holder.after_commit(self._committed, on_rollback=self._rolled_back)

    def _rolled_back(self) -> None:
        # The index is reloaded from what the store really holds; the count of deletes this
        # process wrote did not commit either, and is read again on the next open.
        self.store.holder.meta.pop("partition_deletes", None)
        self._forget()

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
                self._forget()
            _writes_by_file[self._file] = self._writes_seen = current + 1


def _keys_table(con: Any, table: str, keys: list[str], numbered: bool = False) -> None:
    """A temporary table ``table(key)`` of ``keys`` in order, for set-based statements; with
    ``numbered``, ``table(key, pos)``, ``pos`` being the key's place in ``keys`` from 0 (the
    rowid is no such number: inside a transaction its rows' rowids start at a large offset).

    Up to a vector of keys goes to DuckDB as one list parameter, so a process that adds or
    deletes a few keys imports nothing for it; more go as NumPy columns, which DuckDB reads
    faster (a million keys: 0.4-0.6 s as a list). Neither imports pyarrow (nor pandas with
    it). The table is created inside the caller's transaction: if a statement fails, the
    rollback drops it.
    """
    if len(keys) <= _ONE_VECTOR and not numbered:
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT unnest($keys::VARCHAR[]) AS key", {"keys": keys})
        return
    columns = string_columns(key=keys)
    if numbered:
        import numpy as np

        columns["pos"] = np.arange(len(keys))
    view = f"{table}_given"
    with registered(con, view, columns):
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT key::VARCHAR AS key{', pos' if numbered else ''} "
                    f"FROM {view}")


def _in_order(keys: list[str]) -> bool:
    """Whether ``keys`` (distinct) are in increasing order: Python compares str by code point,
    as DuckDB compares VARCHAR by UTF-8 byte, so the two orders agree."""
    import operator
    from itertools import islice

    return all(map(operator.lt, keys, islice(keys, 1, None)))


def _free_in_chunks(indexes: dict[str, dict[str, None]]) -> None:
    """Free dropped indexes a chunk at a time, so other threads get the GIL in between."""
    while indexes and not _exiting:
        _, keys = indexes.popitem()
        while keys:
            for _ in range(min(_LOAD_CHUNK, len(keys))):
                keys.popitem()
            time.sleep(0)


def _failed_to_write(exc: BaseException) -> bool:
    """Whether DuckDB could not write the change to the file (a full disk, an I/O error).

    The transaction already rolled back; the error is the first one (a failed ROLLBACK after
    a failed COMMIT does not hide it, see ``ConnectionHolder.transaction``)."""
    import duckdb

    return isinstance(exc, duckdb.IOException | duckdb.TransactionException | OSError)
