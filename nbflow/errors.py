"""The exception tree: one root, :class:`NbflowError`, and a class per kind of mistake.

Messages say what went wrong and how to fix it. Where a builtin exception is what
users already catch, the class also derives from it (``KeyError``, ``TypeError``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NbflowError(Exception):
    """Root of every error nbflow raises on purpose."""


#: Dagster's root exception is nbflow's: ``except dg.DagsterError`` catches nbflow's errors.
DagsterError = NbflowError


class DagsterInvariantViolationError(NbflowError):
    """Something that must hold did not (Dagster's name): a duplicate mapping key, a value
    that was never produced, a context used without what it needs."""


class DagsterInvalidInvocationError(NbflowError, TypeError):
    """A definition was called directly in a way it cannot be (Dagster's name)."""


class UnsupportedArgumentError(NbflowError, TypeError):
    """A Dagster argument nbflow has no counterpart for: refused by name, never dropped."""


def unsupported(where: str, argument: str, advice: str) -> UnsupportedArgumentError:
    """The error for a Dagster argument that nbflow cannot honour, naming it."""
    return UnsupportedArgumentError(f"{where}: the argument {argument}= is not supported by nbflow. {advice}")


class DefinitionError(NbflowError):
    """An op, graph or job is defined or wired in a way nbflow cannot run
    (``DagsterInvalidDefinitionError``)."""


class DynamicWiringError(DefinitionError):
    """A dynamic output is used in a way that is not allowed (see the message)."""


class InvalidKeyError(DefinitionError, ValueError):
    """A mapping key or partition key breaks the key rules."""


class ConfigError(NbflowError, ValueError):
    """The run config does not fit the ops' config schemas."""


class StepExecutionError(NbflowError):
    """A run failed and no step's own exception is at hand to re-raise
    (``DagsterExecutionStepExecutionError``)."""


class RunInterrupted(KeyboardInterrupt):
    """A run was interrupted from the keyboard and canceled; what finished is stored.

    It is a ``KeyboardInterrupt``, so scripts stop as usual; in a notebook the cell shows
    only the message, not a traceback (IPython renders ``_render_traceback_``). ``.run``
    is the canceled run: ``err.run.rerun(failed=True)`` finishes it.
    """

    def __init__(self, message: str, run: object = None) -> None:
        super().__init__(message)
        self.run = run

    def _render_traceback_(self) -> list[str]:
        return [f"RunInterrupted: {self.args[0]}"]


class DuplicateMappingKeyError(DagsterInvariantViolationError):
    """An op yielded the same mapping key twice in one step."""


class OutputNotFoundError(DagsterInvariantViolationError, KeyError):
    """A requested output was not produced (or not stored) by the run."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class RunNotFoundError(NbflowError, KeyError):
    """No run with that id is stored."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownPartitionError(NbflowError, KeyError):
    """A partition key that the partitions definition does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StoreError(NbflowError):
    """The DuckDB store cannot be used as asked."""


class StoreLockedError(StoreError):
    """Another process holds the store file for longer than the lock timeout."""


class StoreVersionError(StoreError):
    """The store was written by a newer nbflow than this one."""


DagsterInvalidDefinitionError = DefinitionError
DagsterInvalidConfigError = ConfigError
DagsterExecutionStepExecutionError = StepExecutionError
DagsterUnknownPartitionError = UnknownPartitionError


def run_failure(job_name: str, failed: list[str], exceptions: dict[str, BaseException], where: str,
                ) -> BaseException:
    """What ``raise_on_error=True`` raises for a failed run: the first failed step's own
    exception (so ``except ValueError`` works, as in Dagster), with a note saying where the
    run is stored; :class:`StepExecutionError` when no step exception is at hand."""
    summary = f'Execution of run for "{job_name}" failed. Steps failed: {failed}.'
    first = next(iter(exceptions.values()), None)
    if isinstance(first, Exception):
        first.add_note(f"{summary} {where}")
        return first
    return StepExecutionError(f"{summary} {where}")


_MAX_COMPARED = 2_000  # difflib is slow: beyond this, compare only keys sharing a prefix


def closest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Return up to ``n`` candidates, the closest matches to ``name`` first."""
    pool = list(dict.fromkeys(candidates))
    if len(pool) > _MAX_COMPARED:
        widths = sorted({w for w in (len(name), 16, 12, 8, 6, 4, 2, 1) if w <= len(name)}, reverse=True)
        for width in widths:  # the longest prefix that some keys share with the name
            sharing = [c for c in pool if c[:width] == name[:width]]
            if sharing:
                pool = sharing
                break
        pool = pool[:_MAX_COMPARED]
    near = difflib.get_close_matches(name, pool, n=n, cutoff=0.0)
    return near[:n]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A short ``"Valid ones (closest first): a, b"`` suffix for error messages."""
    return closest_first(closest(name, candidates))


def closest_first(near: list[str]) -> str:
    """The :func:`did_you_mean` suffix for suggestions ranked elsewhere (the store ranks
    partition keys in SQL)."""
    if not near:
        return "There are none."
    return "Valid ones (closest first): " + ", ".join(repr(c) for c in near) + "."
