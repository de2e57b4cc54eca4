"""Clicks that answer while a cell runs: nbflow views' messages handled on a kernel subshell.

A Jupyter kernel handles the messages of widgets (``comm_msg``) on the thread that runs
cells, so while a cell is busy -- a run in the foreground, or just ``time.sleep(8)`` -- a
click on a view waits until the cell ends. ipykernel 7 has *kernel subshells* (JEP 91):
further threads, each with its own event loop, that handle shell messages, and a *shell
channel thread* that receives every shell message and hands it to the main shell or to
a subshell. From ipykernel 7.4 on it asks the comm of each ``comm_msg`` / ``comm_close``
which subshell should handle it (``comm._reply_subshell_for(data, default)``).

This module uses that: once per kernel it starts one subshell for nbflow's views, and it
gives every view's comm a routing function that names that subshell. The views' handlers
then run on the subshell's thread, whatever the main thread is doing.

ipykernel internals used, all checked before use (:func:`support`), each failure logged
once with the views falling back to the main shell -- clicks then simply wait for the cell,
as on any kernel without subshells (ipykernel 6, other kernels, marimo, no kernel at all):

- ``kernel.shell_channel_thread``: its ``io_loop`` (to run code on that thread) and its
  ``manager`` (``SubshellManager``): ``_create_subshell()``, which must run on the shell
  channel thread (it is what a ``create_subshell_request`` runs), and ``list_subshell()``;
- the comm's ``_reply_subshell_for(data, default)``, and that the kernel's
  ``shell_channel_thread_main`` calls it (ipykernel >= 7.4).

Handlers that run off the main thread have two more things to get right, also here:

- output: ipykernel's handling of a message sets it as the *global* parent of stdout,
  stderr and ``display``, which threads of a cell fall back to, so a click would send the
  prints of a cell's background threads into the click's (invisible) output. After each
  view message handled off the main thread the global parent goes back to the cell that
  runs (or ran last). Prints of a handler itself go, as before, with the click: JupyterLab
  shows them in its log console, never in a cell.
- state: ipywidgets' syncing of traits is not thread-safe (``hold_sync`` batches into a set
  shared by every thread); :class:`SyncFromAnyThread` makes each sync atomic.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any, cast

_LOG = logging.getLogger("nbflow")
MIN_IPYKERNEL = (7, 4)  # 7.3 has subshells but routes comm messages by header only
SUBSHELL_START_SECONDS = 2.0  # how long the first view waits for the subshell to start

_lock = threading.Lock()  # short reads and writes of the state below, also from _route
_start_lock = threading.Lock()  # one subshell per kernel, even if views appear on two threads
_kernel: Any = None  # the kernel the state below belongs to
_subshell_id: str | None = None
_unavailable: str | None = None  # why views are served on the main shell, once known
_main_parent: dict[str, Any] | None = None  # the request of the cell that runs, or ran last


def status() -> str:
    """Where this kernel's views handle clicks: ``"subshell <id>"`` or why on the main thread."""
    with _lock:
        if _subshell_id is not None:
            return f"subshell {_subshell_id}"
        return _unavailable or "not started"


def serve_off_main_thread(widget: Any) -> bool:
    """Route ``widget``'s front-end messages to the views' subshell; False where that can't be.

    Never raises: any failure is logged and the widget stays on the main shell.
    """
    try:
        comm = getattr(widget, "comm", None)
        kernel = _current_kernel()
        if comm is None or kernel is None:
            return False
        subshell_id = _views_subshell(kernel, comm)
        if subshell_id is None:
            return False
        _route_to_views_subshell(comm)
        return True
    except Exception as exc:  # a kernel we do not understand: clicks wait for the cell, as before
        _give_up(f"views' messages stay on the main thread: {type(exc).__name__}: {exc}")
        return False


