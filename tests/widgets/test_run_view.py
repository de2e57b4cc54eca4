"""RunView and JobView without a browser: state, clicks, reruns, live following, throttling."""

from __future__ import annotations

import json
import time

import pytest

import nbflow as nf
from nbflow.widgets import run_view
from nbflow.widgets.job_view import JobView
from nbflow.widgets.run_view import RunView

BROKEN = {"k3", "k7"}


@nf.op(out=nf.DynamicOut(), config_schema={"n": nf.Field(int, default_value=10)})
def chunks(context):
    n = context.op_config["n"]
    for i in range(n):
        yield nf.DynamicOutput(i, mapping_key=f"k{i}")


@nf.op
def work(context, i: int) -> int:
    if context.get_mapping_key() in BROKEN:
        print("about to fail")
        raise ValueError(f"broken chunk {i}")
    return i * 10


@nf.op
def add_up(values: list) -> int:
    return sum(values)


@nf.job
def chunked():
    add_up(chunks().map(work).collect())


def click(view, action, **extra):
    """A click, then waiting as a user would for a run it started (reruns go in the background)."""
    from nbflow.runtime.background import LIVE

    view._handle_custom_msg({"action": action, **extra}, [])
    execution = LIVE.get(view.run_id)
    if execution is not None:
        assert execution.wait(timeout=60)


@pytest.fixture
def failed_run(instance):
    BROKEN.clear()
    BROKEN.update({"k3", "k7"})
    yield chunked.run(instance=instance)
    BROKEN.clear()


def test_a_finished_run(failed_run):
    view = RunView(failed_run)
    assert (view.run_id, view.job_name, view.status) == (failed_run.run_id, "chunked", "FAILURE")
    assert view.progress == {"done": 12, "total": 12, "canceled": 0, "failed": 2, "skipped": 1, "elapsed": view.progress["elapsed"],
                             "reused": 0, "live": False}
    assert 'id="node:work"' in view.svg and "work ×10" in view.svg


def test_clicking_a_mapped_node_lists_its_keys_paged_and_filtered(failed_run, monkeypatch):
    monkeypatch.setattr(run_view, "PAGE_SIZE", 4)
    view = RunView(failed_run)
    click(view, "select", node="work")
    assert view.selected["mapped"] and view.selected["counts"] == {"SUCCESS": 8, "FAILURE": 2}
    assert [r["key"] for r in view.key_page["rows"]] == ["k0", "k1", "k2", "k3"]
    assert (view.key_page["total"], view.key_page["pages"]) == (10, 3)
    click(view, "keys", node="work", page=2)
    assert [r["key"] for r in view.key_page["rows"]] == ["k8", "k9"]
    click(view, "keys", node="work", status="FAILURE")
    assert [r["key"] for r in view.key_page["rows"]] == ["k3", "k7"]
    click(view, "keys", node="work", text="K7")
    assert [r["key"] for r in view.key_page["rows"]] == ["k7"]


def test_key_pages_step_from_the_page_shown_when_handled(failed_run, monkeypatch):
    monkeypatch.setattr(run_view, "PAGE_SIZE", 4)
    view = RunView(failed_run)
    click(view, "select", node="work")
    click(view, "keys", node="work", step=1)  # two clicks on "›" before a redraw: two pages on
    click(view, "keys", node="work", step=1)
    assert view.key_page["page"] == 2 and [r["key"] for r in view.key_page["rows"]] == ["k8", "k9"]
    click(view, "keys", node="work", step=1)  # past the end: the last page
    assert view.key_page["page"] == 2
    click(view, "keys", node="work", step=-1)
    assert [r["key"] for r in view.key_page["rows"]] == ["k4", "k5", "k6", "k7"]
    # A step with another filter than the one shown starts that filter's list at its first page.
    click(view, "keys", node="work", status="SUCCESS", step=1)
    assert view.key_page["page"] == 0 and view.key_page["status"] == "SUCCESS"


def test_clicking_a_key_shows_its_error_logs_and_a_sibling_its_output(failed_run):
    view = RunView(failed_run)
    click(view, "select", node="work", key="k3")
    assert view.selected["status"] == "FAILURE" and "ValueError: broken chunk 3" in view.selected["error"]
    assert view.selected["logs"] == ["INFO about to fail"]
    click(view, "select", node="work", key="k4")
    assert view.selected["output_text"] == "40" and view.selected["attempts"] == 1
    click(view, "select", node="nope")
    assert view.message == "No op 'nope' in this run's job."


def test_dataframe_outputs_preview_as_a_table(instance):
    import pandas as pd

    @nf.op
    def frame() -> pd.DataFrame:
        return pd.DataFrame({"a": range(100)})

    @nf.job
    def framed():
        frame()

    view = RunView(framed.run(instance=instance))
    click(view, "select", node="frame")
    assert "<table" in view.selected["output_html"] and view.selected["output_html"].count("<tr") == 11
    assert view.selected["output_text"] == "100 rows × 1 columns"


