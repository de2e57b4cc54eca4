"""Views served on a kernel subshell: the routing, its fall-backs, and syncing from threads.

The real thing -- clicks answered while the kernel's main thread sleeps -- is checked in a
real kernel in ``test_comm_thread_kernel.py`` and in JupyterLab in ``tests/browser``.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import types
from unittest import mock

import comm as comm_module
import ipywidgets
import pytest
import traitlets

from nbflow.widgets import comm_thread
from nbflow.widgets.base import View
from nbflow.widgets.comm_thread import SyncFromAnyThread


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    for name, value in [("_kernel", None), ("_subshell_id", None), ("_unavailable", None),
                        ("_main_parent", None)]:
        monkeypatch.setattr(comm_thread, name, value)


class RecordingComm(comm_module.DummyComm):
    """A comm that keeps what the kernel would publish, and lets tests choose its routing."""

    def __init__(self, **kwargs):
        self.sent: list[dict] = []
        super().__init__(**kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.sent.append(data or {})

    def _reply_subshell_for(self, data, default):  # as ipykernel's: where the last publish came from
        return getattr(self, "_reply_subshell_id", default)


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setattr(comm_module, "create_comm", lambda **kwargs: RecordingComm(**kwargs))


class FakeManager:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.subshells, self.created_on = fail, [], []

    def _create_subshell(self) -> str:
        self.created_on.append(threading.current_thread().name)
        if self.fail:
            raise RuntimeError("no more threads")
        self.subshells.append(f"sub-{len(self.subshells)}")
        return self.subshells[-1]

    def list_subshell(self) -> list[str]:
        return list(self.subshells)


class FakeLoop:
    """Runs callbacks on its own thread, as the shell channel thread's event loop does."""

    def add_callback(self, callback):
        threading.Thread(target=callback, name="Shell channel").start()


class RoutingKernel:
    """A kernel whose shell channel asks each comm for its subshell, as ipykernel 7.4 does."""

    def __init__(self, manager: FakeManager) -> None:
        self.shell_channel_thread = types.SimpleNamespace(_manager=manager, io_loop=FakeLoop())

    async def shell_channel_thread_main(self, msg):
        comm = msg["comm"]
        route = getattr(comm, "_reply_subshell_for", None)
        return route(msg["data"], None) if route is not None else None


class OldKernel(RoutingKernel):
    async def shell_channel_thread_main(self, msg):  # 7.0-7.3: routes by the header alone
        return msg["header"].get("subshell_id")


def use_kernel(monkeypatch, kernel):
    import ipykernel  # noqa: F401 -- loaded in any real kernel; its version is checked first

    monkeypatch.setattr(comm_thread, "_current_kernel", lambda: kernel)


def route_of(view) -> str | None:
    return view.comm._reply_subshell_for({"method": "custom"}, None)


class Probe(View):
    counter = traitlets.Int(0).tag(sync=True)

    def static_html(self) -> str:
        return ""

    def _do_bump(self) -> None:
        self.counter += 1


def test_outside_a_kernel_views_stay_as_they_were(recording):
    view = Probe()
    assert comm_thread.status() == "not started"
    assert not getattr(view.comm, "_nbflow_routed", False)
    view._handle_custom_msg({"action": "bump"}, [])
    assert view.counter == 1


def test_views_share_one_subshell_started_on_the_shell_channel_thread(recording, monkeypatch):
    manager = FakeManager()
    use_kernel(monkeypatch, RoutingKernel(manager))
    first, second = Probe(), Probe()
    assert manager.created_on == ["Shell channel"]
    assert route_of(first) == route_of(second) == "sub-0"
    assert comm_thread.status() == "subshell sub-0"


def test_a_reply_another_subshell_waits_for_stays_there(recording, monkeypatch):
    use_kernel(monkeypatch, RoutingKernel(FakeManager()))
    view = Probe()
    view.comm._reply_subshell_id = "a-cell-in-another-subshell"
    assert view.comm._reply_subshell_for({}, None) == "a-cell-in-another-subshell"


def test_a_deleted_subshell_sends_messages_to_the_main_shell(recording, monkeypatch):
    manager = FakeManager()
    use_kernel(monkeypatch, RoutingKernel(manager))
    view = Probe()
    manager.subshells.clear()  # a client sent delete_subshell_request for it
    assert route_of(view) is None  # the main shell: the click waits, it is not refused


def test_routing_never_raises_on_the_shell_channel_thread(recording, monkeypatch):
    use_kernel(monkeypatch, RoutingKernel(FakeManager()))
    view = Probe()
    monkeypatch.setattr(comm_thread, "_kernel", object())  # no shell_channel_thread at all
    assert route_of(view) is None

    def broken(data, default):
        raise KeyError("ipykernel changed")

    assert comm_thread._route(broken, {}, None) is None


@pytest.mark.parametrize(("kernel", "reason"), [
    (types.SimpleNamespace(), "no kernel subshells"),
    (types.SimpleNamespace(shell_channel_thread=types.SimpleNamespace(io_loop=FakeLoop())),
     "subshell manager is not the one nbflow knows"),
    (OldKernel(FakeManager()), "does not route comm messages to subshells"),
])
def test_kernels_without_routable_subshells_keep_views_on_the_main_shell(recording, monkeypatch, caplog,
                                                                          kernel, reason):
    use_kernel(monkeypatch, kernel)
    with caplog.at_level(logging.WARNING, logger="nbflow"):
        view = Probe()
    assert reason in comm_thread.status()
    assert route_of(view) is None
    assert not caplog.records  # an older kernel is normal: nothing to warn about
    view._handle_custom_msg({"action": "bump"}, [])
    assert view.counter == 1


