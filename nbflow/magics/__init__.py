"""IPython magics: ``%%sensor`` defines a sensor from a cell, ``%nbflow`` answers quick questions.

Loaded with ``%load_ext nbflow``; importing nbflow itself never imports IPython.
"""

from __future__ import annotations

from typing import Any


def register(ipython: Any) -> None:
    """Register the magics with an IPython shell (what ``%load_ext nbflow`` calls)."""
    from nbflow.magics.magics import NbflowMagics

    ipython.register_magics(NbflowMagics)
