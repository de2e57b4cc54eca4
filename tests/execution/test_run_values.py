"""RunValues: the run's values in memory, mapped ones in a list by key index."""

from __future__ import annotations

import pytest

from nbflow.definitions.compose import DynSource
from nbflow.execution.run_values import RunValues

FAN = DynSource("emit", "result")


def _values() -> tuple[RunValues, dict[DynSource, list[str]]]:
    keys: dict[DynSource, list[str]] = {}
    return RunValues(keys, {"square": FAN, "emit": None, "total": None}), keys


def _index(keys: dict[DynSource, list[str]], *more: str) -> None:
    keys.setdefault(FAN, []).extend(more)  # as the executor does when the fan-out yields them


def test_mapped_values_by_key_and_unmapped_by_name() -> None:
    values, keys = _values()
    _index(keys, "a", "b", "c")
    values[("emit", "result", "b")] = 20  # the fan-out's own items: indexed by its source
    values.put_at("square", "result", "a", 0, 1)
    values[("square", "result", "c")] = 9
    values[("total", "result", None)] = 10
    assert values[("emit", "result", "b")] == 20
    assert values[("square", "result", "a")] == 1
    assert values[("square", "result", "c")] == 9
    assert values[("total", "result", None)] == 10
    assert ("square", "result", "b") not in values
    assert ("emit", "result", "a") not in values
    assert values.get(("square", "result", "b"), "none") == "none"
    assert len(values) == 4
    with pytest.raises(KeyError):
        values[("square", "result", "b")]


def test_dropped_values_are_gone_and_can_be_stored_again() -> None:
    values, keys = _values()
    _index(keys, "a", "b")
    values.put_at("emit", "result", "a", 0, "x")
    values.put_at("emit", "result", "b", 1, "y")
    values.drop_at("emit", "result", "a", 0)
    values.drop_at("emit", "result", "z", 7)  # nothing there: no error
    assert ("emit", "result", "a") not in values
    assert values.pop(("emit", "result", "b")) == "y"
    assert values.pop(("emit", "result", "b"), None) is None
    with pytest.raises(KeyError):
        values.pop(("emit", "result", "b"))
    values[("emit", "result", "a")] = "again"
    assert values[("emit", "result", "a")] == "again"


def test_a_key_without_an_index_is_kept_by_its_slot_until_it_gets_one() -> None:
    values, keys = _values()
    values[("square", "result", "late")] = 5  # its fan-out has not yielded it (a rerun's seed)
    assert values[("square", "result", "late")] == 5
    _index(keys, "late")
    assert values[("square", "result", "late")] == 5  # still found through its slot
    values.put_at("square", "result", "late", 0, 6)
    assert values[("square", "result", "late")] == 6
    assert len(values) == 1


def test_of_keys_gives_the_values_in_the_order_asked() -> None:
    values, keys = _values()
    _index(keys, "a", "b", "c")
    for index, key in enumerate("abc"):
        values.put_at("square", "result", key, index, index * 10)
    assert values.of_keys("square", "result", ["c", "a", "b"]) == [20, 0, 10]
    values.drop_at("square", "result", "b", 1)
    with pytest.raises(KeyError, match="'b'"):
        values.of_keys("square", "result", ["a", "b"])
    with pytest.raises(KeyError, match="'d'"):
        values.of_keys("square", "result", ["a", "d"])


def test_of_keys_never_compares_values() -> None:
    class NoCompare:  # like a numpy array, whose == gives no bool
        def __eq__(self, other: object) -> bool:
            raise AssertionError("values must not be compared")

        __hash__ = object.__hash__

    values, keys = _values()
    _index(keys, "a", "b")
    items = [NoCompare(), NoCompare()]
    values.put_at("square", "result", "a", 0, items[0])
    values.put_at("square", "result", "b", 1, items[1])
    found = values.of_keys("square", "result", ["a", "b"])
    assert found[0] is items[0] and found[1] is items[1]


def test_keys_put_out_of_order_leave_no_value_between() -> None:
    values, keys = _values()
    _index(keys, "a", "b", "c", "d")
    values.put_at("square", "result", "d", 3, "D")
    values.put_at("square", "result", "b", 1, "B")
    assert [("square", "result", k) in values for k in "abcd"] == [False, True, False, True]
    assert values.of_keys("square", "result", ["b", "d"]) == ["B", "D"]


def test_the_index_of_keys_follows_keys_added_after_it_was_made() -> None:
    values, keys = _values()
    _index(keys, "a", "b")
    assert values.index_of(FAN, "b") == 1
    _index(keys, "c")  # yielded after the first lookup by key
    assert values.index_of(FAN, "c") == 2
    assert values.index_of(FAN, "nope") is None


def test_a_replaced_list_of_keys_is_indexed_again() -> None:
    values, keys = _values()
    _index(keys, "a", "b")
    assert values.index_of(FAN, "a") == 0
    keys[FAN] = ["b", "a"]  # a rerun seeds the parent run's keys
    assert (values.index_of(FAN, "a"), values.index_of(FAN, "b")) == (1, 0)


def test_collecting_every_key_reads_the_values_in_order_without_an_index() -> None:
    values, keys = _values()
    _index(keys, "a", "b", "c")
    for index in range(3):
        values.put_at("square", "result", "abc"[index], index, index * 10)
    assert values.of_keys("square", "result", keys[FAN]) == [0, 10, 20]
    assert values._indexes == {}  # the whole list: no lookup by key
    values.drop_at("square", "result", "b", 1)
    with pytest.raises(KeyError, match="'b'"):
        values.of_keys("square", "result", keys[FAN])
    _index(keys, "d")  # a key without a value yet
    with pytest.raises(KeyError, match="'b'"):
        values.of_keys("square", "result", keys[FAN])
