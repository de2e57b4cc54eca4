"""Several processes on one store file: the index follows the change counter, and a run
of another process shows as running, then as failed once that process died."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import nbflow as nf
from tests.partitions import slow_asset

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import json, sys
    import nbflow as nf
    inst = nf.Instance(sys.argv[1])
    add, delete = json.loads(sys.argv[2]), json.loads(sys.argv[3])
    added = inst.add_dynamic_partitions("shared_eps", add, source="child")
    deleted = inst.delete_dynamic_partitions("shared_eps", delete, source="child")
    print(json.dumps([added.added, deleted.deleted]))
    inst.close()
""")


def _child_edits(path: str, add: list[str], delete: list[str]) -> list[list[str]]:
    import json

    done = subprocess.run([sys.executable, "-c", CHILD, path, json.dumps(add), json.dumps(delete)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_keys_added_by_another_process_are_seen_after_close(tmp_path):
    path = str(tmp_path / "shared.duckdb")
    inst = nf.Instance(path)
    episodes = nf.DynamicPartitionsDefinition("shared_eps")
    episodes.add(["a", "b, c", "d|e"], instance=inst)
    assert episodes.keys(instance=inst) == ["a", "b, c", "d|e"]  # the index is loaded
    assert not inst.has_dynamic_partition("shared_eps", "from child 🎙️")
    inst.close()  # let the other process open the file

    assert _child_edits(path, ["from child 🎙️", "a"], ["b, c"]) == [["from child 🎙️"], ["b, c"]]

    assert inst.has_dynamic_partition("shared_eps", "from child 🎙️")
    assert not inst.has_dynamic_partition("shared_eps", "b, c")
    assert episodes.keys(instance=inst) == ["a", "d|e", "from child 🎙️"]
    assert inst.count_dynamic_partitions("shared_eps") == 3
    history = episodes.history(instance=inst)
    assert history.source.tolist() == ["api"] * 3 + ["child", "child"]
    # and this process's next edit does not resurrect or duplicate anything
    assert episodes.add(["from child 🎙️", "b, c"], instance=inst).added == ["b, c"]
    assert episodes.keys(instance=inst) == ["a", "d|e", "from child 🎙️", "b, c"]
    inst.close()


@pytest.mark.slow
def test_keys_added_by_another_process_are_seen_after_idle_release(tmp_path):
    path = str(tmp_path / "idle.duckdb")
    inst = nf.Instance(path, idle_release=0.2)
    inst.add_dynamic_partitions("shared_eps", ["mine"])
    assert inst.get_dynamic_partitions("shared_eps") == ["mine"]
    deadline = time.monotonic() + 10
    while inst.store.holder.is_open:  # released without being asked
        assert time.monotonic() < deadline, "the store was never released"
        time.sleep(0.05)

    _child_edits(path, ["theirs"], ["mine"])

    assert inst.get_dynamic_partitions("shared_eps") == ["theirs"]
    assert "theirs" in inst.get_dynamic_partitions("shared_eps")
    assert not inst.has_dynamic_partition("shared_eps", "mine")
    inst.close()


@pytest.mark.slow
def test_a_run_of_another_process_is_running_then_failed_when_it_dies(tmp_path):
    path, marker = str(tmp_path / "flight.duckdb"), tmp_path / "started"
    inst = nf.Instance(path)
    slow_asset.episodes.add(["ep 1", "ep 2"], instance=inst)
    inst.close()
    child = subprocess.Popen([sys.executable, "-m", "tests.partitions.slow_asset", path, "ep 2", str(marker)],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the child ended before its asset ran"
            assert time.monotonic() < deadline, "the child's asset never started"
            time.sleep(0.05)
        # The child releases the file while its asset sleeps; this process waits its turn.
        status = slow_asset.slow_transcript.status(instance=inst)
        assert dict(zip(status.key, status.status, strict=True)) == {"ep 1": "missing", "ep 2": "running"}
        inst.close()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    # Reopening marks the dead process's run INTERRUPTED; its partition counts as failed.
    status = slow_asset.slow_transcript.status(instance=inst)
    assert dict(zip(status.key, status.status, strict=True)) == {"ep 1": "missing", "ep 2": "failed"}
    assert inst.runs().status.tolist() == ["INTERRUPTED"]
    job = nf.define_asset_job("slow_job", [slow_asset.slow_transcript])
    by_job = slow_asset.episodes.status(job, instance=inst)  # what backfill(select="failed") picks from
    assert by_job[by_job.status == "failed"].key.tolist() == ["ep 2"]
    inst.close()


def _wait_for_index(inst: nf.Instance, name: str) -> dict[str, None]:
    deadline = time.monotonic() + 30
    while name not in inst.store.partitions._index:
        assert time.monotonic() < deadline, "the index was never loaded in the background"
        time.sleep(0.01)
    return inst.store.partitions._index[name]


@pytest.mark.slow
def test_membership_after_another_process_wrote_is_asked_of_the_store_then_of_the_index(tmp_path):
    path = str(tmp_path / "members.duckdb")
    inst = nf.Instance(path)
    inst.add_dynamic_partitions("shared_eps", ["a", "b"])
    assert inst.has_dynamic_partition("shared_eps", "a")  # the index is loaded
    inst.close()

    assert _child_edits(path, ["theirs"], ["a"]) == [["theirs"], ["a"]]

    # The reopen sees the change and drops the index: the first checks ask DuckDB ...
    assert inst.has_dynamic_partition("shared_eps", "theirs")
    assert "shared_eps" not in inst.store.partitions._index or "a" not in inst.store.partitions._index["shared_eps"]
    assert not inst.has_dynamic_partition("shared_eps", "a")
    # ... and the index loaded meanwhile in the background holds the other process's keys.
    assert list(_wait_for_index(inst, "shared_eps")) == ["b", "theirs"]
    assert inst.has_dynamic_partition("shared_eps", "b")
    assert not inst.has_dynamic_partition("shared_eps", "a")
    inst.close()


@pytest.mark.slow
def test_the_first_check_after_another_process_deleted_the_key_answers_false(tmp_path):
    path = str(tmp_path / "deleted.duckdb")
    inst = nf.Instance(path)
    inst.add_dynamic_partitions("shared_eps", ["a", "b"])
    assert inst.has_dynamic_partition("shared_eps", "a")  # the index is loaded, with "a"
    inst.close()

    assert _child_edits(path, [], ["a"]) == [[], ["a"]]

    # The very first check after the reopen is for the deleted key: not answered from the
    # old index, even though the work of opening is left for later.
    assert not inst.has_dynamic_partition("shared_eps", "a")
    assert inst.has_dynamic_partition("shared_eps", "b")
    assert list(_wait_for_index(inst, "shared_eps")) == ["b"]
    assert not inst.has_dynamic_partition("shared_eps", "a")
    inst.close()


OTHER_WRITE = textwrap.dedent("""
    import sys
    import nbflow as nf
    inst = nf.Instance(sys.argv[1])
    inst.add_dynamic_partitions("other_def", ["x", "y"])  # a change, but not to shared_eps
    inst.close()
""")


@pytest.mark.slow
def test_an_index_follows_another_process_adds_without_reloading(tmp_path):
    path = str(tmp_path / "follow.duckdb")
    inst = nf.Instance(path)
    inst.add_dynamic_partitions("shared_eps", ["z", "a", "m"])  # in no particular order
    assert inst.get_dynamic_partitions("shared_eps") == ["z", "a", "m"]  # the index is loaded
    index = inst.store.partitions._index["shared_eps"]
    inst.close()

    assert _child_edits(path, ["q", "b", "a"], []) == [["q", "b"], []]

    # The reopen brings the index up to date with the other process's adds: the same index,
    # not a reload, with the new keys in the order they were added.
    assert inst.has_dynamic_partition("shared_eps", "b")
    assert inst.store.partitions._index["shared_eps"] is index
    assert inst.get_dynamic_partitions("shared_eps") == ["z", "a", "m", "q", "b"]
    inst.close()

    done = subprocess.run([sys.executable, "-c", OTHER_WRITE, path], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert not inst.has_dynamic_partition("shared_eps", "x")  # another definition's key
    assert inst.store.partitions._index["shared_eps"] is index  # kept through that change too
    assert inst.get_dynamic_partitions("other_def") == ["x", "y"]
    inst.close()


@pytest.mark.slow
def test_a_delete_by_another_process_drops_the_index(tmp_path):
    path = str(tmp_path / "dropped.duckdb")
    inst = nf.Instance(path)
    inst.add_dynamic_partitions("shared_eps", ["z", "a", "m"])
    inst.delete_dynamic_partitions("shared_eps", ["m"])  # this process's own delete is counted too
    assert inst.get_dynamic_partitions("shared_eps") == ["z", "a"]
    index = inst.store.partitions._index["shared_eps"]
    inst.close()

    assert _child_edits(path, ["n"], []) == [["n"], []]  # adds only: followed
    assert inst.get_dynamic_partitions("shared_eps") == ["z", "a", "n"]
    assert inst.store.partitions._index["shared_eps"] is index
    inst.close()

    assert _child_edits(path, [], ["z"]) == [[], ["z"]]  # a delete: the index is dropped
    assert not inst.has_dynamic_partition("shared_eps", "z")
    assert inst.store.partitions._index.get("shared_eps") is not index
    assert inst.get_dynamic_partitions("shared_eps") == ["a", "n"]
    inst.close()


def test_a_delete_that_does_not_commit_leaves_no_count_behind(tmp_path):
    """A delete rolled back (a full disk, say) forgets the count it wrote, so the count this
    process goes by is never one another process's delete could match."""
    inst = nf.Instance(str(tmp_path / "rollback.duckdb"))
    inst.add_dynamic_partitions("shared_eps", ["a", "b"])
    holder = inst.store.holder
    before = holder.meta["partition_deletes"]

    with pytest.raises(RuntimeError, match="the disk is full"), holder.transaction() as con:
        inst.store.partitions.delete("shared_eps", ["a"], con=con)
        assert holder.meta["partition_deletes"] == before + 1
        raise RuntimeError("the disk is full")

    assert "partition_deletes" not in holder.meta  # read again on the next open
    assert inst.get_dynamic_partitions("shared_eps") == ["a", "b"]
    inst.close()
    assert inst.has_dynamic_partition("shared_eps", "a")
    assert holder.meta["partition_deletes"] == before
    inst.close()
