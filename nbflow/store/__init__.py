"""Storage: the only package that imports duckdb."""

from nbflow.store.store import Store

__all__ = ["Store"]