def support(kernel: Any, comm: Any) -> str | None:
    """Why views can't be served on a subshell of ``kernel`` (None if they can)."""
    version = getattr(sys.modules.get("ipykernel"), "version_info", (0,))
    if tuple(version[:2]) < MIN_IPYKERNEL:
        return f"ipykernel {'.'.join(map(str, version[:3]))} has no comm routing to subshells (needs 7.4+)"
    thread = getattr(kernel, "shell_channel_thread", None)
    if thread is None:
        return "the kernel has no kernel subshells (ipykernel < 7, or another kernel)"
    manager = getattr(thread, "_manager", None)  # built at kernel start; never build it here
    needed = ("_create_subshell", "list_subshell")
    if manager is None or not all(callable(getattr(manager, name, None)) for name in needed):
        return "this ipykernel's subshell manager is not the one nbflow knows (7.4+)"
    if getattr(thread, "io_loop", None) is None:
        return "this ipykernel's shell channel thread has no event loop"
    if not callable(getattr(comm, "_reply_subshell_for", None)) or not _kernel_routes_comms(kernel):
        return "this ipykernel does not route comm messages to subshells (needs ipykernel >= 7.4)"
    return None


def _kernel_routes_comms(kernel: Any) -> bool:
    # The kernel asks a comm for its subshell with getattr(comm, "_reply_subshell_for"): the name
    # is then a constant of the code of shell_channel_thread_main. Without that call a routing
    # function on the comm would be silently ignored.
    main = getattr(type(kernel), "shell_channel_thread_main", None)
    code = getattr(main, "__code__", None)
    return code is not None and "_reply_subshell_for" in code.co_consts


def _current_kernel() -> Any:
    module = sys.modules.get("ipykernel.kernelbase")  # never import ipykernel where it isn't loaded
    if module is None or not module.Kernel.initialized():
        return None
    return module.Kernel.instance()


def _give_up(reason: str) -> None:
    global _unavailable
    with _lock:
        first = _unavailable is None
        _unavailable = reason
    if first:
        _LOG.warning("nbflow views: %s; clicks wait while a cell runs.", reason)


def _views_subshell(kernel: Any, comm: Any) -> str | None:
    """The id of this kernel's subshell for views, started on first use."""
    with _start_lock:
        return _views_subshell_locked(kernel, comm)


def _views_subshell_locked(kernel: Any, comm: Any) -> str | None:
    global _kernel, _subshell_id, _unavailable
    with _lock:
        if _kernel is not kernel:  # a new kernel (tests start several): start over
            _kernel, _subshell_id, _unavailable = kernel, None, None
        if _subshell_id is not None or _unavailable is not None:
            return _subshell_id
    reason = support(kernel, comm)
    if reason is not None:
        with _lock:
            _unavailable = reason  # expected on such kernels: no warning
        return None
    subshell_id = _start_subshell(kernel)
    with _lock:
        _subshell_id = subshell_id
    _follow_main_parent(kernel)
    return subshell_id


def _start_subshell(kernel: Any) -> str:
    """Create a subshell on the shell channel thread, as a ``create_subshell_request`` would."""
    thread = kernel.shell_channel_thread
    done = threading.Event()
    answer: dict[str, Any] = {}

    def create() -> None:  # runs on the shell channel thread, between its messages
        try:
            answer["id"] = thread._manager._create_subshell()
        except BaseException as exc:  # reported to the waiting thread
            answer["error"] = exc
        finally:
            done.set()

    thread.io_loop.add_callback(create)  # thread-safe: wakes that thread's loop
    if not done.wait(SUBSHELL_START_SECONDS):
        raise TimeoutError(f"the kernel did not start a subshell within {SUBSHELL_START_SECONDS} s")
    if "error" in answer:
        raise answer["error"]
    return str(answer["id"])


def _route_to_views_subshell(comm: Any) -> None:
    if getattr(comm, "_nbflow_routed", False):
        return
    comm._reply_subshell_for = functools.partial(_route, comm._reply_subshell_for)
    comm._nbflow_routed = True


