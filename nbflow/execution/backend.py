"""Executor back ends: where steps run.

Every back end has the same small interface -- submit a step, poll for reports,
shut down -- so the executor does not care whether steps run inline, in a pool of
processes or on Dask. Reports are :class:`~nbflow.execution.step.ItemReport` (an
item yielded by a fan-out step) and :class:`~nbflow.execution.step.DoneReport`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Generator

from nbflow.execution.step import DoneReport, ItemReport, StepTask, execute_step


class Backend(ABC):
    """The interface every back end implements."""

    name = "backend"

    @abstractmethod
    def submit(self, task: StepTask) -> None:
        """Queue one attempt of one step."""

    @abstractmethod
    def poll(self, timeout: float | None = None) -> list[ItemReport | DoneReport]:
        """Return the reports that are ready, waiting up to ``timeout`` for the first."""

    @abstractmethod
    def in_flight(self) -> int:
        """How many submitted steps have not sent their final report yet."""

    @abstractmethod
    def shutdown(self, cancel: bool = False) -> list[StepTask]:
        """Stop; with ``cancel``, drop unfinished steps and return them."""


class InProcessBackend(Backend):
    """Runs steps one at a time in this process, interleaving fan-out generators.

    A fan-out step is advanced one item per poll and then goes back in the queue
    behind the steps its item made ready, so ``f[k]`` starts right after the
    fan-out op yields ``k`` and ``g[k]`` right after ``f[k]``: pipelined per key.
    """

    name = "in_process"

    def __init__(self) -> None:
        self._queue: deque[tuple[StepTask, Generator]] = deque()
        self._current: tuple[StepTask, Generator] | None = None  # the step being advanced

    def submit(self, task: StepTask) -> None:
        self._queue.append((task, execute_step(task)))

    def poll(self, timeout: float | None = None) -> list[ItemReport | DoneReport]:
        if not self._queue:
            return []
        entry = self._current = self._queue.popleft()
        report = next(entry[1])
        self._current = None
        if type(report) is ItemReport:
            self._queue.append(entry)
        return [report]

    def in_flight(self) -> int:
        return len(self._queue)

    def shutdown(self, cancel: bool = False) -> list[StepTask]:
        entries = ([self._current] if self._current else []) + list(self._queue)
        for _, it in entries:
            it.close()
        self._queue.clear()
        self._current = None
        dropped = [task for task, _ in entries]
        return dropped
