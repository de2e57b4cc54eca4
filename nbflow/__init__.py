"""nbflow: notebook-first orchestration with dynamic fan-out, stored in DuckDB.

The vocabulary is Dagster's, so ``import nbflow as dg`` runs Dagster's examples.
Importing nbflow is cheap: duckdb, pandas, IPython and widgets load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbflow.definitions import (
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    AssetSelection,
    Definitions,
    DynamicOut,
    DynamicOutput,
    Field,
    GraphDefinition,
    GraphOut,
    In,
    JobDefinition,
    OpDefinition,
    Out,
    Output,
    RetryPolicy,
    asset,
    define_asset_job,
    file_relative_path,
    graph,
    job,
    materialize,
    materialize_to_memory,
    op,
    validate_run_config,
)
from nbflow.definitions.executors import (
    ExecutorDefinition,
    dask_executor,
    in_process_executor,
    multiprocess_executor,
    thread_executor,
)
from nbflow.definitions.op import Backoff, Jitter
from nbflow.errors import (
    ConfigError,
    DagsterError,
    DagsterExecutionStepExecutionError,
    DagsterInvalidConfigError,
    DagsterInvalidDefinitionError,
    DagsterInvalidInvocationError,
    DagsterInvariantViolationError,
    DagsterUnknownPartitionError,
    DefinitionError,
    DuplicateMappingKeyError,
    DynamicWiringError,
    InvalidKeyError,
    NbflowError,
    OutputNotFoundError,
    RunInterrupted,
    RunNotFoundError,
    StepExecutionError,
    StoreError,
    StoreLockedError,
    StoreVersionError,
    UnknownPartitionError,
    UnsupportedArgumentError,
)
from nbflow.execution.context import AssetExecutionContext, OpExecutionContext, build_op_context
from nbflow.execution.resume import RerunSelectionError
from nbflow.partitions import (
    AddDynamicPartitionsRequest,
    DeleteDynamicPartitionsRequest,
    DynamicPartitionsDefinition,
    PartitionsError,
)
from nbflow.partitions.keys import validate_key
from nbflow.runtime import wiring as _wiring
from nbflow.runtime.instance import Instance, instance
from nbflow.runtime.rerun import RerunError
from nbflow.runtime.run import ExecuteInProcessResult, Run
from nbflow.sensors import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorDefinitionError,
    SensorEvaluation,
    SensorEvaluationContext,
    SensorEvaluationError,
    SensorResult,
    SkipReason,
    build_sensor_context,
    sensor,
)
from nbflow.widgets import display as _display

# The one wiring of the layers: definitions reach the instance layer and the views through
# nbflow.hooks (see docs/architecture.md). Both installs are cheap: what they wire loads on first use.
_wiring.install()
_display.install()

#: Dagster's name for the instance, so ``dg.DagsterInstance.ephemeral()`` runs unchanged.
DagsterInstance = Instance

if TYPE_CHECKING:
    __version__: str
else:
    def __getattr__(name: str) -> str:
        # ``nbflow.__version__`` reads the package metadata on first use (about 20 ms, which
        # ``import nbflow`` does not pay). Hidden from type checkers, so that a misspelt
        # ``nbflow.name`` is still reported.
        if name == "__version__":
            from nbflow._version import version

            return version()
        raise AttributeError(f"module 'nbflow' has no attribute {name!r}")


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext nbflow``: register the ``%%sensor`` and ``%nbflow`` magics."""
    from nbflow.magics import register

    register(ipython)


__all__ = [
    "AddDynamicPartitionsRequest",
    "AssetExecutionContext",
    "AssetKey",
    "AssetMaterialization",
    "AssetSelection",
    "AssetsDefinition",
    "Backoff",
    "ConfigError",
    "DagsterError",
    "DagsterExecutionStepExecutionError",
    "DagsterInstance",
    "DagsterInvalidConfigError",
    "DagsterInvalidDefinitionError",
    "DagsterInvalidInvocationError",
    "DagsterInvariantViolationError",
    "DagsterUnknownPartitionError",
    "DefaultSensorStatus",
    "DefinitionError",
    "Definitions",
    "DeleteDynamicPartitionsRequest",
    "DuplicateMappingKeyError",
    "DynamicOut",
    "DynamicOutput",
    "DynamicPartitionsDefinition",
    "DynamicWiringError",
    "ExecuteInProcessResult",
    "ExecutorDefinition",
    "Field",
    "GraphDefinition",
    "GraphOut",
    "In",
    "Instance",
    "InvalidKeyError",
    "Jitter",
    "JobDefinition",
    "NbflowError",
    "OpDefinition",
    "OpExecutionContext",
    "Out",
    "Output",
    "OutputNotFoundError",
    "PartitionsError",
    "RerunError",
    "RerunSelectionError",
    "RetryPolicy",
    "Run",
    "RunInterrupted",
    "RunNotFoundError",
    "RunRequest",
    "SensorDefinition",
    "SensorDefinitionError",
    "SensorEvaluation",
    "SensorEvaluationContext",
    "SensorEvaluationError",
    "SensorResult",
    "SkipReason",
    "StepExecutionError",
    "StoreError",
    "StoreLockedError",
    "StoreVersionError",
    "UnknownPartitionError",
    "UnsupportedArgumentError",
    "asset",
    "build_op_context",
    "build_sensor_context",
    "dask_executor",
    "define_asset_job",
    "file_relative_path",
    "graph",
    "in_process_executor",
    "instance",
    "job",
    "load_ipython_extension",
    "materialize",
    "materialize_to_memory",
    "multiprocess_executor",
    "op",
    "sensor",
    "thread_executor",
    "validate_key",
    "validate_run_config",
]
