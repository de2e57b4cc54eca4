"""The one key validator shared by mapping keys and partition keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nbflow as nf
from nbflow.partitions.keys import MAX_KEY_LENGTH, validate_key, validate_keys

CONTROL = [chr(c) for c in range(0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]


@pytest.mark.parametrize(
    "key", ["a", "report 2024.csv", "päär/2024 q1|x,y", "a]b[c", "🎙️", "'; drop table x; --", "...", "x" * 255]
)
def test_legal_keys_come_back_exactly(key):
    assert validate_key(key) == key


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=MAX_KEY_LENGTH))
def test_any_text_without_control_characters_is_a_key(key):
    assert validate_key(key, "partition key") == key


@given(st.text(max_size=20), st.sampled_from(CONTROL), st.text(max_size=20))
def test_any_control_character_is_refused(before, bad, after):
    with pytest.raises(nf.InvalidKeyError, match="contains the control character"):
        validate_key(before + bad + after)


def test_messages_name_the_kind_of_key_and_the_rule():
    with pytest.raises(nf.InvalidKeyError, match=r"A partition key must be a str, but got b'x' of type bytes"):
        validate_key(b"x", "partition key")
    with pytest.raises(nf.InvalidKeyError, match=r"The partition key 'a\.\.\.b' contains '\.\.\.', which reads as a key range"):
        validate_key("a...b", "partition key", forbid_range=True)
    with pytest.raises(nf.InvalidKeyError, match="the limit is 255"):
        validate_key("é" * 256)


def test_invalid_key_error_is_a_value_error():
    with pytest.raises(ValueError):
        validate_key("")


def _first_error(keys):
    for key in keys:
        try:
            validate_key(key, "partition key")
        except nf.InvalidKeyError as exc:
            return str(exc)
    return None


@given(st.lists(st.one_of(st.text(max_size=8), st.just("x" * 256), st.just("y" * 255), st.integers(),
                          st.none(), st.lists(st.text(max_size=2), max_size=1)), max_size=12))
def test_checking_keys_together_agrees_with_checking_each(keys):
    expected = _first_error(keys)
    if expected is None:
        assert validate_keys(keys, "partition key") is keys
    else:
        with pytest.raises(nf.InvalidKeyError) as raised:
            validate_keys(keys, "partition key")
        assert str(raised.value) == expected  # the first bad key, with validate_key's message
