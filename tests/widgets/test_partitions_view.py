"""PartitionsView without a browser: paging, filters, adding, deleting, materializing."""

from __future__ import annotations

import pytest

import nbflow as nf
from nbflow.widgets.partitions_view import PAGE_SIZE, PartitionsView


def click(view, action, **extra):
    view._handle_custom_msg({"action": action, **extra}, [])


@pytest.fixture
def episodes(instance):
    pdef = nf.DynamicPartitionsDefinition("view_episodes")
    pdef.add([f"ep-{i:03d}" for i in range(120)], instance=instance)
    return pdef


@pytest.fixture
def episode_job(episodes):
    @nf.op
    def transcribe(context) -> str:
        if context.partition_key == "ep-002":
            raise ValueError("corrupt audio")
        return context.partition_key

    @nf.job(partitions_def=episodes)
    def view_episode_job():
        transcribe()

    return view_episode_job


def keys(view):
    return [row["key"] for row in view.rows]


def test_pages_of_keys(episodes, instance):
    view = PartitionsView(episodes, instance=instance)
    assert (view.count, view.pages, len(view.rows)) == (120, 3, PAGE_SIZE)
    assert keys(view)[:2] == ["ep-000", "ep-001"]
    click(view, "page", page=2)
    assert keys(view) == [f"ep-{i:03d}" for i in range(100, 120)]
    click(view, "page", page=99)  # past the end: the last page
    assert view.page == 2


def test_next_and_previous_count_from_the_page_shown_when_handled(episodes, instance):
    # Two clicks on "›" before the view redraws: each moves one page, not both to the second.
    view = PartitionsView(episodes, instance=instance)
    click(view, "page", step=1)
    click(view, "page", step=1)
    assert view.page == 2 and keys(view)[0] == "ep-100"
    click(view, "page", step=1)  # past the end: stays on the last page
    assert view.page == 2
    click(view, "page", step=-1)
    click(view, "page", step=-1)
    click(view, "page", step=-1)
    assert view.page == 0 and keys(view)[0] == "ep-000"


def test_go_to_a_key(episodes, instance):
    view = PartitionsView(episodes, instance=instance)
    click(view, "find", key="ep-075")
    assert (view.page, view.highlight) == (1, ["ep-075"]) and "ep-075" in keys(view)
    assert view.message == "'ep-075' is key 76 of 120, on page 2 of 3."
    click(view, "filter", text="7", regex=False)
    click(view, "find", key="ep-075")  # it matches the filter: its place among the matches
    assert view.message == "'ep-075' is key 13 of 21, on page 1 of 1."
    click(view, "find", key="ep-100")  # it does not: the filter is cleared
    assert view.filter_text == "" and view.page == 2 and "ep-100" in keys(view)
    assert view.message == "'ep-100' is key 101 of 120, on page 3 of 3 (filter '7' cleared: it does not match)."
    click(view, "find", key="ep-9999")
    assert view.message == "No key 'ep-9999' in view_episodes." and view.page == 2
    click(view, "page", page=0)
    assert view.highlight == []


def test_filters_text_and_regex(episodes, instance):
    view = PartitionsView(episodes, instance=instance)
    click(view, "filter", text="EP-01", regex=False)  # case-insensitive substring
    assert view.matched == 10 and keys(view)[0] == "ep-010"
    click(view, "filter", text=r"^ep-\d\d7$", regex=True)
    assert view.matched == 12 and keys(view)[:2] == ["ep-007", "ep-017"]
    click(view, "filter", text="(", regex=True)
    assert view.filter_error.startswith("'(' is not a valid regular expression (RE2 syntax)")
    assert view.rows == []


def test_an_older_filter_never_replaces_a_newer_one(episodes, instance):
    view = PartitionsView(episodes, instance=instance)
    click(view, "filter", text=r"^ep-00[12]$", regex=True, sent=1_700_000_000_002)
    click(view, "filter", text=r"^ep-00[12]$", regex=False, sent=1_700_000_000_001)  # handled late
    assert (view.filter_regex, view.matched, keys(view)) == (True, 2, ["ep-001", "ep-002"])
    click(view, "filter", text="", regex=False, sent=1_700_000_000_003)
    assert view.matched == view.count
    click(view, "filter", text="EP-01", regex=False)  # unstamped (older front ends): applied
    assert view.matched == 10


def test_adding_keys_validates_every_line_first(episodes, instance):
    view = PartitionsView(episodes, instance=instance)
    click(view, "add", text="ep-new\nbad\tkey\n\n" + "x" * 300)
    assert [e["line"] for e in view.add_errors] == [2, 4]
    assert "control character" in view.add_errors[0]["error"]
    assert "255" in view.add_errors[1]["error"]
    assert view.message == "Nothing added: lines 2, 4 not valid (see below)."
    assert "ep-new" not in instance.get_dynamic_partitions("view_episodes")
    click(view, "add", text="ep-new\nep-000\n")
    # The new key is last, on page 3: the view goes there and marks it.
    assert view.message == "Added 1 key; 1 was there already: 'ep-new', is key 121 of 121, on page 3 of 3."
    assert view.add_errors == [] and view.count == 121
    assert view.page == 2 and view.highlight == ["ep-new"] and keys(view)[-1] == "ep-new"
    history = instance.dynamic_partitions_history("view_episodes")
    assert history.iloc[-1].key == "ep-new" and history.iloc[-1].source == "widget"


