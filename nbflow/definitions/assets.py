"""Assets: an op that makes one named thing, wired to its upstream assets by name.

``@asset`` defines one; its parameters (after ``context``) name the upstream assets whose
values it takes, and ``deps=[...]`` names assets it must run after without taking their
value. :func:`materialize` runs a list of assets (for one partition); :func:`define_asset_job`
makes a job of them that can be run, backfilled and rerun like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from nbflow._state import STATE
from nbflow.definitions.graph import JobDefinition
from nbflow.definitions.op import In, OpDefinition, RetryPolicy
from nbflow.errors import DefinitionError, did_you_mean

if TYPE_CHECKING:
    from nbflow.partitions.dynamic import DynamicPartitionsDefinition

#: Assets defined in this process, by name (a redefinition replaces the old one): what
#: ``AssetSelection.keys("name")`` and ``selection="*"`` resolve against outside ``Definitions``.
ASSETS: dict[str, AssetsDefinition] = STATE.assets


class AssetKey:
    """An asset's key: a path of names (Dagster's ``AssetKey``). ``AssetKey("a")`` or
    ``AssetKey(["prefix", "a"])``; the last part is the asset's name."""

    def __init__(self, path: str | Sequence[str]) -> None:
        parts = [path] if isinstance(path, str) else list(path)
        if not parts or not all(isinstance(p, str) and p for p in parts):
            raise DefinitionError(f"AssetKey takes a non-empty str or list of str, got {path!r}.")
        self.path = parts

    @classmethod
    def from_user_string(cls, text: str) -> AssetKey:
        return cls(text.split("/"))

    def _asset_names(self) -> list[str]:
        """The node name of the asset this key selects (see selection.asset_names)."""
        return [self.path[-1]]

    def to_user_string(self) -> str:
        return "/".join(self.path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AssetKey) and other.path == self.path

    def __hash__(self) -> int:
        return hash(tuple(self.path))

    def __repr__(self) -> str:
        return f"AssetKey({self.path!r})"


class AssetMaterialization:
    """That an asset (one partition of it) was materialized (Dagster's event, as read back from
    ``instance.get_latest_materialization_event``)."""

    def __init__(self, asset_key: Any, description: str | None = None,
                 metadata: Mapping[str, Any] | None = None, partition: str | None = None) -> None:
        self.asset_key = asset_key if isinstance(asset_key, AssetKey) else AssetKey(asset_key)
        self.description = description
        self.metadata = dict(metadata or {})
        self.partition = partition

    def __repr__(self) -> str:
        return f"AssetMaterialization({self.asset_key!r}, partition={self.partition!r})"


class MaterializationEvent:
    """The event part of a stored materialization (``entry.dagster_event``)."""

    event_type_value = "ASSET_MATERIALIZATION"

    def __init__(self, materialization: AssetMaterialization) -> None:
        self.asset_key = materialization.asset_key
        self.partition = materialization.partition
        self.step_materialization_data = materialization


class EventLogEntry:
    """A stored materialization: the run that made it, when, and the event itself."""

    def __init__(self, run_id: str, timestamp: float, asset_materialization: AssetMaterialization) -> None:
        self.run_id = run_id
        self.timestamp = timestamp
        self.asset_materialization = asset_materialization
        self.dagster_event = MaterializationEvent(asset_materialization)
        self.dagster_event_type = "ASSET_MATERIALIZATION"

    def __repr__(self) -> str:
        return f"<EventLogEntry {self.asset_materialization!r} run={self.run_id[:8]}>"


