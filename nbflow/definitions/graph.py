"""``@graph`` and ``@job``: named, reusable wirings of ops.

A job is a graph that can run. Its structure is built once, when the job is
defined, by calling the body function with handles instead of values; nothing in
the op bodies runs then. Redefining a job in a cell replaces the old one by name
in the kernel's registry (see :data:`JOBS`).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from nbflow.definitions.compose import (
    GraphBuilder,
    Node,
    OutputHandle,
    current_builder,
    is_composing,
)
from nbflow.errors import DefinitionError, did_you_mean
from nbflow.partitions.keys import validate_name

#: Jobs defined in this process, by name; a redefinition replaces the old one.
JOBS: dict[str, JobDefinition] = {}


class GraphDefinition:
    """A reusable wiring of ops; call it inside a job body (or ``.map()`` over it)."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None, description: str | None = None):
        self.fn = fn
        self.name = validate_name(name or fn.__name__, "graph name", DefinitionError)
        self.description = description or inspect.getdoc(fn)
        self.input_names = list(inspect.signature(fn).parameters)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not is_composing():
            raise DefinitionError(
                f"graph '{self.name}' can only be called inside a @job or @graph body. "
                f"To run it, make a job: {self.name}.to_job().run()."
            )
        builder = current_builder()
        bound = inspect.signature(self.fn).bind(*args, **kwargs)
        base = builder.unique_name(self.name).rsplit(".", 1)[-1]
        builder.graph_names.add(".".join([*builder.prefixes, base]))
        builder.prefixes.append(base)
        try:
            result = self.fn(*bound.args, **bound.kwargs)
        finally:
            builder.prefixes.pop()
        full = ".".join([*builder.prefixes, base])
        if isinstance(result, OutputHandle):
            builder.graph_outputs[full] = {"result": result}
        elif isinstance(result, Mapping):
            builder.graph_outputs[full] = dict(result)
        return result

    def to_job(self, name: str | None = None, **kwargs: Any) -> JobDefinition:
        """Make a job running this graph."""
        if self.input_names:
            raise DefinitionError(
                f"graph '{self.name}' has inputs {self.input_names}; a job's top-level graph cannot. "
                f"Call it from a @job body that passes op outputs to it."
            )
        return JobDefinition(self.fn, name=name or self.name, **kwargs)

    def __repr__(self) -> str:
        return f"<graph {self.name}>"