def test_delete_needs_a_confirmation(episodes, instance):
    view = PartitionsView(episodes, instance=instance)
    click(view, "delete")
    assert view.message == "Tick keys to delete first." and not view.confirming
    view.checked = ["ep-000", "ep-001"]
    click(view, "delete")
    assert view.confirming and instance.count_dynamic_partitions("view_episodes") == 120
    assert view.message == "Delete 2 keys? Their stored outputs are kept."
    click(view, "cancel_delete")
    assert not view.confirming and view.checked == ["ep-000", "ep-001"]
    click(view, "delete")
    click(view, "confirm_delete")
    assert instance.count_dynamic_partitions("view_episodes") == 118 and view.message == "Deleted 2 keys."
    assert view.count == 118 and view.checked == [] and keys(view)[0] == "ep-002"


def test_materialize_selected_and_status_colours(episodes, episode_job, instance):
    view = PartitionsView(episodes, target=episode_job, instance=instance)
    assert view.can_materialize == "view_episode_job" and view.columns == ["view_episode_job"]
    view.checked = ["ep-001", "ep-002"]
    click(view, "materialize")
    status = {row["key"]: row["status"]["view_episode_job"] for row in view.rows[:3]}
    assert status == {"ep-000": "missing", "ep-001": "materialized", "ep-002": "failed"}
    assert sorted(instance.runs().status) == ["FAILURE", "SUCCESS"]


def test_materialize_needs_a_single_job(instance):
    lonely = nf.DynamicPartitionsDefinition("no_job_partitions")
    lonely.add(["a"], instance=instance)
    view = PartitionsView(lonely, instance=instance)
    view.checked = ["a"]
    click(view, "materialize")
    assert view.can_materialize == ""
    assert view.message.startswith("No single job to run: display PartitionsView(definition, target=the_job)")


def test_asset_targets_give_one_column_per_asset(instance):
    parts = nf.DynamicPartitionsDefinition("view_asset_parts")
    parts.add(["a", "b"], instance=instance)

    @nf.asset(partitions_def=parts)
    def raw(context) -> str:
        return context.partition_key

    @nf.asset(partitions_def=parts)
    def clean(raw: str) -> str:
        return raw.upper()

    nf.materialize([raw, clean], partition_key="a", instance=instance)
    view = PartitionsView(parts, target=[raw, clean], instance=instance)
    assert view.columns == ["raw", "clean"]
    assert view.rows[0]["status"] == {"raw": "materialized", "clean": "materialized"}
    assert view.rows[1]["status"] == {"raw": "missing", "clean": "missing"}


def test_follows_changes_made_elsewhere_in_the_kernel(episodes, instance):
    view = PartitionsView(episodes, instance=instance)
    episodes.add(["late"], instance=instance)
    assert view.count == 121
    episodes.delete(["late", "ep-000"], instance=instance)
    assert view.count == 119 and keys(view)[0] == "ep-001"


def test_history_and_unknown_actions(episodes, instance):
    view = PartitionsView(episodes, instance=instance)
    click(view, "history", show=True)
    assert len(view.history) == 50 and view.history[0]["key"] == "ep-119"  # newest first
    view.checked = ["ep-005"]
    click(view, "delete")
    click(view, "confirm_delete")  # a shown history follows the change
    assert [(e["key"], e["action"], e["source"]) for e in view.history[:2]] == [
        ("ep-005", "delete", "widget"), ("ep-119", "add", "api")]
    assert len(view.history) == 50
    click(view, "history", show=False)
    assert view.history == []
    click(view, "fly")
    assert view.message == "Unknown action 'fly'."


def test_shown_twice_after_restart_and_static_fallback(episodes, tmp_path):
    path = str(tmp_path / "p.duckdb")
    episodes.add(["k1", "k2"], instance=nf.Instance(path))
    first, second = PartitionsView(episodes, instance=nf.Instance(path)), None
    second = PartitionsView(episodes, instance=nf.Instance(path))
    assert first.rows == second.rows and first.count == 2
    data, _ = first._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "<b>view_episodes</b>: 2 keys" in data["text/html"] and "k2" in data["text/html"]


def test_displaying_a_definition_shows_a_view_in_a_kernel_only(shown, monkeypatch):
    shows = nf.DynamicPartitionsDefinition("shown_keys")
    shows.add(["a", "b<c>"])  # the default store, as a notebook would use it
    monkeypatch.setattr("nbflow.widgets.live.in_widget_kernel", lambda: False)
    assert shows._repr_mimebundle_() == {"text/plain": "DynamicPartitionsDefinition(name='shown_keys')"}

    monkeypatch.setattr("nbflow.widgets.live.in_widget_kernel", lambda: True)
    first, _ = shows._repr_mimebundle_()
    second, _ = shows._repr_mimebundle_()  # displayed twice: two live views
    ids = {b["application/vnd.jupyter.widget-view+json"]["model_id"] for b in (first, second)}
    assert len(ids) == 2
    # The static picture is an output of its own (a widget's bundle loses its text/html to the
    # widget wherever widgets cannot be drawn), and it follows the keys.
    assert "text/html" not in first
    static = shown.outputs[0]["data"]["text/html"]
    assert "<b>shown_keys</b>: 2 keys" in static and "b&lt;c&gt;" in static
    assert "data-nbflow-static=" in static
    shows.add(["d"])
    assert "<b>shown_keys</b>: 3 keys" in shown.outputs[0]["data"]["text/html"]
