"""Telling an observer (a live view) what a run did."""

from __future__ import annotations

from typing import Any


def _tell(callback: Any, *args: Any) -> None:
    """Tell an observer (a view) something; a broken view must never break the run."""
    try:
        callback(*args)
    except Exception:
        import logging

        logging.getLogger("nbflow").exception("A live view failed to update")
