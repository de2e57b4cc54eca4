"""What a sensor returns: run requests, a skip reason, a new cursor, partition requests.

The classes and their misuse errors follow Dagster's, so its sensor examples run
unchanged. They are plain values: nothing here touches a store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nbflow.errors import DagsterInvariantViolationError, NbflowError

if TYPE_CHECKING:
    from nbflow.partitions.dynamic import AddDynamicPartitionsRequest, DeleteDynamicPartitionsRequest


class SensorDefinitionError(NbflowError, ValueError):
    """A sensor was defined, or returned something, in a way nbflow cannot use."""


class SensorInvariantError(SensorDefinitionError, DagsterInvariantViolationError):
    """A sensor's result contradicts itself (Dagster raises DagsterInvariantViolationError)."""


def check_str(value: Any, param: str, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, str):
        raise SensorDefinitionError(
            f'Param "{param}" is not a str. Got {value!r} which is type {type(value)}. '
            f"Pass a string, e.g. {param}=str(...)."
        )


class RunRequest:
    """A request, from a sensor, to launch one run of a job.

    Parameters
    ----------
    run_key:
        Deduplication key: a request whose key already launched a run of this sensor is
        skipped (``sensor.run_keys()`` lists them, ``sensor.forget_run_keys`` allows a relaunch).
    run_config, tags:
        As for ``job.run``; tag values become strings.
    job_name:
        Which of the sensor's jobs to run; needed only when it targets several.
    partition_key:
        For a partitioned job: checked against the partitions as they are after the
        tick's own partition requests.

    Examples
    --------
    >>> RunRequest(run_key="file-a.csv", partition_key="a")
    RunRequest(run_key='file-a.csv', partition_key='a')
    """

    def __init__(
        self,
        run_key: str | None = None,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        job_name: str | None = None,
        asset_selection: Sequence[Any] | None = None,
        stale_assets_only: bool = False,
        partition_key: str | None = None,
        asset_check_keys: Sequence[Any] | None = None,
    ) -> None:
        from nbflow.errors import unsupported

        check_str(run_key, "run_key")
        check_str(job_name, "job_name")
        check_str(partition_key, "partition_key")
        if run_config is not None and not isinstance(run_config, Mapping):
            raise SensorDefinitionError(f"run_config must be a dict, got {type(run_config).__name__}.")
        if stale_assets_only:
            raise unsupported("RunRequest", "stale_assets_only", "nbflow does not track staleness: "
                              "select the assets to run with asset_selection=[...].")
        if asset_check_keys:
            raise unsupported("RunRequest", "asset_check_keys", "nbflow has no asset checks.")
        self.run_key = run_key
        self.run_config = dict(run_config or {})
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.job_name = job_name
        self.partition_key = partition_key
        #: The assets of the (asset) job to run, as AssetKeys; None runs all of them.
        self.asset_selection = None if asset_selection is None else _asset_keys(asset_selection)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunRequest) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((self.run_key, self.job_name, self.partition_key))

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items() if v not in (None, {}, [])}
        return "RunRequest(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


class SkipReason:
    """Why a sensor requested nothing this tick; recorded on the SKIPPED tick.

    Examples
    --------
    >>> SkipReason("no new files").skip_message
    'no new files'
    """

    def __init__(self, skip_message: str | None = None) -> None:
        check_str(skip_message, "skip_message")
        self.skip_message = skip_message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SkipReason) and other.skip_message == self.skip_message

    def __hash__(self) -> int:
        return hash(self.skip_message)

    def __repr__(self) -> str:
        return f"SkipReason({self.skip_message!r})"


