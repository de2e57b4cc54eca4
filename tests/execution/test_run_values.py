"""RunValues: the run's values in memory, mapped ones in a list by key index."""

from __future__ import annotations

import pytest

from nbflow.definitions.compose import DynSource
from nbflow.execution.run_values import RunValues

FAN = DynSource("emit", "result")


def _values() -> tuple[RunValues, dict[DynSource, dict[str, int]]]:
    key_index: dict[DynSource, dict[str, int]] = {}
    return RunValues(key_index, {"square": FAN, "emit": None, "total": None}), key_index


def _index(key_index: dict[DynSource, dict[str, int]], *keys: str) -> None:
    found = key_index.setdefault(FAN, {})
    for key in keys:
        found[key] = len(found)


def test_mapped_values_by_key_and_unmapped_by_name() -> None:
    values, key_index = _values()
    _index(key_index, "a", "b", "c")
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
    values, key_index = _values()
    _index(key_index, "a", "b")
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
    values, key_index = _values()
    values[("square", "result", "late")] = 5  # its fan-out has not yielded it (a rerun's seed)
    assert values[("square", "result", "late")] == 5
    _index(key_index, "late")
    assert values[("square", "result", "late")] == 5  # still found through its slot
    values.put_at("square", "result", "late", 0, 6)
    assert values[("square", "result", "late")] == 6
    assert len(values) == 1


def test_of_keys_gives_the_values_in_the_order_asked() -> None:
    values, key_index = _values()
    _index(key_index, "a", "b", "c")
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

    values, key_index = _values()
    _index(key_index, "a", "b")
    items = [NoCompare(), NoCompare()]
    values.put_at("square", "result", "a", 0, items[0])
    values.put_at("square", "result", "b", 1, items[1])
    found = values.of_keys("square", "result", ["a", "b"])
    assert found[0] is items[0] and found[1] is items[1]


def test_keys_put_out_of_order_leave_no_value_between() -> None:
    values, key_index = _values()
    _index(key_index, "a", "b", "c", "d")
    values.put_at("square", "result", "d", 3, "D")
    values.put_at("square", "result", "b", 1, "B")
    assert [("square", "result", k) in values for k in "abcd"] == [False, True, False, True]
    assert values.of_keys("square", "result", ["b", "d"]) == ["B", "D"]