class AssetsDefinition:
    """A defined asset. Create with :func:`asset`."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None,
                 partitions_def: DynamicPartitionsDefinition | None = None,
                 deps: Iterable[Any] | None = None, config_schema: Any = None,
                 retry_policy: RetryPolicy | None = None, description: str | None = None,
                 tags: Mapping[str, Any] | None = None, key_prefix: str | Sequence[str] | None = None,
                 group_name: str | None = None, metadata: Mapping[str, Any] | None = None,
                 code_version: str | None = None, key: Any = None) -> None:
        if key is not None:
            self.key = key if isinstance(key, AssetKey) else AssetKey(key)
            name = name or self.key.path[-1]
        self.name = name or fn.__name__
        if key is None:
            prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix or [])
            self.key = AssetKey([*prefix, self.name])
        self.group_name = group_name or "default"
        self.metadata = dict(metadata or {})
        self.code_version = code_version
        self.partitions_def = partitions_def
        self.deps = [_dep_name(d) for d in deps or []]
        self.op = OpDefinition(fn, self.name, None, None, config_schema, retry_policy, tags, description)
        self.op.is_asset = True
        self.inputs = list(self.op.ins)  # parameter names are the upstream assets
        ASSETS[self.name] = self

    def _asset_names(self) -> list[str]:
        """The node name of this asset (see selection.asset_names)."""
        return [self.name]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.op(*args, **kwargs)

    def status(self, instance: Any = None) -> Any:
        """Per partition key: materialized / failed / missing / running."""
        if self.partitions_def is None:
            raise DefinitionError(f"asset '{self.name}' is not partitioned: it has no per-partition status.")
        return self.partitions_def.status(self, instance=instance)

    def __repr__(self) -> str:
        return f"<asset {self.name}>"


def _dep_name(dep: Any) -> str:
    if isinstance(dep, AssetsDefinition):
        return dep.name
    if isinstance(dep, AssetKey):
        return dep.path[-1]
    return str(dep)


# The decorator's two forms, for type checkers: ``@asset`` gives an AssetsDefinition,
# ``@asset(...)`` a decorator that makes one.
@overload
def asset(fn: Callable[..., Any], *, name: str | None = ...,
          partitions_def: DynamicPartitionsDefinition | None = ...,
          deps: Iterable[Any] | None = ..., config_schema: Any = ...,
          retry_policy: RetryPolicy | None = ..., description: str | None = ...,
          tags: Mapping[str, Any] | None = ..., key_prefix: str | Sequence[str] | None = ...,
          group_name: str | None = ..., metadata: Mapping[str, Any] | None = ...,
          code_version: str | None = ..., key: Any = ...,
          io_manager_key: str | None = ..., required_resource_keys: Any = ...,
          compute_kind: str | None = ..., kinds: Any = ..., owners: Any = ...) -> AssetsDefinition: ...


@overload
def asset(fn: None = ..., *, name: str | None = ...,
          partitions_def: DynamicPartitionsDefinition | None = ...,
          deps: Iterable[Any] | None = ..., config_schema: Any = ...,
          retry_policy: RetryPolicy | None = ..., description: str | None = ...,
          tags: Mapping[str, Any] | None = ..., key_prefix: str | Sequence[str] | None = ...,
          group_name: str | None = ..., metadata: Mapping[str, Any] | None = ...,
          code_version: str | None = ..., key: Any = ...,
          io_manager_key: str | None = ..., required_resource_keys: Any = ...,
          compute_kind: str | None = ..., kinds: Any = ..., owners: Any = ...) -> Callable[[Callable[..., Any]], AssetsDefinition]: ...


def asset(fn: Callable[..., Any] | None = None, *, name: str | None = None,
          partitions_def: DynamicPartitionsDefinition | None = None,
          deps: Iterable[Any] | None = None, config_schema: Any = None,
          retry_policy: RetryPolicy | None = None, description: str | None = None,
          tags: Mapping[str, Any] | None = None, key_prefix: str | Sequence[str] | None = None,
          group_name: str | None = None, metadata: Mapping[str, Any] | None = None,
          code_version: str | None = None, key: Any = None,
          io_manager_key: str | None = None, required_resource_keys: Any = None,
          compute_kind: str | None = None, kinds: Any = None, owners: Any = None) -> AssetsDefinition | Callable[[Callable[..., Any]], AssetsDefinition]:
    """Define an asset, bare (``@asset``) or with options (``@asset(partitions_def=...)``).

    Examples
    --------
    >>> @asset
    ... def numbers():
    ...     return [1, 2, 3]
    """

    from nbflow.errors import unsupported

    if io_manager_key is not None:
        raise unsupported("@asset", "io_manager_key", "nbflow stores every output in its DuckDB store; "
                          "drop the argument.")
    if required_resource_keys:
        raise unsupported("@asset", "required_resource_keys", "nbflow has no resources: use "
                          "module-level objects in the asset body instead.")
    # compute_kind, kinds and owners only label an asset in Dagster's UI: kept as tags here.
    labels = {"dagster/compute_kind": compute_kind} if compute_kind else {}
    labels.update({f"dagster/kind/{k}": "" for k in kinds or ()})
    labels.update({f"dagster/owner/{o}": "" for o in owners or ()})

    def decorate(f: Callable[..., Any]) -> AssetsDefinition:
        return AssetsDefinition(f, name, partitions_def, deps, config_schema, retry_policy, description,
                                {**labels, **dict(tags or {})}, key_prefix, group_name, metadata,
                                code_version, key)

    return decorate(fn) if fn is not None else decorate


class AssetSelection:
    """Which assets a job or a run covers (Dagster's ``AssetSelection``).

    ``AssetSelection.assets(a, "b")``, ``AssetSelection.keys("a", AssetKey("b"))``,
    ``AssetSelection.groups("g")`` and ``AssetSelection.all()``; names resolve against the
    assets of ``Definitions`` or, outside one, the assets defined in this process.
    """

    def __init__(self, kind: str, items: Sequence[Any] = ()) -> None:
        self.kind, self.items = kind, list(items)

    @classmethod
    def all(cls) -> AssetSelection:
        return cls("all")

    @classmethod
    def assets(cls, *assets: Any) -> AssetSelection:
        return cls("assets", assets)

    @classmethod
    def keys(cls, *keys: Any) -> AssetSelection:
        return cls("assets", keys)

    @classmethod
    def groups(cls, *names: str) -> AssetSelection:
        return cls("groups", names)

    def _asset_names(self) -> list[str]:
        """The node names of the assets selected (see selection.asset_names)."""
        return [a.name for a in self.resolve()]

    def resolve(self, pool: Iterable[AssetsDefinition] | None = None) -> list[AssetsDefinition]:
        """The asset definitions selected, from ``pool`` (default: the assets defined so far)."""
        available = {a.name: a for a in (pool if pool is not None else ASSETS.values())}
        if self.kind == "all":
            return list(available.values())
        if self.kind == "groups":
            return [a for a in available.values() if a.group_name in self.items]
        found = []
        for item in self.items:
            if isinstance(item, AssetsDefinition):
                found.append(available.get(item.name, item))
                continue
            name = _dep_name(AssetKey.from_user_string(item) if isinstance(item, str) else item)
            if name not in available:
                raise DefinitionError(
                    f"AssetSelection names asset {name!r}, which is not defined. "
                    f"{did_you_mean(name, available)}"
                )
            found.append(available[name])
        return found

    def __repr__(self) -> str:
        return f"AssetSelection.{self.kind}({', '.join(map(repr, self.items))})"


def _selected(selection: Any, pool: Iterable[AssetsDefinition] | None = None) -> list[AssetsDefinition]:
    if isinstance(selection, str):
        selection = AssetSelection.all() if selection == "*" else AssetSelection.keys(selection)
    if isinstance(selection, AssetSelection):
        return selection.resolve(pool)
    items = list(selection)
    if all(isinstance(a, AssetsDefinition) for a in items):
        return items
    return AssetSelection("assets", items).resolve(pool)


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


def _is_open_selection(selection: Any) -> bool:
    """``"*"``, ``AssetSelection.all()`` or ``.groups(...)``: what they cover depends on the assets
    around them, so they are resolved when used, or by ``Definitions`` against its assets."""
    return selection == "*" if isinstance(selection, str) else getattr(selection, "kind", "") in ("all", "groups")


class UnresolvedAssetJob:
    """An asset job over an open selection, resolved when it is first used (Dagster's
    ``UnresolvedAssetJobDefinition``): against ``Definitions``' assets, or outside one against the
    assets defined so far. Anything a job has is read from the resolved job."""

    is_asset_job = True

    def __init__(self, name: str, selection: Any, partitions_def: DynamicPartitionsDefinition | None,
                 tags: Mapping[str, Any] | None,
                 config: Mapping[str, Any] | None, description: str | None) -> None:
        self.name, self.asset_selection, self.partitions_def = name, selection, partitions_def
        self.tags = dict(tags or {})
        self.default_run_config = dict(config or {})
        self.description = description

    def resolve(self, pool: Iterable[AssetsDefinition] | None = None) -> JobDefinition:
        return _asset_job(self.name, self.asset_selection, self.partitions_def, self.tags,
                          self.default_run_config, self.description, pool)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.resolve(), attr)

    def __repr__(self) -> str:
        return f"<asset job {self.name}: {self.asset_selection!r}, resolved when used>"


def define_asset_job(name: str, selection: Any = "*", partitions_def: DynamicPartitionsDefinition | None = None,
                     tags: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None,
                     description: str | None = None) -> JobDefinition | UnresolvedAssetJob:
    """A job that materializes ``selection`` in dependency order.

    ``selection`` is a list of assets, an :class:`AssetSelection`, asset keys or names, or
    ``"*"`` (every asset). ``"*"``, ``AssetSelection.all()`` and ``.groups()`` are resolved when
    the job is used, and by ``Definitions(assets=..., jobs=...)`` against its own assets.
    """
    if _is_open_selection(selection):
        from nbflow.definitions.graph import JOBS

        lazy = UnresolvedAssetJob(name, selection, partitions_def, tags, config, description)
        JOBS[name] = lazy  # type: ignore[assignment]  # sensors' job_name= finds it
        return lazy
    return _asset_job(name, selection, partitions_def, tags, config, description)


def _asset_job(name: str, selection: Any, partitions_def: DynamicPartitionsDefinition | None,
               tags: Mapping[str, Any] | None,
               config: Mapping[str, Any] | None, description: str | None,
               pool: Iterable[AssetsDefinition] | None = None) -> JobDefinition:
    if pool is None and partitions_def is not None and (selection == "*" or getattr(selection, "kind", "") == "all"):
        # every asset defined so far that fits the job's partitioning (outside Definitions)
        pool = [a for a in ASSETS.values() if a.partitions_def in (None, partitions_def)
                or getattr(a.partitions_def, "name", None) == partitions_def.name]
    try:
        assets = _selected(selection, pool)
    except TypeError:
        raise DefinitionError(
            f"define_asset_job('{name}') takes a list of assets, an AssetSelection or \"*\", got {selection!r}."
        ) from None
    if not assets or not all(isinstance(a, AssetsDefinition) for a in assets):
        raise DefinitionError(f"define_asset_job('{name}') needs a non-empty list of @asset definitions, got {assets!r}.")
    names = {a.name for a in assets}
    defs = {a.partitions_def.name for a in assets if a.partitions_def is not None}
    if len(defs) > 1:
        raise DefinitionError(
            f"The assets of '{name}' must share one partitions definition (found {sorted(defs)}); "
            f"materialize them separately."
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

    job = JobDefinition(body, name=name, partitions_def=partitions_def, tags=tags, config=config,
                        description=description)
    job.is_asset_job = True
    job.assets = ordered
    job.asset_selection = selection  # Definitions resolves it again against its assets
    return job


def materialize(assets: Iterable[AssetsDefinition], run_config: Mapping[str, Any] | None = None,
                instance: Any = None, resources: Mapping[str, Any] | None = None,
                partition_key: str | None = None, raise_on_error: bool = True,
                tags: Mapping[str, Any] | None = None, selection: Any = None) -> Any:
    """Run these assets once (for ``partition_key``), store them, return Dagster's result object.

    The parameters are Dagster's, in its order; ``selection`` runs only some of the assets.
    """
    from nbflow.errors import unsupported

    if resources:
        raise unsupported("materialize", "resources", "nbflow has no resources or IO managers: use "
                          "module-level objects in asset bodies; outputs are stored in the DuckDB file.")
    assets = list(assets)
    name = "materialize:" + ",".join(sorted(a.name for a in assets if isinstance(a, AssetsDefinition)))
    job = _asset_job(name, assets, None, None, None, None)
    return job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=raise_on_error,
                                  tags=tags, partition_key=partition_key, asset_selection=selection)


def materialize_to_memory(assets: Iterable[AssetsDefinition], run_config: Mapping[str, Any] | None = None,
                          instance: Any = None, resources: Mapping[str, Any] | None = None,
                          partition_key: str | None = None, raise_on_error: bool = True,
                          tags: Mapping[str, Any] | None = None, selection: Any = None) -> Any:
    """Dagster's in-memory ``materialize``. nbflow stores every run, so this is :func:`materialize`
    (pass ``instance=Instance.ephemeral()`` to keep the run out of the project's store)."""
    return materialize(assets, run_config, instance, resources, partition_key, raise_on_error, tags, selection)