def test_rerun_failed_follows_the_child_linked_to_its_parent(failed_run):
    view = RunView(failed_run)
    BROKEN.clear()  # the fix
    click(view, "rerun_failed")
    assert view.run_id != failed_run.run_id and view.parent_run_id == failed_run.run_id
    assert view.status == "SUCCESS" and view.message.startswith("Rerun of failed steps: new run")
    child = failed_run.instance.get_run(view.run_id)
    assert child.output("add_up") == sum(i * 10 for i in range(10))
    click(view, "open", run_id=failed_run.run_id)
    assert view.run_id == failed_run.run_id
    assert view.children == [{"run_id": child.run_id, "status": "SUCCESS"}]


def test_rerun_one_key_downstream_and_selected_keys(failed_run):
    view = RunView(failed_run)
    BROKEN.discard("k3")
    click(view, "rerun_downstream", node="work", key="k3")
    child = failed_run.instance.get_run(view.run_id)
    steps = child.steps().set_index("step_key")
    assert steps.loc["work[k3]", "status"] == "SUCCESS" and steps.loc["work[k3]", "reused_from"] != steps.loc["work[k3]", "reused_from"]
    assert view.status == "FAILURE"  # k7 is still broken, so the collect is skipped
    BROKEN.clear()
    click(view, "open", run_id=failed_run.run_id)
    click(view, "rerun_selected", node="work")
    assert view.message == "Tick keys in the table first."
    view.checked = ["k3", "k7"]
    click(view, "rerun_selected", node="work")
    assert view.status == "SUCCESS" and view.checked == []


def test_rerun_this_step_only(failed_run):
    view = RunView(failed_run)
    BROKEN.clear()
    click(view, "rerun_step", node="work", key="k7")
    child = failed_run.instance.get_run(view.run_id)
    executed = child.steps()
    executed = executed[executed.reused_from.isna()]
    assert executed.step_key.tolist() == ["work[k7]"]


def test_expanding_a_mapped_node_draws_its_keys(failed_run):
    view = RunView(failed_run)
    click(view, "expand", node="work", status="FAILURE")
    assert 'id="key:work:k3"' in view.svg and 'id="key:work:k7"' in view.svg and "key:work:k4" not in view.svg
    click(view, "collapse")
    assert "key:work" not in view.svg


def test_a_live_view_follows_the_run_and_is_throttled(instance):
    pushes = {"progress": 0, "svg": 0}
    view = RunView.live(chunked, instance)
    view.observe(lambda change: pushes.__setitem__(change["name"], pushes[change["name"]] + 1), ["progress", "svg"])
    seen_live = []
    view.observe(lambda change: seen_live.append(change["new"].get("live")), ["progress"])
    from nbflow.runtime.instance import launch  # with observer=: what job.run() does in a kernel

    BROKEN.clear()
    run = launch(chunked, {"ops": {"chunks": {"config": {"n": 10_000}}}}, instance, observer=view)
    assert run.status == "SUCCESS"
    assert view.run_id == run.run_id and view.status == "SUCCESS"
    assert view.progress["done"] == 10_002 and view.progress["live"] is False
    assert True in seen_live  # it was live while running
    # 10,002 steps, yet a handful of updates: at most one per 0.25 s (progress), 1 s (graph).
    assert pushes["progress"] < 40 and pushes["svg"] < 15


def test_a_broken_view_never_breaks_the_run(instance):
    class Broken:
        def on_start(self, run_id, inst):
            raise RuntimeError("view exploded")

        def on_step(self, record):
            raise RuntimeError("view exploded")

        def on_item(self, node, output, key):
            raise RuntimeError("view exploded")

        def on_reused(self, step):
            pass

        def on_finish(self, status):
            raise RuntimeError("view exploded")

    from nbflow.runtime.instance import launch

    BROKEN.clear()
    assert launch(chunked, None, instance, observer=Broken()).status == "SUCCESS"


def test_shown_twice_and_after_a_restart(tmp_path):
    path = str(tmp_path / "r.duckdb")
    BROKEN.clear()
    run = chunked.run(instance=nf.Instance(path))
    a, b = RunView(run), RunView(run)
    assert a.svg == b.svg and a.progress == b.progress
    restarted = nf.Instance(path).get_run(run.run_id)  # no job object: the stored shape draws it
    assert restarted._job is None
    again = RunView(restarted)
    assert 'id="node:work"' in again.svg and again.status == "SUCCESS"


def test_the_largest_message_stays_small(failed_run):
    view = RunView(failed_run)
    click(view, "select", node="work")
    state = view.get_state()
    sizes = {k: len(json.dumps(v)) for k, v in state.items() if k not in ("_esm", "_css")}
    assert max(sizes.values()) < 50_000


