"""Assets: an op that makes one named thing, wired to its upstream assets by name.

``@asset`` defines one; its parameters (after ``context``) name the upstream assets whose
values it takes, and ``deps=[...]`` names assets it must run after without taking their
value. :func:`materialize` runs a list of assets (for one partition); :func:`define_asset_job`
makes a job of them that can be run, backfilled and rerun like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from nbflow.definitions.graph import JobDefinition
from nbflow.definitions.op import In, OpDefinition, RetryPolicy
from nbflow.errors import DefinitionError


class AssetsDefinition:
    """A defined asset. Create with :func:`asset`."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None, partitions_def: Any = None,
                 deps: Iterable[Any] | None = None, config_schema: Any = None,
                 retry_policy: RetryPolicy | None = None, description: str | None = None,
                 tags: Mapping[str, Any] | None = None) -> None:
        self.name = name or fn.__name__
        self.partitions_def = partitions_def
        self.deps = [d.name if isinstance(d, AssetsDefinition) else str(d) for d in deps or []]
        self.op = OpDefinition(fn, self.name, None, None, config_schema, retry_policy, tags, description)
        self.op.is_asset = True
        self.inputs = list(self.op.ins)  # parameter names are the upstream assets

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.op(*args, **kwargs)

    def status(self, instance: Any = None) -> Any:
        """Per partition key: materialized / failed / missing / running."""
        if self.partitions_def is None:
            raise DefinitionError(f"asset '{self.name}' is not partitioned: it has no per-partition status.")
        return self.partitions_def.status(self, instance=instance)

    def __repr__(self) -> str:
        return f"<asset {self.name}>"


def asset(fn: Callable[..., Any] | None = None, *, name: str | None = None, partitions_def: Any = None,
          deps: Iterable[Any] | None = None, config_schema: Any = None,
          retry_policy: RetryPolicy | None = None, description: str | None = None,
          tags: Mapping[str, Any] | None = None) -> Any:
    """Define an asset, bare (``@asset``) or with options (``@asset(partitions_def=...)``).

    Examples
    --------
    >>> @asset
    ... def numbers():
    ...     return [1, 2, 3]
    """

    def decorate(f: Callable[..., Any]) -> AssetsDefinition:
        return AssetsDefinition(f, name, partitions_def, deps, config_schema, retry_policy, description, tags)

    return decorate(fn) if fn is not None else decorate


def _with_order_inputs(op: OpDefinition, after: list[str]) -> OpDefinition:
    """The asset's op with one extra, ignored input per ``deps`` entry, so it runs after them."""
    if not after:
        return op
    import copy
    import functools

    ordered = copy.copy(op)
    hidden = {f"_after_{name}": In() for name in after}
    ordered.ins = {**op.ins, **hidden}
    body = op.fn

    @functools.wraps(body)  # the step's code_version hashes the asset's source, not this wrapper's
    def run_after(*args: Any, **kwargs: Any) -> Any:
        for key in hidden:
            kwargs.pop(key, None)
        return body(*args, **kwargs)

    ordered.fn = run_after

    def latest() -> OpDefinition:
        # A fix typed into the asset's cell is picked up like any op's (JobDefinition.with_latest_ops).
        newest = op.latest()
        return ordered if newest is op else _with_order_inputs(newest, after)

    ordered.latest = latest  # type: ignore[method-assign]  # per-copy override of OpDefinition.latest
    return ordered


def _order(assets: list[AssetsDefinition]) -> list[AssetsDefinition]:
    by_name = {a.name: a for a in assets}
    done: dict[str, None] = {}
    visiting: set[str] = set()

    def visit(a: AssetsDefinition) -> None:
        if a.name in done:
            return
        if a.name in visiting:
            raise DefinitionError(f"assets form a cycle through '{a.name}'.")
        visiting.add(a.name)
        for upstream in a.inputs + a.deps:
            if upstream in by_name:
                visit(by_name[upstream])
        visiting.discard(a.name)
        done[a.name] = None

    for a in assets:
        visit(a)
    return [by_name[n] for n in done]


def define_asset_job(name: str, selection: Iterable[AssetsDefinition], partitions_def: Any = None,
                     tags: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None) -> JobDefinition:
    """A job that materializes ``selection`` in dependency order."""
    assets = list(selection)
    if not assets or not all(isinstance(a, AssetsDefinition) for a in assets):
        raise DefinitionError(f"define_asset_job('{name}') needs a non-empty list of @asset definitions, got {assets!r}.")
    names = {a.name for a in assets}
    defs = {a.partitions_def.name for a in assets if a.partitions_def is not None}
    if len(defs) > 1 or (defs and any(a.partitions_def is None for a in assets)):
        raise DefinitionError(
            f"The assets of '{name}' must share one partitions definition (found {sorted(defs)} "
            f"and unpartitioned ones); materialize them separately."
        )
    if partitions_def is None and defs:
        partitions_def = next(a.partitions_def for a in assets if a.partitions_def is not None)
    for a in assets:
        missing = [i for i in a.inputs if i not in names and not a.op.ins[i].has_default]
        if missing:
            raise DefinitionError(
                f"asset '{a.name}' takes the value of asset(s) {missing}, which are not among the assets "
                f"given ({sorted(names)}). Include them."
            )
    ordered = _order(assets)

    def body() -> None:
        handles: dict[str, Any] = {}
        for a in ordered:
            after = [d for d in a.deps if d in handles]
            op = _with_order_inputs(a.op, after)
            kwargs = {i: handles[i] for i in a.inputs if i in handles}
            kwargs.update({f"_after_{d}": handles[d] for d in after})
            from nbflow.definitions.compose import invoke

            handles[a.name] = invoke(op, a.name, (), kwargs)

    job = JobDefinition(body, name=name, partitions_def=partitions_def, tags=tags, config=config)
    job.is_asset_job = True
    job.assets = ordered
    return job


def materialize(assets: Iterable[AssetsDefinition], partition_key: str | None = None, instance: Any = None,
                run_config: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
                raise_on_error: bool = True) -> Any:
    """Run these assets once (for ``partition_key``), store them, return Dagster's result object."""
    assets = list(assets)
    name = "materialize:" + ",".join(sorted(a.name for a in assets if isinstance(a, AssetsDefinition)))
    job = define_asset_job(name, assets)
    return job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=raise_on_error,
                                  tags=tags, partition_key=partition_key)