class JobDefinition:
    """A runnable graph. Create with :func:`job`; run with :meth:`run`.

    Examples
    --------
    >>> @job
    ... def hello():
    ...     double(one())          # doctest: +SKIP
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        config: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        partitions_def: Any = None,
        executor_def: Any = None,
    ) -> None:
        self.fn = fn
        self.name = validate_name(name or fn.__name__, "job name", DefinitionError)
        self.description = description or inspect.getdoc(fn)
        self.default_run_config = dict(config or {})
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.partitions_def = partitions_def
        self.executor_def = executor_def
        self.is_asset_job = False
        self.assets: list[Any] = []
        builder = GraphBuilder("job", self.name)
        with builder:
            fn()
        if not builder.nodes:
            raise DefinitionError(f"@job {self.name} wires no ops; call at least one op in its body.")
        self.nodes: dict[str, Node] = builder.nodes
        self.graph_outputs = builder.graph_outputs
        JOBS[self.name] = self

    # -- structure ---------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        """The node called ``name``; an unknown name lists the valid ones."""
        try:
            return self.nodes[name]
        except KeyError:
            raise DefinitionError(
                f"Job '{self.name}' has no op '{name}'. {did_you_mean(name, self.nodes)}"
            ) from None

    def with_latest_ops(self) -> JobDefinition:
        """This job with every op replaced by its newest definition (a fix typed into a cell).

        The wiring stays; an op redefined with other inputs or outputs cannot be swapped in
        and asks for the job's cell to be run again.
        """
        from dataclasses import replace

        changed = {}
        for name, node in self.nodes.items():
            latest = node.op.latest()
            if latest is node.op:
                continue
            same_outs = [(n, o.is_dynamic) for n, o in latest.outs.items()] == [
                (n, o.is_dynamic) for n, o in node.op.outs.items()]
            if list(latest.ins) != list(node.op.ins) or not same_outs:
                raise DefinitionError(
                    f"op '{node.op.name}' was redefined with other inputs or outputs than job "
                    f"'{self.name}' was built with. Run the cell that defines the job again."
                )
            changed[name] = replace(node, op=latest)
        if not changed:
            return self
        clone = copy.copy(self)
        clone.nodes = {**self.nodes, **changed}
        return clone

    def resolve_output(self, name: str, output_name: str) -> tuple[str, str]:
        """Map a graph's name and output to the op node that produces it."""
        if name in self.graph_outputs and name not in self.nodes:
            outputs = self.graph_outputs[name]
            if output_name not in outputs:
                raise DefinitionError(f"graph '{name}' has no output '{output_name}'; it has {list(outputs)}.")
            handle = outputs[output_name]
            return handle.node, handle.output
        return self.node(name).name, output_name

    # -- running -----------------------------------------------------------------------------
    def run(
        self,
        run_config: Mapping[str, Any] | None = None,
        instance: Any = None,
        tags: Mapping[str, Any] | None = None,
        raise_on_error: bool = False,
        partition_key: str | None = None,
    ) -> Any:
        """Run the job, store everything, and return a :class:`~nbflow.Run` handle.

        In a notebook, a live view of the run (:class:`~nbflow.widgets.run_view.RunView`)
        is shown as the run starts and follows it to the end.
        """
        from nbflow.instance import launch
        from nbflow.widgets.live import live_view

        view = live_view(instance, self)
        run = launch(self, run_config, instance, tags, raise_on_error=raise_on_error,
                     partition_key=partition_key, observer=view)
        if view is not None:
            from nbflow.widgets.live import execution_count

            run._live_view, run._live_count = view, execution_count()
        return run

    def backfill(
        self,
        partition_keys: list[str] | None = None,
        select: Any = None,
        instance: Any = None,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        progress: bool = True,
    ) -> Any:
        """One run per partition, one after the other; see :func:`nbflow.backfill.backfill`."""
        from nbflow.backfill import backfill

        return backfill(self, partition_keys, select, instance, run_config, tags, progress)

    def execute_in_process(
        self,
        run_config: Mapping[str, Any] | None = None,
        instance: Any = None,
        raise_on_error: bool = True,
        tags: Mapping[str, Any] | None = None,
        partition_key: str | None = None,
        **_ignored: Any,
    ) -> Any:
        """Dagster's entry point: run in this process and return a result object."""
        from nbflow.instance import launch

        run = launch(self, run_config, instance, tags, raise_on_error=raise_on_error,
                     partition_key=partition_key)
        return run.as_execution_result()

    def __repr__(self) -> str:
        return f"<job {self.name}: {len(self.nodes)} ops>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        """The job's graph (a JobView) in a notebook kernel; plain text elsewhere."""
        from nbflow.widgets.live import in_widget_kernel

        if not in_widget_kernel():
            return {"text/plain": repr(self)}
        from nbflow.widgets.job_view import JobView

        return JobView(self)._repr_mimebundle_()


def graph(fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None) -> Any:
    """Define a graph: a function wiring ops, reusable inside jobs and in ``.map()``."""

    def decorate(f: Callable[..., Any]) -> GraphDefinition:
        return GraphDefinition(f, name, description)

    return decorate(fn) if fn is not None else decorate


def job(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    partitions_def: Any = None,
    executor_def: Any = None,
) -> Any:
    """Define a job from a body that wires ops: ``@job`` or ``@job(name=...)``."""

    def decorate(f: Callable[..., Any]) -> JobDefinition:
        return JobDefinition(f, name, description, config, tags, partitions_def, executor_def)

    return decorate(fn) if fn is not None else decorate
