"""Each add of more than 2,048 keys stores them sorted (so DuckDB can skip most of the table
when a new process asks for one key), while every listing keeps the order the keys were given
in."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nbflow as nf
from nbflow.store import connection
from nbflow.store import partitions as partitions_module
from nbflow.store.queries import partition_key_position

ROOT = Path(__file__).resolve().parents[2]
NAME = "shuffled_eps"


def _shuffled(n: int, seed: int) -> list[str]:
    # Characters of 1 to 4 bytes in UTF-8: DuckDB's order of the keys must agree with Python's.
    keys = [f"ep {'zé€😀'[i % 4]} {i:07d}|{i % 13}" for i in range(n)]
    random.Random(seed).shuffle(keys)
    return keys


@pytest.fixture(scope="module", params=[9_000, pytest.param(300_000, marks=pytest.mark.slow)],
                ids=["9k", "300k"])
def shuffled_store(request, tmp_path_factory):
    """A store file holding ``n`` shuffled keys given in two adds (the second repeats some
    keys of the first), then 50 more in a small add, added by a DuckDB with 4 threads; and
    the keys of each add in the order given. 300k keys fill several of DuckDB's row groups
    (122,880 rows each), which its threads take in parallel."""
    n = request.param
    first, second = _shuffled(n, seed=1)[: n * 2 // 3], _shuffled(n, seed=1)[n * 2 // 3:]
    small = [f"late {i:02d}" for i in random.Random(5).sample(range(50), 50)]
    path = str(tmp_path_factory.mktemp("shuffled") / "store.duckdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(connection.DUCKDB_CONFIG, "threads", 4)
        inst = nf.Instance(path)
        assert inst.sql("SELECT current_setting('threads') AS t").t[0] == 4
        inst.add_dynamic_partitions(NAME, first)
        again = first[::500]
        result = inst.add_dynamic_partitions(NAME, second + again)
        assert result.added == second and result.existing == again
        assert inst.add_dynamic_partitions(NAME, small).added == small
        inst.add_dynamic_partitions("other_eps", ["only elsewhere", first[0]])
        inst.close()
    return path, first, second, small


def test_shuffled_keys_are_listed_in_the_order_given(shuffled_store):
    path, first, second, small = shuffled_store
    given = first + second + small
    assert given != sorted(given)
    inst = nf.Instance(path)
    try:
        assert inst.get_dynamic_partitions(NAME) == given  # read back from the file, by seq
        assert inst.get_dynamic_partitions(NAME) == given  # from the index
        partitions = inst.store.partitions
        assert partitions.page(NAME, None, False, len(first) - 5, 10) == (given[len(first) - 5:len(first) + 5],
                                                                          len(given))
        matching = [k for k in given if k.endswith("|7")]
        assert partitions.page(NAME, "|7", False, 0, 10**7) == (matching, len(matching))
        assert inst.select_dynamic_partitions(NAME, regex=r"\|7$") == matching
        assert partition_key_position(inst.store, NAME, second[0], None, False) == len(first)
        assert partition_key_position(inst.store, NAME, second[-1], "|", False) == len(first) + len(second) - 1

        episodes = nf.DynamicPartitionsDefinition(NAME)

        @nf.op
        def stored_order_op(context):
            return context.partition_key

        @nf.job(partitions_def=episodes)
        def stored_order_job():
            stored_order_op()

        status = episodes.status(stored_order_job, instance=inst)
        assert status.key.tolist() == given
    finally:
        inst.close()


def test_a_large_add_given_in_order_is_stored_and_listed_in_that_order(tmp_path):
    given = sorted(_shuffled(5_000, seed=3))
    inst = nf.Instance(str(tmp_path / "in_order.duckdb"))
    try:
        inst.add_dynamic_partitions(NAME, ["first"])
        inst.add_dynamic_partitions(NAME, given)
        rows = inst.sql("SELECT key, seq FROM partitions WHERE def_name = ? ORDER BY rowid", [NAME])
        assert rows.key.tolist() == ["first", *given]
        assert rows.seq.is_monotonic_increasing and rows.seq.is_unique
        inst.close()
        assert inst.get_dynamic_partitions(NAME) == ["first", *given]
    finally:
        inst.close()


def test_each_large_add_stores_its_rows_sorted_by_key(shuffled_store):
    path, first, second, small = shuffled_store
    inst = nf.Instance(path)
    try:
        stored = inst.sql("SELECT key FROM partitions WHERE def_name = ? ORDER BY rowid", [NAME]).key.tolist()
        assert stored == sorted(first) + sorted(second) + small  # a small add as given
        seqs = inst.sql("SELECT seq FROM partitions WHERE def_name = ? ORDER BY seq", [NAME]).seq.tolist()
        assert len(set(seqs)) == len(stored)
    finally:
        inst.close()


CHECKS = textwrap.dedent("""
    import json, sys
    import nbflow as nf
    inst = nf.Instance(sys.argv[1])
    partitions = inst.store.partitions
    answers = []
    for key in json.loads(sys.argv[2]):
        partitions._forget()  # every check is a first check: asked of DuckDB, not of an index
        answers.append([inst.has_dynamic_partition(sys.argv[3], key), sys.argv[3] in partitions._index])
    print(json.dumps(answers))
    inst.close()
""")


def test_membership_is_right_in_a_new_process(shuffled_store):
    path, first, second, small = shuffled_store
    given = first + second + small
    ordered = sorted(given)
    present = [ordered[0], ordered[-1], given[0], given[-1], first[-1], second[0], second[-1], small[0],
               *random.Random(2).sample(given, 200)]
    absent = [ordered[0][:-1], ordered[-1] + "x", "ep", "ep 9999999|0", "a", "zzz", "only elsewhere",
              *(k + " " for k in random.Random(3).sample(given, 100)),
              *(k.replace("|", "/") for k in random.Random(4).sample(first + second, 100))]
    done = subprocess.run([sys.executable, "-c", CHECKS, path, json.dumps(present + absent), NAME],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert [found for found, _ in answers] == [True] * len(present) + [False] * len(absent)
    assert not any(from_index for _, from_index in answers)


def test_a_background_load_reads_the_keys_in_order_past_gaps_in_seq(tmp_path, monkeypatch):
    """The load reads ranges of seq: ranges holding keys of other definitions only, or deleted
    keys only, are skipped, and the keys come in the order given across adds."""
    monkeypatch.setattr(partitions_module, "_LOAD_CHUNK", 4)
    inst = nf.Instance(str(tmp_path / "gaps.duckdb"))
    given: list[str] = []
    for i in range(5):
        inst.add_dynamic_partitions("other_eps", [f"other {i} {j}" for j in range(11)])
        keys = [f"{i} {key}" for key in _shuffled(7, seed=i)]
        inst.add_dynamic_partitions(NAME, keys)
        given += keys
    gone = given[3:12]
    inst.delete_dynamic_partitions(NAME, gone)
    given = [key for key in given if key not in gone]
    partitions = inst.store.partitions
    partitions._forget()
    with inst.store.holder.use():  # the file is open, as when a check starts a load
        partitions._background_load(NAME, partitions._generation)
        partitions._background_load("empty_eps", partitions._generation)
    assert list(partitions._index[NAME]) == given
    assert partitions._index["empty_eps"] == {}
    assert inst.get_dynamic_partitions("other_eps") == [f"other {i} {j}" for i in range(5) for j in range(11)]
    inst.close()
