"""Partition definitions and the one key validator shared by every entry point."""

from nbflow.partitions.keys import MAX_KEY_LENGTH, validate_key

__all__ = ["MAX_KEY_LENGTH", "validate_key"]
