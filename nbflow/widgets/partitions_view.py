"""PartitionsView: the keys of a dynamic partitions definition, with status, paged and filtered.

Add keys (one per line, validated as typed into the store would be), delete selected
keys (after a confirmation), materialize selected keys, and read the add/delete history.
Only the visible page travels to the browser; the view refreshes itself after every
partition change made in this kernel (a cell, a sensor tick, this view).
"""

from __future__ import annotations

import html
import pathlib
import threading
from typing import TYPE_CHECKING, Any

import traitlets

from nbflow.widgets import partitions_data as data
from nbflow.widgets.base import View, view_module

if TYPE_CHECKING:
    from nbflow.store.partitions import AddResult

STATIC = pathlib.Path(__file__).parent / "static"
PAGE_SIZE = 50
HISTORY_ROWS = 50


class PartitionsView(View):
    """A view of a :class:`~nbflow.DynamicPartitionsDefinition`; display the definition, or
    ``PartitionsView(episodes, target=episode_job)`` for the status of one job or asset list.

    Examples
    --------
    >>> import nbflow as nf
    >>> inst = nf.Instance.ephemeral()
    >>> episodes = nf.DynamicPartitionsDefinition("episodes")
    >>> _ = episodes.add(["ep-1", "ep-2"], instance=inst)
    >>> view = PartitionsView(episodes, instance=inst)
    >>> view.count, [row["key"] for row in view.rows]
    (2, ['ep-1', 'ep-2'])
    """

    _esm = view_module("partitions_view.js")
    _css = STATIC / "partitions_view.css"

    name = traitlets.Unicode("").tag(sync=True)
    count = traitlets.Int(0).tag(sync=True)
    matched = traitlets.Int(0).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    pages = traitlets.Int(1).tag(sync=True)
    filter_text = traitlets.Unicode("").tag(sync=True)
    filter_regex = traitlets.Bool(False).tag(sync=True)
    filter_error = traitlets.Unicode("").tag(sync=True)
    columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    checked = traitlets.List(traitlets.Unicode()).tag(sync=True)
    add_errors = traitlets.List(traitlets.Dict()).tag(sync=True)
    confirming = traitlets.Bool(False).tag(sync=True)
    can_materialize = traitlets.Unicode("").tag(sync=True)  # the job's name, or "" when there is none
    history = traitlets.List(traitlets.Dict()).tag(sync=True)
    show_history = traitlets.Bool(False).tag(sync=True)
    highlight = traitlets.List(traitlets.Unicode()).tag(sync=True)  # keys just added or looked for

    def __init__(self, partitions_def: Any, target: Any = None, instance: Any = None, **kwargs: Any) -> None:
        from nbflow.sensors.definition import _instance

        super().__init__(**kwargs)
        self.partitions_def, self.target = partitions_def, target
        self.instance = _instance(instance)
        self.name = partitions_def.name
        self._lock = threading.RLock()
        self._filter_sent = float("-inf")  # when the filter applied last was sent (see _do_filter)
        self.instance.store.partitions.watch(self._changed)
        self.refresh()

    # -- what the kernel shows ----------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the count, the current page with its status, and (if shown) the history."""
        with self._lock:
            job = data.materialize_target(self.partitions_def, self.target)
            columns = data.columns_for(self.instance, self.partitions_def, self.target)
            try:
                keys, matched = data.page_keys(self.instance, self.name, self.filter_text, self.filter_regex,
                                               self.page * PAGE_SIZE, PAGE_SIZE)
                error = ""
            except ValueError as exc:  # a bad regular expression: say so under the filter
                keys, matched, error = [], 0, str(exc)
            status = data.page_status(self.instance, self.partitions_def, columns, keys)
            with self.hold_sync():
                self.count = self.instance.count_dynamic_partitions(self.name)
                self.matched, self.filter_error = matched, error
                self.pages = max(1, -(-matched // PAGE_SIZE))
                self.columns = [name for _, name in columns]
                self.rows = [{"key": k, "status": status.get(k, {})} for k in keys]
                self.can_materialize = job.name if job is not None else ""
                if self.show_history:
                    self.history = _history(self.instance, self.name)
        self.refresh_static()

    def _changed(self) -> None:
        self.refresh()

    # -- what the buttons do ------------------------------------------------------------------------
    def _do_filter(self, text: str = "", regex: bool = False, sent: float | None = None) -> None:
        # Under the lock: a refresh going on in another thread (a key added by another kernel)
        # read the old filter, and must not land its rows after the ones for the new filter.
        with self._lock:
            # ``sent``: when the front end sent it. Typing a pattern and then ticking "regex"
            # sends two filters at once; should the kernel handle them out of order (on two
            # threads), the older one must not replace the newer.
            if sent is not None:
                if sent <= self._filter_sent:
                    return
                self._filter_sent = sent
            self.filter_text, self.filter_regex, self.page, self.highlight = text, bool(regex), 0, []
            self.message = ""  # what an earlier action said is about another list
            self.refresh()

    def _do_page(self, page: int | None = None, step: int = 0) -> None:
        # ``step``: the next or previous page, counted from the page shown when the click is
        # handled, so clicks faster than the view redraws each move one page.
        wanted = self.page + int(step) if page is None else int(page)
        self.page = max(0, min(wanted, self.pages - 1))
        self.highlight, self.message = [], ""
        self.refresh()

    def go_to_key(self, key: str) -> int | None:
        """Show the page holding ``key`` (in the filtered list if it matches the filter, else with
        the filter cleared), highlighted; return its position, or None if there is no such key."""
        key = str(key)
        position = data.key_position(self.instance, self.name, key, self.filter_text, self.filter_regex)
        cleared = ""
        if position is None and self.filter_text:
            position = data.key_position(self.instance, self.name, key, "", False)
            if position is not None:
                cleared, self.filter_text, self.filter_regex = self.filter_text, "", False
        if position is None:
            self.message = f"No key {key!r} in {self.name}."
            return None
        self.page, self.highlight = position // PAGE_SIZE, [key]
        self.refresh()
        self.message = f"{key!r} is {self._where(position)}" + (
            f" (filter {cleared!r} cleared: it does not match)." if cleared else ".")
        return position

    def _where(self, position: int) -> str:
        return f"key {position + 1:,} of {self.matched:,}, on page {self.page + 1:,} of {self.pages:,}"

    def _do_find(self, key: str) -> None:
        self.go_to_key(key)

    def _do_refresh(self) -> None:
        self.refresh()

    def add(self, text: str) -> list[str]:
        """Add the keys typed one per line; nothing is added if any line is not a valid key."""
        keys, errors = data.check_lines(text)
        self.add_errors = errors
        if errors:
            lines = ", ".join(str(e["line"]) for e in errors)
            self.message = f"Nothing added: line{'s' if len(errors) > 1 else ''} {lines} not valid (see below)."
            return []
        if not keys:
            self.message = "Type keys to add, one per line."
            return []
        result: AddResult = self.instance.add_dynamic_partitions(self.name, keys, source="widget")
        existing = len(result.existing)
        said = f"Added {_keys(len(result.added))}" + (
            f"; {existing} {'was' if existing == 1 else 'were'} there already" if existing else "")
        shown = result.added or result.existing
        # Show where the keys went: new keys come last, so usually on another page than this one.
        position = self.go_to_key(shown[0]) if shown else None
        if position is None:
            self.refresh()
            self.message = said + "."
            return result.added
        self.highlight = list(shown[:PAGE_SIZE])
        first = "" if len(shown) == 1 else "the first, "
        self.message = f"{said}: {first}{shown[0]!r}, is {self._where(position)}."
        return result.added

    def _do_add(self, text: str) -> None:
        self.add(text)

    def _do_delete(self) -> None:
        if not self.checked:
            self.message = "Tick keys to delete first."
            return
        self.confirming = True
        self.message = f"Delete {_keys(len(self.checked))}? Their stored outputs are kept."

    def _do_cancel_delete(self) -> None:
        self.confirming, self.message = False, ""

    def _do_confirm_delete(self) -> None:
        keys = list(self.checked)
        result = self.instance.delete_dynamic_partitions(self.name, keys, source="widget")
        self.confirming, self.checked = False, []
        self.message = f"Deleted {_keys(len(result.deleted))}."
        self.refresh()

    def _do_materialize(self) -> None:
        job = data.materialize_target(self.partitions_def, self.target)
        if job is None:
            self.message = ("No single job to run: display PartitionsView(definition, target=the_job) "
                            "to materialize from here.")
            return
        if not self.checked:
            self.message = "Tick keys to materialize first."
            return
        self.busy = "materialize"
        keys, self.checked = list(self.checked), []
        result = job.backfill(partition_keys=keys, instance=self.instance, progress=False)
        self.message = f"Ran {job.name} for {_keys(len(keys))}: {result!r}"
        self.refresh()

    def _do_history(self, show: bool = True) -> None:
        self.show_history = bool(show)
        self.history = _history(self.instance, self.name) if show else []

    def static_html(self) -> str:
        return static_html(self)

def _keys(n: int) -> str:
    return f"{n} key" if n == 1 else f"{n} keys"


def _history(instance: Any, name: str) -> list[dict[str, Any]]:
    # Only the newest rows: a definition of a million keys has a history at least as long.
    from nbflow.store.queries import newest_partition_events

    frame = newest_partition_events(instance.store, name, HISTORY_ROWS)
    return [{"time": f"{r.ts:%Y-%m-%d %H:%M:%S}", "key": r.key, "action": r.action,
             "source": r.source if isinstance(r.source, str) else ""} for r in frame.itertuples()]


def static_html(view: PartitionsView) -> str:
    """What an executed notebook shows without a kernel: the count and the first page."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in view.columns)
    body = "".join(
        "<tr><td>" + html.escape(row["key"]) + "</td>"
        + "".join(f"<td>{html.escape(row['status'].get(c, ''))}</td>" for c in view.columns) + "</tr>"
        for row in view.rows[:20])
    more = f"<div>… and {view.count - 20} more</div>" if view.count > 20 else ""
    return (f"<div class='nbflow-partitions-static'><b>{html.escape(view.name)}</b>: {view.count} keys"
            f"<table><tr><th>key</th>{head}</tr>{body}</table>{more}</div>")