def test_static_fallback_in_the_bundle(failed_run):
    data, _ = RunView(failed_run)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "<svg" in data["text/html"] and "FAILURE" in data["text/html"]


def node_svg(svg: str, node: str) -> str:
    """The SVG group drawing one node of the graph."""
    return svg[svg.index(f'id="node:{node}"'):].split("</g>")[0]


def test_a_rerun_shows_its_own_time_and_reused_steps_without_one(failed_run):
    time.sleep(1.5)  # the parent's steps are this far in the past when the rerun starts
    BROKEN.clear()
    child = failed_run.rerun(failed=True)
    view = RunView(child)
    record = child._record()
    assert view.progress["elapsed"] == round(record["end_time"] - record["start_time"], 1)
    assert view.progress["elapsed"] < 1.5  # counted from the parent's start it was over 1.5 s
    assert view.progress["reused"] == 9  # chunks and 8 keys of work
    summary = child.instance.store.step_summary(child.run_id)
    states = run_view._states(summary, run_view._own_spans(summary))
    assert states["chunks"].reused == 1 and states["chunks"].duration is None
    assert states["work"].duration is not None and states["work"].duration < 1.5
    assert node_svg(view.svg, "chunks").count(">reused<") == 1 and " ms<" not in node_svg(view.svg, "chunks")
    click(view, "select", node="work")
    rows = {r["key"]: r for r in view.key_page["rows"]}
    assert rows["k0"]["reused"] and rows["k0"]["seconds"] is None
    assert not rows["k3"]["reused"] and rows["k3"]["seconds"] is not None
    click(view, "select", node="work", key="k0")
    assert view.selected["reused_from"] == failed_run.run_id and view.selected["seconds"] is None


def test_a_fan_out_op_yielding_is_drawn_running():
    view = RunView.live(chunked, nf.Instance.ephemeral())
    inst = view.instance
    BROKEN.clear()
    seen = []

    class Spy:
        def __getattr__(self, name):
            return getattr(view, name)

        def on_item(self, node, output, key):
            view.on_item(node, output, key)
            if len(seen) == 0:
                view._push_live(time.monotonic() + 10)  # the next push and draw are due
                seen.append(view.svg)

    from nbflow.runtime.instance import launch

    launch(chunked, None, inst, None, observer=Spy())
    chunks_node = node_svg(seen[0], "chunks")
    assert ">running<" in chunks_node and "status&#45;none" not in chunks_node  # not "not started"


@nf.op(out=nf.DynamicOut())
def many():
    for i in range(300):
        yield nf.DynamicOutput(i, mapping_key=f"m{i}")


@nf.op
def chatty(i: int) -> int:
    print(f"working on {i}")
    print("done")
    return i


@nf.job
def chatty_job():
    many().map(chatty)


def test_what_steps_print_stays_in_their_logs_under_a_live_view(shown, capsys):
    run = chatty_job.run(instance=nf.Instance.ephemeral())
    out = capsys.readouterr().out
    assert out == (f"600 lines printed by the steps of run {run.run_id[:8]} are in their logs: "
                   "click an op in the view, then a key (or run.logs()).\n")
    assert run.logs("chatty[m7]").message.tolist() == ["working on 7", "done"]


def test_without_a_view_steps_print_as_usual(capsys):
    chatty_job.run(instance=nf.Instance.ephemeral())  # no notebook: no view
    assert capsys.readouterr().out.count("working on") == 300


def test_a_live_runs_static_picture_ends_in_the_final_state(shown):
    BROKEN.clear()
    try:
        run = chunked.run(instance=nf.Instance.ephemeral())
    finally:
        BROKEN.update({"k3", "k7"})
    static, widget = shown.outputs
    assert "application/vnd.jupyter.widget-view+json" in widget["data"] and "text/html" not in widget["data"]
    picture = static["data"]["text/html"]
    assert static["updates"] >= 1 and "STARTING" not in picture
    assert f"run <code>{run.run_id[:8]}</code>: <b>SUCCESS</b> — 12 of 12 steps, 0 failed" in picture
    assert "<svg" in picture and "data-nbflow-static=" in picture
    assert widget["data"]["text/plain"] == "<RunView of chunked>"


def test_job_view_draws_the_job_and_explains_an_op():
    view = JobView(chunked)
    assert 'id="node:chunks"' in view.svg and view.job_name == "chunked"
    view._handle_custom_msg({"action": "select", "node": "work"}, [])
    assert view.selected["mapped"] and view.selected["inputs"] == {"i": "item of chunks.result"}
    data, _ = view._repr_mimebundle_()
    assert "<svg" in data["text/html"]


