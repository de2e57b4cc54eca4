"""RunView: a run's graph (live while it runs), its progress, and what each node did.

Click a node for its details; a mapped node lists its keys (paged and filtered in the
kernel: only the visible page travels). Buttons rerun a step, a key and what it feeds,
the failed steps, or selected keys; the view then follows the new run, linked to its parent.
"""

from __future__ import annotations

import pathlib
import threading
import time
from typing import TYPE_CHECKING, Any

import traitlets

from nbflow.definitions.status import Status
from nbflow.widgets import run_details
from nbflow.widgets.base import View, view_module
from nbflow.widgets.run_progress import DRAW_SECONDS, PUSH_SECONDS, RunProgress, Throttle

if TYPE_CHECKING:
    from nbflow.execution.events import RunStarted, StepRecord

STATIC = pathlib.Path(__file__).parent / "static"
PAGE_SIZE = 50
EXPAND_KEYS = 30


class RunView(View):
    """A view of one run: ``RunView(run)``, or just display a :class:`~nbflow.Run`.

    Examples
    --------
    >>> import nbflow as nf
    >>> @nf.op
    ... def hello():
    ...     return 1
    >>> @nf.job
    ... def hello_job():
    ...     hello()
    >>> view = RunView(hello_job.run(instance=nf.Instance.ephemeral()))
    >>> view.status, view.progress["done"]
    ('SUCCESS', 1)
    """

    _esm = view_module("run_view.js")
    _css = STATIC / "run_view.css"

    run_id = traitlets.Unicode("").tag(sync=True)
    job_name = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode(Status.PENDING.value).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    parent_run_id = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    children = traitlets.List(traitlets.Dict()).tag(sync=True)
    svg = traitlets.Unicode("").tag(sync=True)
    progress = traitlets.Dict().tag(sync=True)
    selected = traitlets.Dict().tag(sync=True)
    key_page = traitlets.Dict().tag(sync=True)
    expanded = traitlets.Dict().tag(sync=True)
    checked = traitlets.List(traitlets.Unicode()).tag(sync=True)  # keys ticked in the keys table

    def __init__(self, run: Any = None, instance: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance = instance if instance is not None else getattr(run, "instance", None)
        self.run: Any = None
        self.shape: dict[str, Any] = {}
        self._live: RunProgress | None = None
        self._push, self._draw = Throttle(PUSH_SECONDS), Throttle(DRAW_SECONDS)
        self._holding_output = False
        self._started: RunStarted | None = None  # the RunStarted record of the run this view follows
        self._ended: tuple[str, float, str | None] | None = None  # its recorded end
        self._lost = False
        if run is not None:
            self.show(run)

    @classmethod
    def live(cls, job: Any = None, instance: Any = None) -> RunView:
        """A view to pass as ``observer=`` to a launch; it follows the run from its start."""
        view = cls(instance=instance)
        if job is not None:
            from nbflow.viz.shape import shape_of

            view.shape, view.job_name = shape_of(job), job.name
            view.status = "STARTING"
            view._draw_graph({})
        return view

    # -- showing a stored run ------------------------------------------------------------------------
    def show(self, run: Any) -> None:
        """Show ``run`` (a Run or a run id) as stored now."""
        from nbflow.runtime.run import Run

        if not isinstance(run, Run):
            run = self._instance().get_run(run)
        self.run, self.instance = run, run.instance
        self.shape = _shape(run)
        record = run._record()
        summary = run.instance.store.step_summary(run.run_id)
        spans = _own_spans(summary)
        states = _states(summary, spans)
        with self.hold_sync():
            self.run_id, self.job_name, self.status = run.run_id, record["job_name"], record["status"]
            self.error = record["error"] if isinstance(record["error"], str) else ""
            self.parent_run_id = record["parent_run_id"]
            self.children = [{"run_id": c.run_id, "status": c.status} for c in run.children()]
            self.progress = _progress(summary, record, spans)
            self.key_page, self.selected = {}, {}
            self._draw_graph(states)
        self.refresh_static()

    def _instance(self) -> Any:
        if self.instance is None:
            from nbflow.runtime.instance import instance

            self.instance = instance()
        return self.instance

    def _draw_graph(self, states: dict[str, Any]) -> None:
        from nbflow import viz
        from nbflow.viz.dot import Expanded

        expanded: dict[str, Any] = {}
        spec = self.expanded
        if spec.get("node") and self.run is not None:
            page = run_details.keys_page(self.run, spec["node"], spec.get("status"), spec.get("text"), 0,
                                         EXPAND_KEYS)
            what = (spec.get("status") or "").lower() or "first"
            expanded[spec["node"]] = Expanded([(r["key"], r["status"]) for r in page["rows"]], page["total"], what)
        try:
            self.svg = viz.render_svg(viz.job_dot(self.shape, states, expanded, self.selected.get("node")))
        except Exception as exc:  # no dot executable, or Graphviz refused: say so, keep the rest
            self.svg = f"<pre class='nbflow-graph-error'>{type(exc).__name__}: {exc}</pre>"

    # -- following a run in flight (the launch's observer) ----------------------------------------------
    def on_start(self, run_id: str, instance: Any, started: RunStarted) -> None:
        """The run ``started`` (a :class:`~nbflow.execution.events.RunStarted`) begins: follow it
        from what the launch knows, without reading it back from the store."""
        from nbflow.runtime.run import Run

        self.instance = instance
        self.run = Run(instance, run_id)
        self._started, self._ended, self._lost = started, None, False
        self.shape = dict(started.shape)
        self._live = RunProgress(started.topology)
        self._holding_output = bool(self._static_displays)  # displayed in a notebook
        if self._holding_output:
            from nbflow import capture

            # What the steps print stays in their logs (the view shows them), not under the cell.
            capture.hold_back_steps_output()
        with self.hold_sync():
            self.run_id, self.job_name, self.status = run_id, started.job_name, Status.STARTED.value
            self.parent_run_id = started.parent_run_id
            self.children, self.selected, self.key_page, self.error = [], {}, {}, ""
            self.progress = self._live.as_dict(live=True)
            self._draw_graph({})

    def on_step(self, record: StepRecord) -> None:
        live = self._live
        if live is None:
            return
        live.step(record[1], record[4], record[6], record[7])
        now = time.monotonic()
        if self._push.due(now):
            self._push_live(now)

    def on_item(self, node: str, output: str, key: str) -> None:
        if self._live is not None:
            self._live.item(node)

    def on_reused(self, step: tuple[str, str, str]) -> None:
        if self._live is not None:
            self._live.step(step[0], Status.SUCCESS.value)
            self._live.reused[step[0]] += 1

    def _push_live(self, now: float) -> None:
        from nbflow.viz.states import NodeState

        assert self._live is not None
        self.progress = self._live.as_dict(live=True)
        if self._draw.due(now):
            states = {node: NodeState(dict(counts), None, self._live.reused.get(node, 0))
                      for node, counts in self._live.counts.items()}
            for node in self._live.yielding - set(states):  # a fan-out op still yielding its items
                states[node] = NodeState({Status.STARTED.value: 1})
            self._draw_graph(states)

    def on_run_recorded(self, status: str, end: float, error: str | None) -> None:
        """The executor recorded the run's end (before ``on_finish``)."""
        self._ended = (status, end, error)

    def on_detached(self) -> None:
        """This view stopped following the run (one of its updates failed): its counts are partial."""
        self._lost = True

    def on_finish(self, status: str) -> None:
        live, self._live = self._live, None
        if self._holding_output:
            from nbflow import capture

            self._holding_output = False
            lines = capture.release_steps_output()
            if lines:
                print(f"{lines:,} line{'s' if lines != 1 else ''} printed by the steps of run {self.run_id[:8]} "
                      f"{'are' if lines != 1 else 'is'} in their logs: click an op in the view, then a key "
                      f"(or run.logs()).")
        if live is not None and self._followed_whole_run():
            self._show_followed(live, status)
        elif self.run is not None:
            self.show(self.run)  # the final picture comes from the store
        self.status = status
        if status == Status.CANCELED:
            p = self.progress
            self.message = (f"Canceled: {p.get('done', 0)} steps finished and are kept, {p.get('canceled', 0)} "
                            f"did not finish. 'Finish this run' reruns only those.")
        self.refresh_static()  # what a saved notebook shows: the run as it ended

    def _followed_whole_run(self) -> bool:
        """Every step of the run went through this view: it ended normally, the view never
        lost track, and no step was copied from a parent in the store."""
        started = self._started
        return (started is not None and self._ended is not None and not self._lost
                and not started.copies_from_parent)

    def _show_followed(self, live: RunProgress, status: str) -> None:
        """The run as it ended, from what this view followed: nothing to read back."""
        assert self._started is not None and self._ended is not None
        _, end, error = self._ended
        with self.hold_sync():
            self.status, self.error = status, error or ""
            self.progress = live.final_progress(round(max(0.0, end - self._started.start), 1))
            self.key_page, self.selected = {}, {}
            self._draw_graph(live.final_states())

    # -- what the front end asks for ---------------------------------------------------------------
    def _do_select(self, node: str, key: str | None = None) -> None:
        if self.run is None or node not in self.shape:
            self.message = f"No op {node!r} in this run's job."
            return
        if key is None:
            summary = self.run.instance.store.step_summary(self.run_id)
            self.selected = run_details.node_details(self.run, node, self.shape[node], summary)
            if self.shape[node].is_mapped:
                self._do_keys(node)
        else:
            self.selected = run_details.step_details(self.run, node, key)
        self.message = ""

    def _do_keys(self, node: str, page: int = 0, status: str = "", text: str = "", step: int = 0) -> None:
        assert self.run is not None
        shown = self.key_page
        if node != shown.get("node"):
            self.checked = []
        elif step and (status, text) == (shown.get("status"), shown.get("text")):
            # The next or previous page of the keys shown when the click is handled: clicks
            # faster than the view redraws each move one page.
            page = min(int(shown.get("page", 0)) + int(step), int(shown.get("pages", 1)) - 1)
        self.key_page = run_details.keys_page(self.run, node, status, text, page, PAGE_SIZE)

    def _do_expand(self, node: str, status: str = "", text: str = "") -> None:
        self.expanded = {"node": node, "status": status, "text": text}
        self.show(self.run)

    def _do_collapse(self) -> None:
        self.expanded = {}
        self.show(self.run)

    def _do_open(self, run_id: str) -> None:
        self.expanded = {}
        self.show(run_id)

    def _do_rerun_step(self, node: str, key: str | None = None) -> None:
        self._rerun(node, [key] if key is not None else None, downstream=False)

    def _do_rerun_downstream(self, node: str, key: str | None = None) -> None:
        self._rerun(node, [key] if key is not None else None, downstream=True)

    def _do_rerun_selected(self, node: str) -> None:
        if not self.checked:
            self.message = "Tick keys in the table first."
            return
        keys, self.checked = list(self.checked), []
        self._rerun(node, keys, downstream=True)

    def _do_rerun_failed(self) -> None:
        self._rerun(None, None, downstream=True, failed=True)

    def _do_finish(self) -> None:
        """Finish a canceled or interrupted run: rerun what did not finish, keep the rest."""
        self._rerun(None, None, downstream=True, failed=True)

    def _do_cancel(self) -> None:
        from nbflow.runtime.background import LIVE

        execution = LIVE.get(self.run_id)
        if execution is None:
            self.message = "This run is not running in this kernel: nothing to cancel."
            return
        self.message = "Canceling: no new steps start, running ones are stopped, finished ones are kept…"
        # Canceling waits for the run to record its end (a few seconds at most); the click
        # answers at once and the view shows the end when it comes (on_finish).
        threading.Thread(target=execution.cancel, args=("the run was canceled",), daemon=True,
                         name=f"nbflow-cancel-{self.run_id[:8]}").start()

    def _rerun(self, node: str | None, keys: list[str] | None, downstream: bool, failed: bool = False) -> None:
        from nbflow.runtime.rerun import rerun

        assert self.run is not None
        self.busy = "rerun"
        parent = self.run
        # In the background: the click answers at once, the view follows the child, and its
        # Cancel button works while it runs.
        rerun(parent, node, keys, downstream, failed, observer=self, background=True, wait=False)
        what = "failed steps" if failed else (f"{node}" + (f" {keys}" if keys else ""))
        self.message = f"Rerun of {what}: new run {self.run_id[:8]}, child of {parent.run_id[:8]}."

    # -- display -----------------------------------------------------------------------------------
    def static_html(self) -> str:
        return run_details.static_html(self)

    def plain_text(self) -> str:
        return f"<RunView of {self.job_name}>"  # fixed at display time: the picture above has the state

def _shape(run: Any) -> dict[str, Any]:
    from nbflow.viz.shape import shape_from_json, shape_from_steps, shape_of

    if run._job is not None:  # the job this run was launched with, in this process
        return shape_of(run._job)
    stored = run.instance.store.graph_shape(run.run_id)
    if stored:
        return shape_from_json(stored)
    return shape_from_steps(run.steps())


def _own_spans(summary: Any) -> Any:
    """Per op, the first start and last end of the steps this run executed itself: a rerun's
    reused steps carry their parent's times, which are not this run's."""
    own = summary[summary.own_start.notna()] if len(summary) else summary
    return own.groupby("op").agg(start_time=("own_start", "min"), end_time=("own_end", "max"))


def _states(summary: Any, spans: Any) -> dict[str, Any]:
    from nbflow.viz.states import NodeState

    states: dict[str, NodeState] = {}
    for row in summary.itertuples():
        state = states.setdefault(row.op, NodeState())
        state.counts[row.status] = int(row.n)
        state.reused += int(row.reused)
    for op, span in spans.iterrows():  # a node whose steps were all reused has no time of its own
        if op in states and span.start_time == span.start_time and span.end_time == span.end_time:  # NaT != NaT
            states[op].duration = max(0.0, (span.end_time - span.start_time).total_seconds())
    return states


def _progress(summary: Any, record: dict[str, Any], spans: Any) -> dict[str, Any]:
    recorded = int(summary.n.sum()) if len(summary) else 0
    by_status = summary.groupby("status").n.sum().to_dict() if len(summary) else {}
    canceled = int(by_status.get(Status.CANCELED, 0))  # of a canceled run: not done, and shown as such
    return {"done": recorded - canceled, "total": recorded, "canceled": canceled,
            "failed": int(by_status.get(Status.FAILURE, 0)),
            "skipped": int(by_status.get(Status.SKIPPED, 0)), "elapsed": _elapsed(record, spans),
            "reused": int(summary.reused.sum()) if len(summary) else 0, "live": False}


def _elapsed(record: dict[str, Any], spans: Any) -> float:
    """How long this run took: its own start to end, else the span of the steps it executed."""
    start, end = record.get("start_time"), record.get("end_time")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and start == start and end == end:
        return round(max(0.0, end - start), 1)
    if len(spans):
        first, last = spans.start_time.min(), spans.end_time.max()
        if first == first and last == last:
            return round(max(0.0, float((last - first).total_seconds())), 1)
    return 0.0