class SensorResult:
    """Everything one evaluation of a sensor asks for.

    Examples
    --------
    >>> SensorResult(run_requests=[RunRequest(partition_key="a")], cursor="a")
    SensorResult(1 run requests, cursor='a')
    """

    def __init__(
        self,
        run_requests: Sequence[RunRequest] | None = None,
        skip_reason: str | SkipReason | None = None,
        cursor: str | None = None,
        dynamic_partitions_requests: Sequence[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest]
        | None = None,
        asset_events: Sequence[Any] | None = None,
        automation_condition_evaluations: Sequence[Any] | None = None,
    ) -> None:
        from nbflow.errors import unsupported

        if asset_events:
            raise unsupported("SensorResult", "asset_events", "nbflow sensors cannot report asset "
                              "events: request a run that materializes the asset instead.")
        if automation_condition_evaluations:
            raise unsupported("SensorResult", "automation_condition_evaluations",
                              "nbflow has no declarative automation.")
        if run_requests and skip_reason is not None:
            raise SensorDefinitionError(
                "Expected a single skip reason or one or more run requests: received values for "
                "both run_requests and skip_reason. Return the requests, or the skip reason, not both."
            )
        check_str(cursor, "cursor")
        if isinstance(skip_reason, str):
            skip_reason = SkipReason(skip_reason)
        elif skip_reason is not None and not isinstance(skip_reason, SkipReason):
            raise SensorDefinitionError(f"skip_reason must be a str or SkipReason, got {skip_reason!r}.")
        requests = list(run_requests or [])
        for request in requests:
            if not isinstance(request, RunRequest):
                raise SensorDefinitionError(
                    f"SensorResult.run_requests must contain RunRequest objects, got {request!r}."
                )
        self.run_requests = requests
        self.skip_reason = skip_reason
        self.cursor = cursor
        self.dynamic_partitions_requests = list(dynamic_partitions_requests or [])
        _check_partition_requests(self.dynamic_partitions_requests)

    def __repr__(self) -> str:
        parts = [f"{len(self.run_requests)} run requests"]
        if self.skip_reason is not None:
            parts.append(f"skip_reason={self.skip_reason.skip_message!r}")
        if self.cursor is not None:
            parts.append(f"cursor={self.cursor!r}")
        if self.dynamic_partitions_requests:
            parts.append(f"{len(self.dynamic_partitions_requests)} partition requests")
        return "SensorResult(" + ", ".join(parts) + ")"


def _asset_keys(selection: Any) -> list[Any]:
    from nbflow.definitions.assets import AssetKey
    from nbflow.definitions.selection import asset_names

    if isinstance(selection, str) or not isinstance(selection, Sequence):
        selection = [selection] if not hasattr(selection, "resolve") else [a.key for a in selection.resolve()]
    keys = []
    for item in selection:
        if isinstance(item, AssetKey):
            keys.append(item)
        elif hasattr(item, "key"):  # an asset definition
            keys.append(item.key)
        else:
            keys.append(AssetKey(asset_names([item])[0]))
    return keys


def _check_partition_requests(requests: list[Any]) -> None:
    from nbflow.partitions.dynamic import AddDynamicPartitionsRequest, DeleteDynamicPartitionsRequest

    added: dict[str, set[str]] = {}
    deleted: dict[str, set[str]] = {}
    for request in requests:
        if isinstance(request, AddDynamicPartitionsRequest):
            seen = added.setdefault(request.partitions_def_name, set())
        elif isinstance(request, DeleteDynamicPartitionsRequest):
            seen = deleted.setdefault(request.partitions_def_name, set())
        else:
            raise SensorDefinitionError(
                "dynamic_partitions_requests takes requests from build_add_request / build_delete_request, "
                f"got {request!r}."
            )
        seen.update(request.partition_keys)
    for name, keys in added.items():
        both = keys & deleted.get(name, set())
        if both:
            raise SensorDefinitionError(
                "Dynamic partition requests cannot contain both add and delete requests for the same "
                f"partition keys. Invalid request: partitions_def_name {name!r}, partition_keys: "
                f"{sorted(both)}. Keep only one of the two requests for these keys."
            )
