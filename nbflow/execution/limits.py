"""Concurrency limits per op: pools and tag limits.

* A **pool** (``@op(pool="api")``, or Dagster's op tag ``dagster/concurrency_key``) has a
  limit set on the instance (``instance.set_pool_limit("api", 4)``); it holds across every
  run of this process that uses the instance, so two background runs share the 4 slots.
* A **tag limit** comes from the executor config (``tag_concurrency_limits``) and holds
  within one run: ``{"key": "kind", "value": "api", "limit": 4}`` (without ``value``: steps
  with the tag at all, whatever its value).

A step that would go over a limit waits in the executor's queue, never in a worker, so the
rest of the job runs wide.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, cast

CONCURRENCY_KEY_TAG = "dagster/concurrency_key"


def pool_of(op: Any) -> str | None:
    """The pool an op's steps count against, if any."""
    return cast("str | None", getattr(op, "pool", None) or op.tags.get(CONCURRENCY_KEY_TAG))


class PoolSlots:
    """How many steps of each pool run now, in this process, against one instance's limits."""

    def __init__(self) -> None:
        self.limits: dict[str, int] = {}
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def try_take(self, pool: str) -> bool:
        limit = self.limits.get(pool)
        with self._lock:
            used = self._used.get(pool, 0)
            if limit is not None and used >= limit:
                return False
            self._used[pool] = used + 1
            return True

    def give_back(self, pool: str) -> None:
        with self._lock:
            self._used[pool] = max(0, self._used.get(pool, 0) - 1)

    def in_use(self, pool: str) -> int:
        return self._used.get(pool, 0)


class Limits:
    """The limits of one run: its tag limits plus the instance's pools."""

    def __init__(self, tag_limits: list[dict[str, Any]], pools: PoolSlots | None) -> None:
        self.tag_limits = tag_limits
        self.pools = pools
        self._used: dict[int, int] = {}
        self._keys: dict[int, tuple[int, ...]] = {}  # op id -> indexes of the tag limits it counts against
        self.waiting: deque[Any] = deque()

    @property
    def active(self) -> bool:
        """Whether any limit applies: without tag limits or pool limits, steps skip the checks."""
        return bool(self.tag_limits) or (self.pools is not None and bool(self.pools.limits))

    def _tag_keys(self, op: Any) -> tuple[int, ...]:
        found = self._keys.get(id(op))
        if found is None:
            found = self._keys[id(op)] = tuple(
                i for i, lim in enumerate(self.tag_limits)
                if lim["key"] in op.tags and ("value" not in lim or op.tags[lim["key"]] == str(lim["value"]))
            )
        return found

    def try_take(self, op: Any) -> bool:
        """Take a slot of every limit the op counts against, or none and return False."""
        keys = self._tag_keys(op)
        for i in keys:
            if self._used.get(i, 0) >= self.tag_limits[i]["limit"]:
                return False
        pool = pool_of(op) if self.pools is not None else None
        if pool is not None and not self.pools.try_take(pool):  # type: ignore[union-attr]
            return False
        for i in keys:
            self._used[i] = self._used.get(i, 0) + 1
        return True

    def give_back(self, op: Any) -> None:
        for i in self._tag_keys(op):
            self._used[i] -= 1
        pool = pool_of(op) if self.pools is not None else None
        if pool is not None:
            self.pools.give_back(pool)  # type: ignore[union-attr]
