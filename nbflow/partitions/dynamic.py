"""``DynamicPartitionsDefinition``: a named set of partition keys that grows at run time.

The definition is only a name: the keys live in the store, so two definitions with the
same name see the same keys. Edits are expressed as requests (plain values), which the
instance applies; the convenience methods (``episodes.add([...])``) apply them to the
default instance, or to the one passed as ``instance=``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from nbflow import hooks
from nbflow.errors import NbflowError
from nbflow.partitions.keys import validate_keys, validate_name


class PartitionsError(NbflowError, ValueError):
    """A partitions definition or request is malformed (see the message)."""


def _key_list(keys: Any, what: str, validate: bool = True) -> list[str]:
    """``keys`` as a list, each checked by the key rules unless ``validate`` is False (for
    callers that hand them on to ``PartitionStore.add``, which checks every key it is given)."""
    if isinstance(keys, str):
        raise PartitionsError(
            f"{what} takes a list of partition keys, not the str {keys!r}: pass [{keys!r}]."
        )
    if not isinstance(keys, Iterable):
        raise PartitionsError(f"{what} takes a list of partition keys, got {keys!r}.")
    return validate_keys(list(keys), "partition key") if validate else list(keys)


@dataclass(frozen=True)
class AddDynamicPartitionsRequest:
    """Add these keys to the named definition (applied by the instance, or by a sensor tick)."""

    partitions_def_name: str
    partition_keys: list[str]

    def __hash__(self) -> int:  # the keys are a list, as in Dagster; hash them as a tuple
        return hash((self.partitions_def_name, tuple(self.partition_keys)))

    def __post_init__(self) -> None:
        _check_request(self, "AddDynamicPartitionsRequest")


@dataclass(frozen=True)
class DeleteDynamicPartitionsRequest:
    """Delete these keys from the named definition."""

    partitions_def_name: str
    partition_keys: list[str]

    def __hash__(self) -> int:  # the keys are a list, as in Dagster; hash them as a tuple
        return hash((self.partitions_def_name, tuple(self.partition_keys)))

    def __post_init__(self) -> None:
        _check_request(self, "DeleteDynamicPartitionsRequest")


def _check_request(request: Any, what: str) -> None:
    """A request made directly (not with build_add_request) follows the same key rules."""
    validate_name(request.partitions_def_name, f"partitions definition name of {what}", PartitionsError)
    object.__setattr__(request, "partition_keys", list(_key_list(request.partition_keys, what)))  # a list, as in Dagster


class DynamicPartitionsDefinition:
    """A named, growing set of partition keys, stored in the instance.

    Examples
    --------
    >>> episodes = DynamicPartitionsDefinition(name="podcast_episodes")
    >>> episodes.build_add_request(["ep-1", "ep 2"]).partition_keys
    ['ep-1', 'ep 2']
    """

    def __init__(self, name: str | None = None, partition_fn: Any = None) -> None:
        if partition_fn is not None:
            raise PartitionsError(
                "partition_fn is not supported (Dagster deprecated it too): give the definition "
                "a name and add keys with instance.add_dynamic_partitions(name, keys)."
            )
        if name is None:
            raise PartitionsError("DynamicPartitionsDefinition needs a name (a non-empty str), got None.")
        self.name = validate_name(name, "partitions definition name", PartitionsError)

    # -- requests (pure) ------------------------------------------------------------------------
    def build_add_request(self, partition_keys: Iterable[str]) -> AddDynamicPartitionsRequest:
        return AddDynamicPartitionsRequest(self.name, _key_list(partition_keys, "build_add_request"))

    def build_delete_request(self, partition_keys: Iterable[str]) -> DeleteDynamicPartitionsRequest:
        return DeleteDynamicPartitionsRequest(self.name, _key_list(partition_keys, "build_delete_request"))

    # -- bound to an instance ------------------------------------------------------------------
    @staticmethod
    def _instance(instance: Any) -> Any:
        return hooks.runtime().instance(instance)

    def get_partition_keys(self, current_time: Any = None, dynamic_partitions_store: Any = None) -> list[str]:
        """The keys in insertion order (Dagster's signature; the default instance if none given)."""
        return cast("list[str]", self._instance(dynamic_partitions_store).get_dynamic_partitions(self.name))

    def has_partition_key(self, partition_key: str, current_time: Any = None,
                          dynamic_partitions_store: Any = None) -> bool:
        """Whether the key is in the set (Dagster's signature; the default instance if none given)."""
        return cast(bool, self._instance(dynamic_partitions_store).has_dynamic_partition(self.name, partition_key))

    def add(self, keys: Iterable[str], instance: Any = None, restore_outputs: bool = False) -> Any:
        """Add keys; returns which were new and which existed already."""
        return self._instance(instance).add_dynamic_partitions(self.name, keys, restore_outputs=restore_outputs)

    def delete(self, keys: Iterable[str], outputs: str = "keep", instance: Any = None) -> Any:
        """Delete keys; ``outputs="drop"`` also deletes what runs stored for them."""
        return self._instance(instance).delete_dynamic_partitions(self.name, keys, outputs=outputs)

    def keys(self, instance: Any = None) -> list[str]:
        return cast("list[str]", self._instance(instance).get_dynamic_partitions(self.name))

    def select(self, regex: str | None = None, like: str | None = None, instance: Any = None) -> list[str]:
        """Keys matching a regular expression (search) or a SQL LIKE pattern, in order."""
        return cast("list[str]", self._instance(instance).select_dynamic_partitions(self.name, regex=regex, like=like))

    def history(self, instance: Any = None) -> Any:
        """Every add and delete: key, action, time, source (api, widget, sensor tick ...)."""
        return self._instance(instance).dynamic_partitions_history(self.name)

    def status(self, asset: Any = None, instance: Any = None) -> Any:
        """Per key: materialized / failed / missing / running for ``asset`` (or every asset)."""
        return self._instance(instance).partition_status(self, asset)

    def __contains__(self, key: object) -> bool:
        return cast(bool, self._instance(None).has_dynamic_partition(self.name, key))

    def __len__(self) -> int:
        return cast(int, self._instance(None).count_dynamic_partitions(self.name))

    def __repr__(self) -> str:
        return f"DynamicPartitionsDefinition(name={self.name!r})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        """In a notebook kernel, the keys as a PartitionsView; plain text elsewhere."""
        return hooks.mimebundle(self, {"text/plain": repr(self)})

    def _display_(self) -> Any:
        """marimo's display protocol: the keys as a PartitionsView."""
        return hooks.widget(self)

    def view(self, target: Any = None, instance: Any = None) -> Any:
        """A :class:`~nbflow.widgets.partitions_view.PartitionsView` of these keys, with the
        status of ``target`` (a job, an asset job or a list of assets)."""
        return hooks.widget(self, target=target, instance=instance)