def _route(kernels_choice: Any, data: Any, default: str | None) -> str | None:
    """Which subshell handles a message for a view. Runs on the shell channel thread, where an
    exception would drop the message: it never raises."""
    try:
        chosen: str | None = kernels_choice(data, default)
    except Exception:
        chosen = default
    if chosen is not None:  # sent to a subshell, or a reply a subshell waits for: theirs
        return chosen
    try:
        with _lock:
            kernel, subshell_id = _kernel, _subshell_id
        if subshell_id is None or subshell_id not in kernel.shell_channel_thread._manager.list_subshell():
            return None  # never started, or deleted by a client: the main shell, not an error reply
        return subshell_id
    except Exception:
        return None


# -- output of the cell's threads -------------------------------------------------------------------
def _follow_main_parent(kernel: Any) -> None:
    """Remember, at each cell start, the request the main thread works for."""
    shell = getattr(kernel, "shell", None)
    if shell is None or getattr(shell, "_nbflow_follows_parent", False):
        return

    def remember(*_args: Any) -> None:
        global _main_parent
        # The comm package fires pre_execute around every comm message too, on any thread:
        # only a cell on the main thread is where the cell's threads print.
        if threading.current_thread() is not threading.main_thread():
            return
        parent = shell.parent_header
        if isinstance(parent, dict) and parent.get("header", {}).get("msg_type") == "execute_request":
            _main_parent = parent

    remember()
    shell.events.register("pre_execute", remember)
    shell._nbflow_follows_parent = True


@contextlib.contextmanager
def cell_output_kept() -> Iterator[None]:
    """Around the handling of a view's message: if it was handled off the main thread, give
    the global output parent back to the cell (see the module's docstring)."""
    try:
        yield
    finally:
        if threading.current_thread() is not threading.main_thread() and _main_parent is not None:
            try:
                _restore_global_parent(_main_parent)
            except Exception:  # output routing is a nicety; never fail a click for it
                _LOG.debug("nbflow views: could not restore the output parent", exc_info=True)


def _restore_global_parent(parent: dict[str, Any]) -> None:
    module = sys.modules.get("IPython")
    shell = module.get_ipython() if module is not None else None
    stdout = sys.stdout
    if shell is None or not hasattr(shell, "set_parent") or not hasattr(stdout, "parent_header"):
        return
    # In an empty context a parent_header reads the global value: what threads fall back to.
    global_now = contextvars.Context().run(getattr, stdout, "parent_header")
    if global_now != stdout.parent_header:
        return  # someone set another parent since this message was taken up: leave theirs
    shell.set_parent(parent)


# -- traits set from several threads ------------------------------------------------------------------
class SyncFromAnyThread:
    """Mixin for an ipywidgets widget whose traits are set from several threads (a run's
    coordinator, the views' subshell, the main thread): each sync to the front end is atomic,
    and a ``hold_sync`` batch collects the changes of every thread without losing any."""

    _sync_lock: threading.RLock

    def _guard(self) -> threading.RLock:
        lock = self.__dict__.get("_sync_lock")
        if lock is None:  # dict.setdefault is atomic: two threads get the same lock
            lock = self.__dict__.setdefault("_sync_lock", threading.RLock())
        return cast(threading.RLock, lock)

    def send_state(self, key: Any = None) -> None:
        with self._guard():
            super().send_state(key)  # type: ignore[misc]

    def _should_send_property(self, key: str, value: Any) -> bool:
        with self._guard():
            return bool(super()._should_send_property(key, value))  # type: ignore[misc]

    @contextlib.contextmanager
    def hold_sync(self) -> Iterator[None]:
        """Like ipywidgets' ``hold_sync``; the lock is held only to start and to flush."""
        with self._guard():
            outermost = not self._holding_sync  # type: ignore[has-type]
            self._holding_sync = True
        if not outermost:
            yield
            return
        try:
            yield
        finally:
            with self._guard():
                self._holding_sync = False
                keys = set(self._states_to_send)  # type: ignore[attr-defined]
                self._states_to_send.clear()  # type: ignore[attr-defined]
                if keys:
                    self.send_state(keys)

    def _handle_msg(self, msg: dict[str, Any]) -> None:
        with cell_output_kept():
            super()._handle_msg(msg)  # type: ignore[misc]
