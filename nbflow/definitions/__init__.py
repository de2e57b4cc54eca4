"""Definitions: ops, graphs, jobs, fan-out and config. Pure and cheap to import."""

from nbflow.definitions.assets import (
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    AssetSelection,
    asset,
    define_asset_job,
    materialize,
    materialize_to_memory,
)
from nbflow.definitions.config import Field, validate_run_config
from nbflow.definitions.graph import JOBS, GraphDefinition, GraphOut, JobDefinition, graph, job
from nbflow.definitions.op import (
    DynamicOut,
    DynamicOutput,
    In,
    OpDefinition,
    Out,
    Output,
    RetryPolicy,
    op,
)
from nbflow.definitions.repository import Definitions
from nbflow.definitions.utils import file_relative_path

__all__ = [
    "JOBS",
    "AssetKey",
    "AssetMaterialization",
    "AssetSelection",
    "AssetsDefinition",
    "Definitions",
    "DynamicOut",
    "DynamicOutput",
    "Field",
    "GraphDefinition",
    "GraphOut",
    "In",
    "JobDefinition",
    "OpDefinition",
    "Out",
    "Output",
    "RetryPolicy",
    "asset",
    "define_asset_job",
    "file_relative_path",
    "graph",
    "job",
    "materialize",
    "materialize_to_memory",
    "op",
    "validate_run_config",
]
