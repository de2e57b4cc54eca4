"""Partition definitions, add/delete requests, and the key validator shared everywhere."""

from nbflow.partitions.dynamic import (
    AddDynamicPartitionsRequest,
    DeleteDynamicPartitionsRequest,
    DynamicPartitionsDefinition,
    PartitionsError,
)
from nbflow.partitions.keys import MAX_KEY_LENGTH, validate_key

__all__ = [
    "MAX_KEY_LENGTH",
    "AddDynamicPartitionsRequest",
    "DeleteDynamicPartitionsRequest",
    "DynamicPartitionsDefinition",
    "PartitionsError",
    "validate_key",
]
