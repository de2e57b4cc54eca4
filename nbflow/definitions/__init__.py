"""Definitions: ops, graphs, jobs, fan-out and config. Pure and cheap to import."""

from nbflow.definitions.assets import AssetsDefinition, asset, define_asset_job, materialize
from nbflow.definitions.config import Field
from nbflow.definitions.graph import JOBS, GraphDefinition, JobDefinition, graph, job
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
from nbflow.definitions.utils import file_relative_path

__all__ = [
    "JOBS",
    "AssetsDefinition",
    "DynamicOut",
    "DynamicOutput",
    "Field",
    "GraphDefinition",
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
    "op",
]
