"""``@graph`` and ``@job``: named, reusable wirings of ops.

A job is a graph that can run. Its structure is built once, when the job is
defined, by calling the body function with handles instead of values; nothing in
the op bodies runs then. Redefining a job in a cell replaces the old one by name
in the kernel's registry (see :data:`JOBS`).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from nbflow import hooks
from nbflow._state import STATE
from nbflow.definitions.compose import (
    GraphBuilder,
    Node,
    OutputHandle,
    current_builder,
    is_composing,
)
from nbflow.definitions.op import fan_in_op
from nbflow.definitions.topology import JobTopology
from nbflow.errors import DefinitionError, did_you_mean
from nbflow.partitions.keys import validate_name

if TYPE_CHECKING:
    from nbflow.partitions.dynamic import DynamicPartitionsDefinition

#: Jobs defined in this process, by name; a redefinition replaces the old one.
JOBS: dict[str, JobDefinition] = STATE.jobs


class GraphDefinition:
    """A reusable wiring of ops; call it inside a job body (or ``.map()`` over it)."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None, description: str | None = None,
                 out: Any = None):
        self.fn = fn
        self.name = validate_name(name or fn.__name__, "graph name", DefinitionError)
        self.description = description or inspect.getdoc(fn)
        self.input_names = list(inspect.signature(fn).parameters)
        self.out = dict(out) if isinstance(out, Mapping) else ({"result": out} if out is not None else None)

    def execute_in_process(self, run_config: Mapping[str, Any] | None = None, instance: Any = None,
                           **kwargs: Any) -> Any:
        """Run this graph as a job in this process (Dagster's ``graph.execute_in_process``);
        ``result.output_value(name)`` gives the graph's outputs. Keywords as for a job's."""
        return self.to_job().execute_in_process(run_config, instance, **kwargs)

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
            builder.graph_outputs[full] = {k: v for k, v in result.items() if isinstance(v, OutputHandle)}
            # as in Dagster, several outputs unpack in order: `one, numbers = my_graph()`
            fields = NamedTuple(f"{self.name}_outputs", [(str(k), Any) for k in result])  # type: ignore[misc]
            return fields(*result.values())
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
        partitions_def: DynamicPartitionsDefinition | None = None,
        executor_def: Any = None,
    ) -> None:
        self.fn = fn
        self.name = validate_name(name or fn.__name__, "job name", DefinitionError)
        self.description = description or inspect.getdoc(fn)
        self.default_run_config = dict(config or {})
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.partitions_def = partitions_def
        if executor_def is not None:
            from nbflow.definitions.executors import resolve_executor

            executor_def = resolve_executor(executor_def, None, None)  # a clear error now, not at run time
        self.executor_def = executor_def
        self.is_asset_job = False
        self.assets: list[Any] = []
        self.asset_selection: Any = None  # for an asset job: what define_asset_job was given
        builder = GraphBuilder("job", self.name, fan_in_op)
        with builder:
            returned = fn()
        self.nodes: dict[str, Node] = builder.nodes  # an empty job runs and succeeds, as in Dagster
        #: The wiring's structure, computed once. Copies that swap ops (``with_latest_ops``, config
        #: inputs) keep it: their edges are the same; a subset of the ops builds its own.
        self.topology = JobTopology.build(self.nodes)
        self.graph_outputs = builder.graph_outputs
        #: What the body returned, by output name: a graph run as a job has outputs.
        self.top_outputs: dict[str, OutputHandle] = top_level_outputs(returned)
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
        executor: Any = None,
        wait: bool = True,
    ) -> Any:
        """Run the job, store everything, and return a :class:`~nbflow.Run` handle.

        In a notebook, a live view of the run (:class:`~nbflow.widgets.run_view.RunView`)
        is shown as the run starts and follows it to the end; its clicks answer while the
        run goes on.

        ``executor`` picks where steps run for this run (``nf.thread_executor``,
        ``nf.multiprocess_executor``, ``nf.dask_executor``, each ``.configured({...})``, or a
        ``distributed.Client``); by default the job's ``executor_def``, else in-process. With
        ``wait=False`` the run goes on in the background and the handle returns at once:
        ``run.status``, ``run.wait()``, ``run.cancel()``. Interrupting the kernel cancels the run.
        """
        return hooks.runtime().run_job(self, run_config=run_config, instance=instance, tags=tags,
                                       raise_on_error=raise_on_error, partition_key=partition_key,
                                       executor=executor, wait=wait)

    def backfill(
        self,
        partition_keys: list[str] | None = None,
        select: Any = None,
        instance: Any = None,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        progress: bool = True,
    ) -> Any:
        """One run per partition, one after the other; see :func:`nbflow.runtime.backfill.backfill`."""
        return hooks.runtime().backfill(self, partition_keys, select, instance, run_config, tags, progress)

    def execute_in_process(
        self,
        run_config: Mapping[str, Any] | None = None,
        instance: Any = None,
        partition_key: str | None = None,
        raise_on_error: bool = True,
        op_selection: Sequence[str] | None = None,
        asset_selection: Sequence[Any] | None = None,
        run_id: str | None = None,
        input_values: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
    ) -> Any:
        """Dagster's entry point: run in this process and return a result object.

        As in Dagster, the run is always in this process and thread, whatever executor the job
        names. ``op_selection`` takes Dagster's query syntax (``"name"``, ``"*name"``,
        ``"name*"``, ``"+name"``, ``"name+"``); ops it leaves out feed nothing, so their
        consumers' inputs must come from ``run_config`` ``inputs`` (or input defaults).
        ``asset_selection`` (asset keys or asset definitions) does the same for an asset job.
        """
        from nbflow.errors import unsupported

        where = f"{self.name}.execute_in_process"
        if run_id is not None:
            raise unsupported(where, "run_id", "nbflow gives each run a new id: read it from result.run_id.")
        if input_values:
            raise unsupported(where, "input_values", "Give top-level input values in run_config "
                              '{"ops": {op: {"inputs": {...}}}}.')
        if resources:
            raise unsupported(where, "resources", "nbflow has no resources: use module-level objects "
                              "(a client, a connection) in the op body instead.")
        job = self
        if op_selection is not None:
            job = job.select_ops(op_selection)
        if asset_selection is not None:
            job = job.select_assets(asset_selection)
        config = dict(run_config or {})
        config.pop("execution", None)
        return hooks.runtime().execute_in_process(job, run_config=config, instance=instance, tags=tags,
                                                  raise_on_error=raise_on_error, partition_key=partition_key)

    def select_ops(self, selection: Sequence[str] | str) -> JobDefinition:
        """This job restricted to the ops matched by Dagster-style queries (see execute_in_process)."""
        from nbflow.definitions.selection import select_ops, subset_job

        return subset_job(self, select_ops(self, selection))

    def select_assets(self, selection: Any) -> JobDefinition:
        """This asset job restricted to some of its assets (asset keys or definitions)."""
        from nbflow.definitions.selection import asset_names, subset_job

        names = asset_names(selection)
        unknown = sorted(set(names) - set(self.nodes))
        if unknown:
            raise DefinitionError(
                f"asset_selection names {unknown}, which job '{self.name}' does not materialize. "
                f"{did_you_mean(unknown[0], self.nodes)}"
            )
        return subset_job(self, set(names))

    def __repr__(self) -> str:
        return f"<job {self.name}: {len(self.nodes)} ops>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        """The job's graph (a JobView) in a notebook kernel; plain text elsewhere."""
        return hooks.mimebundle(self, {"text/plain": repr(self)})

    def _display_(self) -> Any:
        """marimo's display protocol: the job's graph as a JobView."""
        return hooks.widget(self)


