"""Turning output values into storable form and back (nbflow.store.serialize)."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbflow.store.serialize import JSON, PICKLE, UNSTORED, decode, encode, scalar_json_column, table_kind


class Point:
    """A module-level class: plain pickle can store it."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


def same(a, b) -> bool:
    """Equal *and* of the same type all the way down (1, 1.0 and True are not the same)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)  # tells -0.0 from 0.0
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def round_trip(value):
    kind, text, blob, type_name = encode(value)
    return kind, decode(kind, text, blob), type_name


@pytest.mark.parametrize(
    "value",
    [0, -7, 2**70, 1.5, -0.0, 1e300, "", "héllo ✓", True, False, None,
     [1, "a", None, [2.5, {"k": [True]}]], {"a": {"b": [1, 2]}, "c": None}, [], {}],
    ids=repr,
)
def test_json_able_values_are_stored_as_json_and_come_back_the_same(value):
    kind, back, _ = round_trip(value)
    assert kind == JSON
    assert same(back, value)


def test_json_text_is_plain_json():
    kind, text, blob, type_name = encode({"a": [1, 2.5, None]})
    assert (kind, blob, type_name) == (JSON, None, "dict")
    assert json.loads(text) == {"a": [1, 2.5, None]}


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ((1, 2), "tuple"),
        ({1, 2, 3}, "set"),
        ({1: "one", 2: "two"}, "dict"),  # JSON would turn the keys into strings
        ({"a": (1, 2)}, "dict"),  # ... and tuples into lists
        ([1, (2, 3)], "list"),
        (dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC), "datetime.datetime"),
        (dt.date(2024, 5, 6), "datetime.date"),
        (Point(1, 2), f"{__name__}.Point"),
        (b"\x00bytes", "bytes"),
        (3 + 4j, "complex"),
    ],
    ids=repr,
)
def test_other_values_are_pickled_and_come_back_equal(value, type_name):
    kind, back, stored_type = round_trip(value)
    assert kind == PICKLE
    assert stored_type == type_name
    assert type(back) is type(value)
    assert back == value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")], ids=repr)
def test_non_finite_floats_are_pickled(value):
    kind, back, _ = round_trip(value)
    assert kind == PICKLE
    assert type(back) is float
    assert (math.isnan(back) and math.isnan(value)) or back == value


def test_nan_inside_a_list_is_pickled():
    # [nan] != [nan] after a JSON round trip (a new nan object), so JSON is not used.
    kind, back, _ = round_trip([float("nan"), 1])
    assert kind == PICKLE
    assert math.isnan(back[0]) and back[1] == 1


def test_a_lambda_goes_through_cloudpickle():
    kind, back, type_name = round_trip(lambda x: x * 3)
    assert kind == PICKLE
    assert type_name == "function"
    assert back(5) == 15


def test_an_instance_of_a_local_class_goes_through_cloudpickle():
    class Local:
        def __init__(self, v):
            self.v = v

    kind, back, type_name = round_trip(Local(41))
    assert kind == PICKLE
    assert type_name.endswith("Local")
    assert back.v == 41


class Unpicklable:
    def __reduce__(self):
        raise TypeError("cannot pickle Unpicklable")


def test_a_value_nothing_can_pickle_is_unstored_with_the_reason():
    kind, text, blob, type_name = encode(Unpicklable())
    assert kind == UNSTORED
    assert blob is None
    assert type_name.endswith("Unpicklable")
    assert json.loads(text) == "TypeError: cannot pickle Unpicklable"
    with pytest.raises(ValueError, match="cannot decode a stored value of kind 'unstored'"):
        decode(kind, text, blob)


def test_a_live_resource_is_never_pickled_by_reading_it():
    kind, text, _, _ = encode(threading.Lock())
    assert kind == UNSTORED and json.loads(text).startswith("not stored: a lock (")


def test_table_kind_needs_no_import():
    import pandas as pd
    import pyarrow as pa

    assert table_kind(pd.DataFrame({"a": [1]})) == "pandas"
    assert table_kind(pa.table({"a": [1]})) == "arrow"
    assert table_kind(pd.Series([1])) is None
    assert table_kind({"a": [1]}) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)


@given(json_values)
def test_json_able_values_round_trip_exactly(value):
    kind, back, _ = round_trip(value)
    assert kind == JSON
    assert same(back, value)


@given(st.one_of(st.lists(st.integers(), min_size=1), st.lists(st.text(), min_size=1),
                 st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1)))
def test_a_column_of_one_scalar_type_encodes_as_each_value_would(values):
    texts, type_name = scalar_json_column(values)
    assert [(JSON, text, None, type_name) for text in texts] == [encode(v) for v in values]


@pytest.mark.parametrize("values", [
    [1, "1"],  # two types
    [1, True],  # a bool is not an int here
    [1.5, math.inf],  # not JSON
    [10**5000],  # past the digits limit of int-to-text conversion
    [None, None],
    [],
])
def test_a_column_of_anything_else_is_left_to_each_value(values):
    assert scalar_json_column(values) is None