def test_outside_a_kernel_runs_and_jobs_display_as_text(failed_run):
    assert "application/vnd.jupyter.widget-view+json" not in failed_run._repr_mimebundle_()
    assert chunked._repr_mimebundle_() == {"text/plain": repr(chunked)}


GATE = {"open": False}


@nf.op
def gated(context, i: int) -> int:
    if context.get_mapping_key() == "k4":
        while not GATE["open"]:  # pure Python: a cancel interrupts it
            time.sleep(0.01)
    return i


@nf.job
def gated_job():
    add_up(chunks().map(gated).collect())


def test_cancel_from_the_view_then_finish_the_run(instance):
    from nbflow.runtime.background import LIVE
    from nbflow.runtime.instance import launch

    GATE["open"] = False
    view = RunView.live(gated_job, instance)
    run = launch(gated_job, instance_=instance, observer=view, background=True, wait=False)
    deadline = time.monotonic() + 30
    while instance.sql("select count(*) as n from steps where run_id = ? and status = 'SUCCESS'",
                       [run.run_id]).n[0] < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert view.progress["live"] is True
    click(view, "cancel")
    assert run.wait(timeout=30).status == "CANCELED"
    assert view.message.startswith("Canceled: ") and "'Finish this run' reruns only those" in view.message
    assert run.run_id not in LIVE
    assert view.status == "CANCELED" and view.progress["live"] is False
    assert view.progress["canceled"] >= 1 and view.progress["done"] < view.progress["total"]
    assert "canceled" in view.static_html()
    click(view, "cancel")  # nothing left to cancel: said so, no error
    assert "not running in this kernel" in view.message

    GATE["open"] = True
    click(view, "finish")
    assert view.status == "SUCCESS" and view.parent_run_id == run.run_id
    finished = instance.get_run(view.run_id)
    assert finished.output("add_up") == sum(range(10))
    reused = finished.steps().dropna(subset=["reused_from"]).step_key.tolist()
    assert "gated[k0]" in reused  # finished before the cancel: not done again


def _counting_reads(store, monkeypatch):
    """Count the store reads that a view following a run could make."""
    reads: list[str] = []
    for name in ("graph_shape", "run_row", "step_summary", "sql", "steps"):
        method = getattr(store, name)

        def counted(*args, _name=name, _method=method, **kwargs):
            reads.append(_name)
            return _method(*args, **kwargs)

        monkeypatch.setattr(store, name, counted)
    return reads


@pytest.mark.parametrize("broken", [set(), {"k3", "k7"}])
def test_a_followed_run_ends_as_stored_without_reading_it_back(instance, monkeypatch, broken):
    from nbflow.runtime.instance import launch

    BROKEN.clear()
    BROKEN.update(broken)
    view = RunView.live(chunked, instance)
    reads = _counting_reads(instance.store, monkeypatch)
    run = launch(chunked, None, instance, observer=view)
    assert reads == []  # the shape, the run row and the final states came from the launch itself
    monkeypatch.undo()
    shown = RunView(instance.get_run(run.run_id))
    assert (view.status, view.error, view.svg) == (shown.status, shown.error, shown.svg)
    assert view.status == ("FAILURE" if broken else "SUCCESS")
    followed, stored = dict(view.progress), dict(shown.progress)
    assert abs(followed.pop("elapsed") - stored.pop("elapsed")) <= 0.1
    assert followed == stored and stored["failed"] == len(broken)
    BROKEN.clear()


def test_a_followed_rerun_shows_the_steps_it_copied_from_its_parent(failed_run):
    BROKEN.clear()
    view = RunView(failed_run)
    click(view, "rerun_failed")
    shown = RunView(failed_run.instance.get_run(view.run_id))
    assert view.run_id != failed_run.run_id and view.status == "SUCCESS"
    assert view.svg == shown.svg and view.progress["reused"] == shown.progress["reused"] > 0
    assert view.progress["done"] == shown.progress["done"] == 12


@nf.op
def nap(i: int) -> int:
    time.sleep(0.05)
    return i


@nf.job
def napping():
    add_up(chunks().map(nap).collect())


def test_a_followed_canceled_run_ends_as_stored(instance):
    from nbflow.runtime.instance import launch

    view = RunView.live(napping, instance)
    run = launch(napping, {"ops": {"chunks": {"config": {"n": 200}}}}, instance, observer=view,
                 background=True, wait=False)
    deadline = time.monotonic() + 30
    while (view.progress.get("done") or 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    run.cancel()
    shown = RunView(instance.get_run(run.run_id))
    assert view.status == shown.status == "CANCELED"
    assert (view.error, view.svg) == (shown.error, shown.svg)
    followed, stored = dict(view.progress), dict(shown.progress)
    assert abs(followed.pop("elapsed") - stored.pop("elapsed")) <= 0.1
    assert followed == stored and 0 < stored["canceled"] < 200
