"""Shared pieces of the executor's state: step states and lazily resolved inputs."""

from __future__ import annotations

PENDING, RUNNING, DONE = 0, 1, 2


class CollectedInput:
    """A collect input, turned into its list only when the consuming step is submitted."""

    __slots__ = ("keys", "node", "output")

    def __init__(self, node: str, output: str, keys: list[str]) -> None:
        self.node, self.output, self.keys = node, output, keys


class ParentInput:
    """An unmapped input reused from the parent run of a rerun, loaded when needed."""

    __slots__ = ("node", "output")

    def __init__(self, node: str, output: str) -> None:
        self.node, self.output = node, output


class MissingInput(Exception):
    def __init__(self, step: str, output: str, reason: str) -> None:
        super().__init__(step, output, reason)
        self.step, self.output, self.reason = step, output, reason
