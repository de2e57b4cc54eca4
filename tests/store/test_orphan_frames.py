"""Frame tables a killed process wrote but never referred to are dropped on the next open,
and by delete_run; tables of a run still going are left alone."""

from __future__ import annotations

import pandas as pd

import nbflow as nf


@nf.op
def frame():
    return pd.DataFrame({"x": [1, 2, 3]})


@nf.job
def one_frame():
    frame()


def _frames(inst) -> set[str]:
    return set(inst.sql("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'frames'").table_name)


def _orphan(inst, run_id: str, suffix: str) -> str:
    name = f"r{run_id[:12]}_{suffix}"
    inst.sql(f'CREATE TABLE frames."{name}" AS SELECT 1 AS x')
    return name


def test_orphan_frames_of_finished_runs_are_dropped_when_the_store_is_opened(tmp_path):
    path = str(tmp_path / "s.duckdb")
    inst = nf.Instance(path)
    run = one_frame.run(instance=inst)
    kept = _frames(inst)
    assert len(kept) == 1
    orphan = _orphan(inst, run.run_id, "9_dead00")
    inst.sql("INSERT INTO runs (run_id, job_name, status) VALUES ('live-run-0000-1', 'one_frame', 'STARTED')")
    in_flight = _orphan(inst, "live-run-0000-1", "1_abcdef")  # its batch may be on its way
    inst.close()

    again = nf.Instance(path)
    assert _frames(again) == kept | {in_flight}
    assert orphan not in _frames(again)
    pd.testing.assert_frame_equal(again.get_run(run.run_id).output("frame"), pd.DataFrame({"x": [1, 2, 3]}))
    again.close()


def test_delete_run_drops_the_frames_it_never_referred_to(instance):
    run = one_frame.run(instance=instance)
    other = one_frame.run(instance=instance)
    _orphan(instance, run.run_id, "7_0ff0ff")
    instance.delete_run(run.run_id)
    assert _frames(instance) == set(instance.sql(
        "SELECT table_name FROM outputs WHERE run_id = ?", [other.run_id]).table_name)
