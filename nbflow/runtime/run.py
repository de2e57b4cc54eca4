"""Handles on stored runs: :class:`Run` and Dagster's ``ExecuteInProcessResult``."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, cast

from nbflow import hooks
from nbflow.definitions.compose import DynSource
from nbflow.definitions.status import TERMINAL_RUN_STATES, Status
from nbflow.errors import OutputNotFoundError, did_you_mean

if TYPE_CHECKING:
    from nbflow.definitions.graph import JobDefinition
    from nbflow.runtime.instance import Instance


class Run:
    """One stored run. Everything reads from the store, so it works for any past run,
    also after a kernel restart: ``nbflow.instance().get_run(run_id)``.

    Examples
    --------
    >>> run = my_job.run()                           # doctest: +SKIP
    >>> run.output("double", key="k1")               # doctest: +SKIP
    """

    _live_view: Any = None  # the live view job.run() showed for this run, if any
    _live_count: int | None = None  # ... in which cell (IPython execution count)
    _execution: Any = None  # the coordinator of a run started in this process, while it is known

    def __init__(self, instance: Instance, run_id: str, job: JobDefinition | None = None, outcome: Any = None,
                 record: dict[str, Any] | None = None) -> None:
        self.instance = instance
        self.run_id = run_id
        self._job = job
        self._outcome = outcome
        self._row: dict[str, Any] | None = record  # the run's row, if the caller just read it

    # -- record ----------------------------------------------------------------------------------
    def _record(self) -> dict[str, Any]:
        if self._row is None or self._row["status"] not in TERMINAL_RUN_STATES:
            self._row = self.instance.store.run_row(self.run_id)
        return self._row

    @property
    def status(self) -> str:
        """``STARTED`` while the run goes on, then ``SUCCESS``, ``FAILURE`` or ``CANCELED``."""
        if self._execution is not None and self._execution.running:
            return Status.STARTED.value
        return cast(str, self._record()["status"])

    @property
    def is_running(self) -> bool:
        """True while a run started in this process is still going on."""
        return self._execution is not None and self._execution.running

    # -- waiting and canceling -----------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> Run:
        """Wait until the run ends (at most ``timeout`` seconds) and return it.

        Interrupting the wait (Jupyter's interrupt button, Ctrl-C) cancels the run: what
        finished stays stored, and ``run.rerun(failed=True)`` finishes the rest.

        Examples
        --------
        >>> run = my_job.run(wait=False)     # doctest: +SKIP
        >>> run.wait(timeout=60).status      # doctest: +SKIP
        'SUCCESS'
        """
        execution = self._execution
        if execution is None:
            return self
        try:
            finished = execution.wait(timeout)
        except KeyboardInterrupt:
            from nbflow.runtime.background import RunInterrupted, summary

            execution.cancel("the run was interrupted")
            self._row = None
            raise RunInterrupted(summary(self), self) from None
        if finished:
            self._row = None
            error = execution.error
            if isinstance(error, KeyboardInterrupt):  # an op itself was interrupted
                from nbflow.runtime.background import RunInterrupted, summary

                raise RunInterrupted(summary(self), self) from None
            if error is not None:
                raise error
        return self

    def cancel(self) -> Run:
        """Cancel the run: start no more steps, stop running ones, keep every finished step.

        Returns once the run is recorded CANCELED (a few seconds at most).
        ``run.rerun(failed=True)`` later finishes what was canceled.
        """
        execution = self._execution
        if execution is None or not execution.running:
            return self
        execution.cancel("the run was canceled")
        self._row = None
        return self

    @property
    def success(self) -> bool:
        return self.status == Status.SUCCESS

    @property
    def job_name(self) -> str:
        return cast(str, self._record()["job_name"])

    @property
    def tags(self) -> dict[str, str]:
        return cast("dict[str, str]", self._record()["tags"])

    @property
    def run_config(self) -> dict[str, Any]:
        return cast("dict[str, Any]", self._record()["run_config"])

    @property
    def error(self) -> str | None:
        return cast("str | None", self._record()["error"])

    # -- contents --------------------------------------------------------------------------------
    def steps(self) -> Any:
        """One row per step: key, op, mapping key, status, attempts, times, error, code version."""
        return self.instance.store.steps(self.run_id)

    def logs(self, step_key: str | None = None) -> Any:
        """Captured ``print``/``logging``/``context.log`` output and engine events."""
        return self.instance.store.logs(self.run_id, step_key)

    def output(self, op: str, key: str | None = None, output_name: str = "result") -> Any:
        """The stored value of an op's output.

        For a mapped op, ``key=None`` gives ``{mapping_key: value}`` in yield order and
        ``key="k"`` the value for one key.
        """
        store = self.instance.store
        node_name, output_name = self._resolve(op, output_name)
        mapped = self._is_mapped(node_name) or self._is_dynamic(node_name, output_name)
        rows = store.output_rows(self.run_id, node_name, output_name, key, mapped)
        if not rows and key is None and mapped and self._fanned_out_nothing(node_name):
            return {}  # a fan-out with no items: no keys, not a missing output
        if not rows:
            raise OutputNotFoundError(self._missing_message(node_name, key, output_name))
        if key is None and mapped:
            return {k: v for k, v in rows}
        return rows[0][1]

    def _resolve(self, op: str, output_name: str) -> tuple[str, str]:
        if self._job is not None and (op in self._job.nodes or op in self._job.graph_outputs):
            return self._job.resolve_output(op, output_name)
        return op, output_name

    def _fanned_out_nothing(self, node_name: str) -> bool:
        """The op belongs to this run's job, and the fan-out it hangs off yielded no item."""
        if self._job is None or node_name not in self._job.nodes:
            return False
        node = self._job.nodes[node_name]
        source = node.scope.node if node.scope is not None else node_name
        from nbflow.store.queries import count_succeeded_steps

        return count_succeeded_steps(self.instance.store, self.run_id, source) > 0

    def _is_dynamic(self, node_name: str, output_name: str) -> bool:
        if self._job is not None and node_name in self._job.nodes:
            out = self._job.nodes[node_name].op.outs.get(output_name)
            return bool(out is not None and out.is_dynamic)
        from nbflow.store.queries import has_keyed_outputs

        return has_keyed_outputs(self.instance.store, self.run_id, node_name, output_name)

    def _is_mapped(self, node_name: str) -> bool:
        if self._job is not None and node_name in self._job.nodes:
            return self._job.nodes[node_name].is_mapped
        from nbflow.store.queries import has_mapped_steps

        return has_mapped_steps(self.instance.store, self.run_id, node_name)

    def _missing_message(self, node: str, key: str | None, output_name: str) -> str:
        ops = self.instance.store.job_nodes(self.run_id)
        if node not in ops:
            return f"Run {self.run_id[:8]} has no op '{node}'. {did_you_mean(node, ops)}"
        where = f"op '{node}'" + (f" for mapping key {key!r}" if key is not None else "")
        from nbflow.store.queries import step_statuses

        steps = step_statuses(self.instance.store, self.run_id, node, key, limit=5)
        if not steps:
            return f"No outputs found for output '{output_name}' from {where} in run {self.run_id[:8]}: no such step ran."
        statuses = ", ".join(f"{step_key}: {status}" for step_key, status in steps)
        return (
            f"No outputs found for output '{output_name}' from {where} in run {self.run_id[:8]} "
            f"({statuses})."
        )

    # -- lineage and reruns ----------------------------------------------------------------
    @property
    def parent_run_id(self) -> str | None:
        return cast("str | None", self._record()["parent_run_id"])

    @property
    def root_run_id(self) -> str:
        return self._record()["root_run_id"] or self.run_id

    @property
    def parent(self) -> Run | None:
        """The run this one reran, or None."""
        parent_id = self.parent_run_id
        return None if parent_id is None else Run(self.instance, parent_id)

    def children(self) -> list[Run]:
        """The reruns of this run, oldest first."""
        return [Run(self.instance, rid) for rid in self.instance.store.children(self.run_id)]

    def lineage(self) -> Any:
        """Every run in this run's family (its root and all reruns below it), as a DataFrame."""
        return self.instance.store.lineage(self.root_run_id)

    def rerun(
        self,
        op: str | None = None,
        keys: list[str] | None = None,
        downstream: bool = True,
        failed: bool = False,
        raise_on_error: bool = False,
        executor: Any = None,
        wait: bool = True,
    ) -> Run:
        """Run again what is asked; load everything else from this run's stored outputs.

        * ``rerun(failed=True)`` -- the failed, skipped and unfinished steps and what they feed;
        * ``rerun("op", keys=[...])`` -- those mapped keys; with ``downstream=True`` (the
          default) the same keys of the ops they feed, then the collects;
        * ``rerun("fanout_op")`` -- a fan-out op and everything it feeds, with its new keys;
        * ``rerun()`` -- the whole job, with the same config and partition.

        The code that runs is the kernel's current definition of every op. The new run
        links to this one (``parent``/``root_run_id``); reused steps show ``reused_from``.
        ``executor`` and ``wait`` work as for ``job.run()``.

        Examples
        --------
        >>> run.rerun(failed=True)                                   # doctest: +SKIP
        >>> run.rerun("transcribe", keys=["chunk_3"], downstream=True)  # doctest: +SKIP
        """
        child: Run = hooks.runtime().rerun(self, op, keys, downstream, failed, raise_on_error, executor, wait)
        return child

    # -- Dagster compatibility ---------------------------------------------------------------
    def as_execution_result(self) -> ExecuteInProcessResult:
        return ExecuteInProcessResult(self)

    def __repr__(self) -> str:
        return f"<Run {self.run_id[:8]} {self.job_name} {self.status}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        """A RunView in a notebook kernel; a static summary elsewhere.

        ``job.run()`` already showed a live view of this run, so the same cell showing
        the returned run adds one line instead of a second view.
        """
        shown = hooks.display()
        bundle = shown.mimebundle(self) if shown is not None else None
        return bundle if bundle is not None else {"text/plain": repr(self), "text/html": self._repr_html_()}

    def _display_(self) -> Any:
        """marimo's display protocol: the live view ``job.run()`` showed, else a RunView."""
        return self._live_view if self._live_view is not None else hooks.widget(self)

    def _repr_html_(self) -> str:
        steps = self.steps()
        counts = steps.groupby("status").size().to_dict() if len(steps) else {}
        summary = ", ".join(f"{n} {s.lower()}" for s, n in counts.items()) or "no steps"
        return (
            f"<div><b>Run</b> <code>{html.escape(self.run_id)}</code> of "
            f"<b>{html.escape(self.job_name)}</b>: <b>{self.status}</b> ({summary})</div>"
        )


class ExecuteInProcessResult:
    """What ``job.execute_in_process()`` returns, as in Dagster."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._outcome = run._outcome

    @property
    def success(self) -> bool:
        return self._outcome.status == Status.SUCCESS if self._outcome else self.run.success

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def dagster_run(self) -> Run:
        return self.run

    def output_for_node(self, node_str: str, output_name: str = "result") -> Any:
        """The output of a node; ``{mapping_key: value}`` for a mapped node."""
        job = self.run._job
        if job is None or self._outcome is None:
            return self.run.output(node_str, output_name=output_name)
        node_name, output_name = job.resolve_output(node_str, output_name)
        node = job.nodes[node_name]
        values = self._outcome.values
        out = node.op.outs.get(output_name)
        if node.is_mapped or (out is not None and out.is_dynamic):
            scope = node.scope or DynSource(node_name, output_name)
            keys = self._outcome.keys.get(scope, [])
            found = {k: values[(node_name, output_name, k)] for k in keys if (node_name, output_name, k) in values}
            if found and len(found) == len(keys):
                return found
        elif (node_name, output_name, None) in values:
            return values[(node_name, output_name, None)]
        try:  # a rerun reuses outputs it did not compute: they are in the store
            return self.run.output(node_name, output_name=output_name)
        except OutputNotFoundError:
            pass
        raise OutputNotFoundError(f"No outputs found for output '{output_name}' from node '{node_str}'.")

    def output_value(self, output_name: str = "result") -> Any:
        """An output of the job's top-level graph (a graph run with ``execute_in_process``)."""
        job = self.run._job
        handles = getattr(job, "top_outputs", {}) if job is not None else {}
        if output_name not in handles:
            raise OutputNotFoundError(
                f"The graph has no output '{output_name}'; it has {sorted(handles)}. Return a dict of "
                "op outputs from the graph body to give it named outputs."
            )
        handle = handles[output_name]
        return self.output_for_node(handle.node, handle.output)

    @property
    def all_events(self) -> list[Any]:
        """The run's events with Dagster's type names (``event_type_value``), oldest first."""
        from nbflow.runtime.result_events import run_events

        return run_events(self.run)

    def events_for_node(self, node_name: str) -> list[Any]:
        """The events of one node's steps (all of its mapped steps)."""
        from nbflow.runtime.result_events import node_events

        return node_events(self.run, node_name)

    def __repr__(self) -> str:
        return f"<ExecuteInProcessResult success={self.success} run_id={self.run_id[:8]}>"

