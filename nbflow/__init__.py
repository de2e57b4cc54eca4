"""nbflow: notebook-first orchestration with dynamic fan-out, stored in DuckDB.

The vocabulary is Dagster's, so ``import nbflow as dg`` runs Dagster's examples.
Importing nbflow is cheap: duckdb, pandas, IPython and widgets load on first use.
"""

from __future__ import annotations

from nbflow.definitions import (
    AssetsDefinition,
    DynamicOut,
    DynamicOutput,
    Field,
    GraphDefinition,
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
    op,
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
)
from nbflow.execution.context import AssetExecutionContext, OpExecutionContext, build_op_context
from nbflow.execution.resume import RerunSelectionError
from nbflow.instance import Instance, instance
from nbflow.partitions import (
    AddDynamicPartitionsRequest,
    DeleteDynamicPartitionsRequest,
    DynamicPartitionsDefinition,
    PartitionsError,
)
from nbflow.partitions.keys import validate_key
from nbflow.rerun import RerunError
from nbflow.run import ExecuteInProcessResult, Run
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

__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext nbflow``: register the ``%%sensor`` and ``%nbflow`` magics."""
    from nbflow.magics import register

    register(ipython)


__all__ = [
    "AddDynamicPartitionsRequest",
    "AssetExecutionContext",
    "AssetsDefinition",
    "Backoff",
    "ConfigError",
    "DefaultSensorStatus",
    "DefinitionError",
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
    "multiprocess_executor",
    "op",
    "sensor",
    "thread_executor",
    "validate_key",
]