def test_an_ipykernel_older_than_7_4_is_not_even_probed(recording, monkeypatch):
    import ipykernel

    monkeypatch.setattr(ipykernel, "version_info", (7, 3, 0))
    manager = FakeManager()
    use_kernel(monkeypatch, RoutingKernel(manager))
    view = Probe()
    assert comm_thread.status() == "ipykernel 7.3.0 has no comm routing to subshells (needs 7.4+)"
    assert manager.created_on == [] and route_of(view) is None


def test_a_subshell_that_fails_to_start_is_logged_once_and_views_still_work(recording, monkeypatch, caplog):
    manager = FakeManager(fail=True)
    use_kernel(monkeypatch, RoutingKernel(manager))
    with caplog.at_level(logging.WARNING, logger="nbflow"):
        views = [Probe(), Probe()]
    assert len(manager.created_on) == 1  # not retried for every view
    assert [r.getMessage() for r in caplog.records] == [
        "nbflow views: views' messages stay on the main thread: RuntimeError: no more threads; "
        "clicks wait while a cell runs."]
    assert route_of(views[0]) is None
    views[1]._handle_custom_msg({"action": "bump"}, [])
    assert views[1].counter == 1


def test_a_subshell_that_does_not_start_in_time_is_given_up(recording, monkeypatch):
    class StuckLoop:
        def add_callback(self, callback):
            pass

    kernel = RoutingKernel(FakeManager())
    kernel.shell_channel_thread.io_loop = StuckLoop()
    use_kernel(monkeypatch, kernel)
    monkeypatch.setattr(comm_thread, "SUBSHELL_START_SECONDS", 0.05)
    view = Probe()
    assert "did not start a subshell within 0.05 s" in comm_thread.status()
    assert route_of(view) is None


class Counters(SyncFromAnyThread, ipywidgets.Widget):
    a = traitlets.Int(0).tag(sync=True)
    b = traitlets.Int(0).tag(sync=True)


def test_traits_set_from_threads_during_a_hold_sync_are_all_sent(recording):
    widget = Counters()
    sent = widget.comm.sent
    sent.clear()
    started, stop = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def bump_b() -> None:
        try:
            started.set()
            while not stop.is_set():
                widget.b += 1
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=bump_b)
    thread.start()
    started.wait()
    for _ in range(200):
        with widget.hold_sync():
            widget.a += 1
    stop.set()
    thread.join()
    assert not errors
    last = {}
    for data in sent:
        last.update(data.get("state", {}))
    assert last == {"a": 200, "b": widget.b}  # the front end ends with every last value
    assert not widget._holding_sync and not widget._states_to_send


def test_a_nested_hold_sync_sends_once_at_the_end(recording):
    widget = Counters()
    widget.comm.sent.clear()
    with widget.hold_sync():
        widget.a = 1
        with widget.hold_sync():
            widget.b = 2
        assert widget.comm.sent == []
    assert [d["state"] for d in widget.comm.sent] == [{"a": 1, "b": 2}]


class ParentStream:
    """Like ipykernel's OutStream: a parent per context, falling back to the last one set."""

    def __init__(self) -> None:
        self._var: contextvars.ContextVar[dict] = contextvars.ContextVar("parent")
        self._global: dict = {}

    @property
    def parent_header(self) -> dict:
        try:
            return self._var.get()
        except LookupError:
            return self._global

    @parent_header.setter
    def parent_header(self, value: dict) -> None:
        self._var.set(value)
        self._global = value


CELL = {"header": {"msg_id": "cell", "msg_type": "execute_request"}}
CLICK = {"msg_id": "click", "msg_type": "comm_msg"}


@pytest.fixture
def kernel_output(monkeypatch):
    stream = ParentStream()
    shell = types.SimpleNamespace(parents=[])
    shell.set_parent = lambda parent: (shell.parents.append(parent), setattr(stream, "parent_header",
                                                                            parent["header"]))
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    monkeypatch.setattr(comm_thread, "_main_parent", CELL)
    return stream, shell


def handle_click(stream, while_handling=lambda: None) -> None:
    def run() -> None:
        stream.parent_header = CLICK  # what ipykernel does before the handlers run
        with comm_thread.cell_output_kept():
            while_handling()

    thread = threading.Thread(target=run)  # the views' subshell
    with mock.patch("sys.stdout", stream):  # here, not in a fixture: pytest's capture resets it
        thread.start()
        thread.join()


def test_after_a_click_off_the_main_thread_the_cells_threads_print_into_the_cell(kernel_output):
    stream, shell = kernel_output
    handle_click(stream)
    assert shell.parents == [CELL]
    assert contextvars.Context().run(getattr, stream, "parent_header") == CELL["header"]


def test_a_parent_set_by_someone_else_meanwhile_is_left_alone(kernel_output):
    stream, shell = kernel_output
    other = {"msg_id": "next-cell", "msg_type": "execute_request"}

    def next_cell_starts() -> None:
        threading.Thread(target=setattr, args=(stream, "parent_header", other)).start()

    handle_click(stream, next_cell_starts)
    assert shell.parents == []
    assert contextvars.Context().run(getattr, stream, "parent_header") == other


def test_on_the_main_thread_nothing_is_restored(kernel_output):
    stream, shell = kernel_output
    stream.parent_header = CLICK
    with mock.patch("sys.stdout", stream), comm_thread.cell_output_kept():
        pass
    assert shell.parents == []
