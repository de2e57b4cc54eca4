"""What every nbflow view shares: button messages dispatched to ``_do_<action>`` methods,
handled off the main thread where the kernel allows (clicks answer while a cell runs), and
a static picture for notebooks shown without a kernel.

In a kernel the static picture is a display output of its own, just above the live view,
kept up to date while the view changes (a run's picture ends in the run's final state).
Saved notebooks, GitHub, nbviewer and ``jupyter nbconvert --to html`` (which shows a
widget output only by loading a widget library from the internet) show that picture; a
live front end hides it as soon as the view renders.
"""

from __future__ import annotations

import html
import pathlib
import threading
import uuid
from typing import Any

import anywidget
import traitlets

from nbflow.widgets.comm_thread import SyncFromAnyThread, serve_off_main_thread

STATIC = pathlib.Path(__file__).parent / "static"


def view_module(file_name: str) -> str:
    """A view's front-end module (its ``_esm``): the DOM helpers the views share
    (``static/_dom.js``) followed by the view's own ``static/<file_name>``. Joined here because
    a widget's module cannot import a file of the package from the front end."""
    shared = (STATIC / "_dom.js").read_text(encoding="utf-8")
    return f"{shared}\n{(STATIC / file_name).read_text(encoding='utf-8')}"


class View(SyncFromAnyThread, anywidget.AnyWidget):
    """Base of the views: subclasses define ``_do_<action>`` handlers and ``static_html()``."""

    message = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Unicode("").tag(sync=True)
    # Marks this view's static picture, which the front end hides once the view is drawn.
    view_id = traitlets.Unicode().tag(sync=True)

    @traitlets.default("view_id")
    def _new_view_id(self) -> str:
        return uuid.uuid4().hex

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._static_displays: list[Any] = []
        self.on_msg(self._on_front_end_message)
        serve_off_main_thread(self)  # see comm_thread: on a kernel subshell where there is one

    def _on_front_end_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
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

    def static_block(self) -> str:
        """The static picture, marked with this view's id."""
        return (f"<div class='nbflow-static' data-nbflow-static='{html.escape(self.view_id)}'>"
                f"{self.static_html()}</div>")

    def refresh_static(self) -> None:
        """Bring the displayed static pictures up to the view's current state."""
        if not self._static_displays:
            return
        # From any thread: an update goes by display id to the picture it replaces (a run's
        # coordinator thread also carries the context of the cell that started the run).
        block = self.static_block()
        for handle in self._static_displays:
            try:
                handle.update({"text/html": block}, raw=True)
            except Exception:  # a closed kernel channel must not break the run that finished
                pass

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        from nbflow.widgets.live import in_widget_kernel

        bundle: Any = super()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data["text/plain"] = self.plain_text()
        if in_widget_kernel() and threading.current_thread() is threading.main_thread():
            # A display output of its own: a front end that cannot draw the widget shows this
            # one (a mime bundle's text/html would be dropped in favour of the widget).
            from IPython.display import display

            self._static_displays.append(display({"text/html": self.static_block()}, raw=True,
                                                 display_id=True))
        else:
            data["text/html"] = self.static_html()
        return data, metadata

    def plain_text(self) -> str:
        return f"<{type(self).__name__}>"
