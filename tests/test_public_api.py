"""The one public door: ``nbflow.__all__`` is pinned, and every name in it resolves."""

from __future__ import annotations

import pytest

import nbflow

PUBLIC = [
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


def test_public_names_are_pinned():
    # Adding or removing a public name is a decision: update PUBLIC here in the same change.
    assert nbflow.__all__ == PUBLIC


def test_public_names_are_sorted_and_unique():
    assert sorted(set(nbflow.__all__)) == nbflow.__all__


def test_every_public_name_resolves():
    missing = [name for name in nbflow.__all__ if getattr(nbflow, name, None) is None]
    assert missing == []


def test_star_import_gives_exactly_the_public_names():
    namespace: dict = {}
    exec("from nbflow import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC


def test_public_errors_share_one_root():
    errors = [getattr(nbflow, n) for n in PUBLIC if n.endswith("Error")]
    assert errors
    assert all(issubclass(e, nbflow.NbflowError) for e in errors)


def test_version_is_a_string():
    assert isinstance(nbflow.__version__, str) and nbflow.__version__.count(".") == 2


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    assert nbflow.__version__ == version("nbflow")
    with pytest.raises(AttributeError, match="module 'nbflow' has no attribute 'no_such_name'"):
        nbflow.no_such_name  # noqa: B018


def test_version_of_a_checkout_that_is_not_installed(monkeypatch, tmp_path):
    import importlib.metadata
    import tomllib
    from pathlib import Path

    from nbflow import _version

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    _version.version.cache_clear()
    try:
        pyproject = Path(_version.__file__).resolve().parent.parent / "pyproject.toml"
        assert _version.version() == tomllib.loads(pyproject.read_text())["project"]["version"]
        _version.version.cache_clear()
        monkeypatch.setattr(_version, "__file__", str(tmp_path / "nbflow" / "_version.py"))
        assert _version.version() == _version.UNKNOWN == "0.0.0+unknown"
    finally:
        _version.version.cache_clear()


def test_import_nbflow_does_not_read_the_package_metadata():
    import subprocess
    import sys

    probe = ("import sys, nbflow; loaded = 'importlib.metadata' in sys.modules; "
             "v = nbflow.__version__; print(loaded, 'importlib.metadata' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stderr
