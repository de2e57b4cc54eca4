"""Random adds, deletes, re-adds and reopenings against a plain-Python model of a definition."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import nbflow as nf
from nbflow.partitions.keys import MAX_KEY_LENGTH

# Any text without control characters (and without lone surrogates, which are not text), plus a
# few look-alikes so that random calls collide with earlier keys.
TEXT_KEYS = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=MAX_KEY_LENGTH)
KEYS = st.one_of(TEXT_KEYS, st.sampled_from(["a", "a ", "é", "e\u0301", "x|y,z/w", "'; --", "🎙️"]))
NAME = "model_episodes"


class PartitionsModel(RuleBasedStateMachine):
    """The store must agree with a list (order), a set (membership) and an event log (history)."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="nbflow-model-"))
        self.path = str(self.folder / "model.duckdb")
        self.instance = nf.Instance(self.path)
        self.episodes = nf.DynamicPartitionsDefinition(NAME)
        self.keys: list[str] = []  # the model: keys in insertion order
        self.deleted: list[str] = []  # keys that were deleted (candidates for re-adding)
        self.events: list[tuple[str, str]] = []

    @initialize()
    def other_definition(self) -> None:
        # Keys of another definition live in the same table and must never leak in.
        self.instance.add_dynamic_partitions("model_other", ["a", "é"])

    def _add(self, keys: list[str]) -> None:
        result = self.episodes.add(keys, instance=self.instance)
        wanted = list(dict.fromkeys(keys))
        new = [k for k in wanted if k not in self.keys]
        assert result.added == new
        assert result.existing == [k for k in wanted if k in self.keys]
        self.keys += new
        self.events += [(k, "add") for k in new]

    @rule(keys=st.lists(KEYS, min_size=1, max_size=8))
    def add(self, keys: list[str]) -> None:
        self._add(keys)

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def add_existing_and_duplicates(self, data: st.DataObject) -> None:
        present = data.draw(st.lists(st.sampled_from(self.keys), min_size=1, max_size=4))
        self._add(present + present + data.draw(st.lists(KEYS, max_size=2)))

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        pool = st.sampled_from(self.keys) if self.keys else KEYS
        keys = data.draw(st.lists(st.one_of(pool, KEYS), min_size=1, max_size=6))
        result = self.episodes.delete(keys, instance=self.instance)
        wanted = list(dict.fromkeys(keys))
        gone = [k for k in wanted if k in self.keys]
        assert result.deleted == gone
        assert result.missing == [k for k in wanted if k not in self.keys]
        self.keys = [k for k in self.keys if k not in gone]
        self.deleted += gone
        self.events += [(k, "delete") for k in gone]

    @precondition(lambda self: self.deleted)
    @rule(data=st.data())
    def readd(self, data: st.DataObject) -> None:
        self._add(data.draw(st.lists(st.sampled_from(self.deleted), min_size=1, max_size=3)))

    @rule()
    def reopen(self) -> None:
        self.instance.close()
        self.instance = nf.Instance(self.path)  # a fresh view: nothing cached in memory

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.episodes.keys(instance=self.instance) == self.keys
        assert self.instance.count_dynamic_partitions(NAME) == len(self.keys)
        for key in self.keys[:5] + self.deleted[-5:]:
            assert self.instance.has_dynamic_partition(NAME, key) == (key in self.keys)
        history = self.episodes.history(instance=self.instance)
        assert list(zip(history.key, history.action, strict=True)) == self.events
        assert self.instance.get_dynamic_partitions("model_other") == ["a", "é"]

    def teardown(self) -> None:
        try:
            # The same after reopening the store from the file.
            self.instance.close()
            reopened = nf.Instance(self.path)
            assert reopened.get_dynamic_partitions(NAME) == self.keys
            assert reopened.count_dynamic_partitions(NAME) == len(self.keys)
            assert all(reopened.has_dynamic_partition(NAME, k) for k in self.keys)
            assert not any(reopened.has_dynamic_partition(NAME, k) for k in self.deleted if k not in self.keys)
            history = reopened.dynamic_partitions_history(NAME)
            assert list(zip(history.key, history.action, strict=True)) == self.events
            reopened.close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


PartitionsModel.TestCase.settings = settings(
    max_examples=25, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestPartitionsModel = PartitionsModel.TestCase
