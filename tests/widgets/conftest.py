from __future__ import annotations

from typing import Any

import pytest


class Handle:
    def __init__(self, output: dict) -> None:
        self.output = output

    def update(self, obj: Any, raw: bool = False) -> None:
        self.output["data"] = obj
        self.output["updates"] += 1


class Shown:
    """What IPython's display() put into the cell's outputs, in order."""

    def __init__(self) -> None:
        self.outputs: list[dict] = []

    def display(self, obj: Any, raw: bool = False, display_id: Any = None, **_: Any) -> Any:
        data = obj if raw else obj._repr_mimebundle_()
        data = data[0] if isinstance(data, tuple) else data
        output = {"data": data, "display_id": display_id, "updates": 0}
        self.outputs.append(output)
        return Handle(output) if display_id else None


@pytest.fixture
def shown(monkeypatch) -> Shown:
    """A pretend notebook kernel: views are displayed, display() calls are recorded."""
    record = Shown()
    monkeypatch.setattr("nbflow.widgets.live.in_widget_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display", record.display)
    return record
