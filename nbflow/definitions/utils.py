"""Small helpers that Dagster users expect under the same names."""

from __future__ import annotations

import os


def file_relative_path(dunderfile: str, relative_path: str) -> str:
    """Join ``relative_path`` to the folder of ``dunderfile`` (usually ``__file__``).

    Examples
    --------
    >>> file_relative_path("/data/project/defs.py", "inputs/a.csv")
    '/data/project/inputs/a.csv'
    """
    return os.path.join(os.path.dirname(dunderfile), relative_path)