class GraphOut:
    """An output of a graph (``@graph(out={"a": GraphOut(), ...})``): the graph returns a dict
    of op outputs by these names, or one op output for a single ``GraphOut()``."""

    def __init__(self, description: str | None = None) -> None:
        self.description = description


def top_level_outputs(returned: Any) -> dict[str, OutputHandle]:
    """A job body's return value as named outputs (a graph run as a job returns its outputs)."""
    if isinstance(returned, OutputHandle):
        return {"result": returned}
    if isinstance(returned, Mapping):
        return {str(k): v for k, v in returned.items() if isinstance(v, OutputHandle)}
    if isinstance(returned, tuple) and hasattr(returned, "_fields"):
        return {k: v for k, v in zip(returned._fields, returned, strict=True) if isinstance(v, OutputHandle)}
    return {}


# The decorators' two forms, for type checkers: ``@graph``/``@job`` give the definition,
# ``@graph(...)``/``@job(...)`` a decorator that makes one.
@overload
def graph(fn: Callable[..., Any], *, name: str | None = ..., description: str | None = ...,
          out: Any = ...) -> GraphDefinition: ...


@overload
def graph(fn: None = ..., *, name: str | None = ..., description: str | None = ...,
          out: Any = ...) -> Callable[[Callable[..., Any]], GraphDefinition]: ...


def graph(fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None,
          out: Any = None) -> GraphDefinition | Callable[[Callable[..., Any]], GraphDefinition]:
    """Define a graph: a function wiring ops, reusable inside jobs and in ``.map()``."""

    def decorate(f: Callable[..., Any]) -> GraphDefinition:
        return GraphDefinition(f, name, description, out)

    return decorate(fn) if fn is not None else decorate


@overload
def job(
    fn: Callable[..., Any],
    *,
    name: str | None = ...,
    description: str | None = ...,
    config: Mapping[str, Any] | None = ...,
    tags: Mapping[str, Any] | None = ...,
    partitions_def: DynamicPartitionsDefinition | None = ...,
    executor_def: Any = ...,
) -> JobDefinition: ...


@overload
def job(
    fn: None = ...,
    *,
    name: str | None = ...,
    description: str | None = ...,
    config: Mapping[str, Any] | None = ...,
    tags: Mapping[str, Any] | None = ...,
    partitions_def: DynamicPartitionsDefinition | None = ...,
    executor_def: Any = ...,
) -> Callable[[Callable[..., Any]], JobDefinition]: ...


def job(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    partitions_def: DynamicPartitionsDefinition | None = None,
    executor_def: Any = None,
) -> JobDefinition | Callable[[Callable[..., Any]], JobDefinition]:
    """Define a job from a body that wires ops: ``@job`` or ``@job(name=...)``."""

    def decorate(f: Callable[..., Any]) -> JobDefinition:
        return JobDefinition(f, name, description, config, tags, partitions_def, executor_def)

    return decorate(fn) if fn is not None else decorate
