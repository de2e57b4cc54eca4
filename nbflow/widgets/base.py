"""What every nbflow view shares: button messages dispatched to ``_do_<action>`` methods,
handled off the main thread where the kernel allows (clicks answer while a cell runs), and
a static picture in the display data for notebooks shown without a kernel."""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

from nbflow.widgets.comm_thread import SyncFromAnyThread, serve_off_main_thread


class View(SyncFromAnyThread, anywidget.AnyWidget):
    """Base of the views: subclasses define ``_do_<action>`` handlers and ``static_html()``."""

    message = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_msg(self._on_front_end_message)
        serve_off_main_thread(self)  # see comm_thread: on a kernel subshell where there is one

    def _on_front_end_message(self, _widget: Any, content: dict, _buffers: Any) -> None:
        action = str(content.get("action"))
        handler = getattr(self, f"_do_{action}", None)
        if handler is None:
            self.message = f"Unknown action {action!r}."
            return
        try:
            handler(**{k: v for k, v in content.items() if k != "action"})
        except Exception as exc:  # shown in the view: a click must never raise into the kernel log
            self.message = f"{type(exc).__name__}: {exc}"
        finally:
            self.busy = ""

    def static_html(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle: Any = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data["text/html"] = self.static_html()
        return data, metadata
