"""The ``context`` an op receives when its first parameter is called ``context``."""

from __future__ import annotations

import logging
from typing import Any

from nbflow.errors import NbflowError

_LOGGER_LEVEL_SET = False


def _op_logger(op_name: str) -> logging.Logger:
    global _LOGGER_LEVEL_SET
    parent = logging.getLogger("nbflow.op")
    if not _LOGGER_LEVEL_SET:
        # context.log.info(...) must be captured even though the root logger says WARNING.
        parent.setLevel(logging.DEBUG)
        _LOGGER_LEVEL_SET = True
    return parent.getChild(op_name)


class OpExecutionContext:
    """What an op can know about the step it runs in.

    Attributes
    ----------
    run_id, op_config, retry_number, step_key, op_name, run_config
    """

    __slots__ = (
        "_log",
        "_mapping_key",
        "_partition_key",
        "op_config",
        "op_name",
        "retry_number",
        "run_config",
        "run_id",
        "step_key",
    )

    def __init__(
        self,
        run_id: str = "",
        op_name: str = "op",
        step_key: str = "op",
        op_config: Any = None,
        mapping_key: str | None = None,
        retry_number: int = 0,
        partition_key: str | None = None,
        run_config: dict[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.op_name = op_name
        self.step_key = step_key
        self.op_config = op_config
        self.retry_number = retry_number
        self.run_config = run_config or {}
        self._mapping_key = mapping_key
        self._partition_key = partition_key
        self._log: logging.Logger | None = None

    @property
    def log(self) -> logging.Logger:
        """A logger whose records are stored with this step (``run.logs(step_key)``)."""
        if self._log is None:
            self._log = _op_logger(self.op_name)
        return self._log

    def get_mapping_key(self) -> str | None:
        """The mapping key of this step, or None outside a fan-out."""
        return self._mapping_key

    @property
    def has_partition_key(self) -> bool:
        return self._partition_key is not None

    @property
    def partition_key(self) -> str:
        if self._partition_key is None:
            raise NbflowError(
                "Cannot access partition_key for a non-partitioned run. Run a job that has "
                "partitions_def with partition_key=..."
            )
        return self._partition_key

    @property
    def partition_keys(self) -> list[str]:
        """The partition keys of this run (one: nbflow runs one partition per run)."""
        return [self.partition_key]

    def asset_partition_key_for_input(self, input_name: str) -> str:
        """The partition of the upstream asset feeding ``input_name``: the run's own, since
        nbflow's assets in one run share one dynamic partitions definition."""
        return self.partition_key

    def asset_partition_keys_for_input(self, input_name: str) -> list[str]:
        """The partitions of the upstream asset feeding ``input_name`` (see above)."""
        return [self.partition_key]

    def asset_partition_key_for_output(self, output_name: str = "result") -> str:
        return self.partition_key

    def __repr__(self) -> str:
        return f"<OpExecutionContext {self.step_key} run={self.run_id[:8]}>"


AssetExecutionContext = OpExecutionContext


def build_op_context(
    op_config: Any = None,
    mapping_key: str | None = None,
    partition_key: str | None = None,
    run_id: str = "test-run",
) -> OpExecutionContext:
    """A context for calling an op directly in a test: ``my_op(build_op_context(...), x)``."""
    return OpExecutionContext(
        run_id=run_id, op_config=op_config, mapping_key=mapping_key, partition_key=partition_key
    )


def invoke_directly(op_def: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run the op body outside a job, for unit tests: ``my_op(build_op_context(), x)``."""
    fn = getattr(op_def.fn, "__nbflow_body__", op_def.fn)
    if op_def.takes_context:
        if args and isinstance(args[0], OpExecutionContext):
            return fn(*args, **kwargs)
        return fn(build_op_context(), *args, **kwargs)
    return fn(*args, **kwargs)
