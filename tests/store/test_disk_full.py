"""A full disk: a partition change is not half-applied, the in-memory key index forgets
the keys that were never stored, and the error shown is the disk's; a run that ends on a
full disk keeps its finished steps and writes them as soon as there is room.

The disk is a small tmpfs the test mounts, so it needs root (CI runs as root)."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

import nbflow as nf


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # unbuffered: nothing left to flush on close
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


KEYS = [f"episode-{i:06d}-" + "x" * 40 for i in range(20_000)]


def test_a_partition_add_on_a_full_disk_is_not_half_applied(small_disk):
    inst = nf.Instance(str(small_disk / "nbflow.duckdb"))
    inst.add_dynamic_partitions("episodes", ["first"])
    filler = _fill(small_disk)
    with pytest.raises(nf.StoreError, match=r"No space left on device.*Nothing of this change was stored"):
        inst.add_dynamic_partitions("episodes", KEYS)
    filler.unlink()

    assert not inst.has_dynamic_partition("episodes", KEYS[0])
    assert inst.get_dynamic_partitions("episodes") == ["first"]
    result = inst.add_dynamic_partitions("episodes", KEYS[:3])
    assert result.added == KEYS[:3] and result.existing == []
    assert inst.sql("SELECT count(*) AS n FROM partitions").n[0] == 4
    inst.close()


def test_a_partition_delete_on_a_full_disk_keeps_the_keys(small_disk):
    inst = nf.Instance(str(small_disk / "nbflow.duckdb"))
    inst.add_dynamic_partitions("episodes", KEYS[:5_000])
    filler = _fill(small_disk)
    with pytest.raises(nf.StoreError, match="No space left on device"):
        inst.delete_dynamic_partitions("episodes", KEYS[:5_000])
    filler.unlink()
    assert inst.has_dynamic_partition("episodes", KEYS[0])
    assert len(inst.get_dynamic_partitions("episodes")) == 5_000
    inst.close()


def _fan_out_job():
    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(200):
            yield nf.DynamicOutput("x" * 2000 + str(i), mapping_key=str(i))

    @nf.op
    def mark(text: str) -> str:
        return text + "!"

    @nf.job
    def disk_job():
        emit().map(mark).collect()

    return disk_job


def test_a_run_that_ends_on_a_full_disk_keeps_its_steps_until_there_is_room(small_disk, capfd):
    inst = nf.Instance(str(small_disk / "nbflow.duckdb"))
    job = _fan_out_job()
    job.run(instance=inst)  # the store exists
    filler = _fill(small_disk)
    freed = threading.Timer(3.0, filler.unlink)
    freed.start()
    run = job.run(instance=inst)
    freed.join()
    assert run.status == "SUCCESS"
    assert "cannot be written to" in capfd.readouterr().err  # said why it waited, and what to do
    steps = run.steps()
    assert len(steps) == 201 and set(steps.status) == {"SUCCESS"}
    assert run.output("mark", key="7") == "x" * 2000 + "7!"
    inst.close()


def test_a_failed_commit_shows_the_disk_error_not_the_rollback(small_disk):
    inst = nf.Instance(str(small_disk / "nbflow.duckdb"))
    inst.add_dynamic_partitions("episodes", ["first"])
    filler = _fill(small_disk)
    with pytest.raises(Exception, match="No space left on device") as raised, \
            inst.store.holder.transaction() as con:
        con.execute("CREATE TABLE filler AS SELECT repeat('x', 100) AS t FROM range(100000)")
    assert "cannot rollback" not in str(raised.value)
    filler.unlink()
    assert inst.get_dynamic_partitions("episodes") == ["first"]  # the store is usable again
    inst.close()
