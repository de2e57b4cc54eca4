"""``Definitions``: Dagster's container of assets, jobs and sensors, for code written for it.

nbflow needs no container -- jobs, assets and sensors work as soon as they are defined --
but Dagster code builds one and looks things up in it. Asset jobs defined with a selection
(``"*"``, an :class:`~nbflow.AssetSelection`) are resolved again against its assets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from nbflow.errors import DefinitionError, did_you_mean, unsupported

if TYPE_CHECKING:
    from nbflow.definitions.assets import AssetsDefinition, UnresolvedAssetJob
    from nbflow.definitions.graph import JobDefinition


class Definitions:
    """Assets, jobs, sensors (and schedules, which nbflow does not run) under one roof."""

    def __init__(
        self,
        assets: Iterable[AssetsDefinition] | None = None,
        jobs: Iterable[JobDefinition | UnresolvedAssetJob] | None = None,
        sensors: Iterable[Any] | None = None,
        schedules: Iterable[Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        executor: Any = None,
        loggers: Mapping[str, Any] | None = None,
        asset_checks: Iterable[Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        from nbflow.definitions.assets import UnresolvedAssetJob

        for argument, value, advice in (
            ("schedules", schedules, "Run a sensor with minimum_interval_seconds instead."),
            ("resources", resources, "Use module-level objects in op bodies instead."),
            ("asset_checks", asset_checks, "Check in a downstream op or asset instead."),
            ("executor", executor, "Pass executor_def to @job."),
            ("loggers", loggers, "Op logs are captured per step: run.logs(step_key)."),
        ):
            if value:
                raise unsupported("Definitions", argument, advice)
        self.assets = list(assets or [])
        self.metadata = dict(metadata or {})
        self.sensors = {s.name: s for s in sensors or []}
        self.jobs: dict[str, JobDefinition] = {}
        for job in jobs or []:
            if isinstance(job, UnresolvedAssetJob):
                job = job.resolve(self.assets or None)
            self.jobs[job.name] = job

    def get_job_def(self, name: str) -> JobDefinition:
        if name not in self.jobs:
            raise DefinitionError(f"Definitions has no job {name!r}. {did_you_mean(name, self.jobs)}")
        return self.jobs[name]

    def get_sensor_def(self, name: str) -> Any:
        if name not in self.sensors:
            raise DefinitionError(f"Definitions has no sensor {name!r}. {did_you_mean(name, self.sensors)}")
        return self.sensors[name]

    def get_assets_def(self, key: Any) -> AssetsDefinition:
        name = key.path[-1] if hasattr(key, "path") else str(key)
        for asset in self.assets:
            if asset.name == name:
                return asset
        raise DefinitionError(f"Definitions has no asset {name!r}. {did_you_mean(name, [a.name for a in self.assets])}")

    def __repr__(self) -> str:
        return f"<Definitions {len(self.assets)} assets, {len(self.jobs)} jobs, {len(self.sensors)} sensors>"
