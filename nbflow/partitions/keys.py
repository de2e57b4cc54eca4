"""The key rules, shared by mapping keys and partition keys, and the name rule for
definitions (ops, jobs, graphs, partition definitions): see :func:`validate_name`.

A key is any non-empty ``str`` of at most 255 characters with no control
characters (and no lone surrogates, which are not text). Everything else --
spaces, commas, ``|``, ``/``, quotes, emoji, SQL -- is a legal key and is stored
and returned exactly. Dagster allows only
``^[A-Za-z0-9_]+$`` for mapping keys, which forces users to sanitise and lose the
original value; nbflow does not.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from nbflow.errors import InvalidKeyError

MAX_KEY_LENGTH = 255


def validate_keys(keys: list[Any], what: str = "key") -> list[str]:
    """Return ``keys`` if every one is a valid key (see :func:`validate_key`), else raise
    :class:`InvalidKeyError` for the first that is not.

    The common case is checked in C: the keys joined by a printable character are printable
    only if each one is, and their lengths are read in one pass. A million keys take about
    0.2 s, two thirds of checking them one by one.
    """
    try:
        fine = "_".join(keys).isprintable()
    except TypeError:  # not a str: validate_key says which one, and how to fix it
        fine = False
    if fine and keys:
        lengths = list(map(len, keys))
        fine = min(lengths) > 0 and max(lengths) <= MAX_KEY_LENGTH
    if not fine:
        for key in keys:
            validate_key(key, what)
    return keys


def _first_bad_char(key: str) -> str | None:
    # Control characters break displays and logs; lone surrogates (which a Python str can
    # hold, e.g. from os.fsdecode) cannot be encoded as UTF-8, so the store could not keep them.
    for ch in key:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return ch
    return None


def validate_key(key: object, what: str = "key", *, forbid_range: bool = False) -> str:
    """Return ``key`` if it is a valid key, else raise :class:`InvalidKeyError`.

    Parameters
    ----------
    key:
        The candidate key.
    what:
        How to call it in the message, e.g. ``"mapping key"`` or ``"partition key"``.
    forbid_range:
        Also reject ``...``, for places where it would read as a key range.

    Examples
    --------
    >>> validate_key("päär/2024 q1|x,y")
    'päär/2024 q1|x,y'
    """
    if not isinstance(key, str):
        raise InvalidKeyError(
            f"A {what} must be a str, but got {key!r} of type {type(key).__name__}. "
            f"Convert it with str(...) first."
        )
    if (fast := key.isprintable()) and 0 < len(key) <= MAX_KEY_LENGTH and not forbid_range:
        return key  # the common case, checked in C
    if not key:
        raise InvalidKeyError(f"A {what} must not be empty.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(
            f"The {what} {key[:40]!r}... is {len(key)} characters long; "
            f"the limit is {MAX_KEY_LENGTH}. Use a shorter key (a hash of the value works)."
        )
    if not fast:
        bad = _first_bad_char(key)
        if bad is not None and unicodedata.category(bad) == "Cs":
            raise InvalidKeyError(
                f"The {what} {key!r} contains the lone surrogate {bad!r} (U+{ord(bad):04X}), "
                f"which is not valid Unicode text; keys must be encodable as UTF-8."
            )
        if bad is not None:
            raise InvalidKeyError(
                f"The {what} {key!r} contains the control character {bad!r} "
                f"(U+{ord(bad):04X}); keys may not contain control characters."
            )
    if forbid_range and "..." in key:
        raise InvalidKeyError(
            f"The {what} {key!r} contains '...', which reads as a key range here. "
            f"Use another separator."
        )
    return key


def validate_name(name: object, what: str, error: type[Exception] = InvalidKeyError) -> str:
    """Return ``name`` if it may name a definition, else raise ``error`` saying why.

    A name follows the key rules (a non-empty ``str`` of at most 255 characters, no
    control characters such as NUL or newlines), is not blank, and has no ``[`` or ``]``
    (``op[key]`` names one mapped step).

    Examples
    --------
    >>> validate_name("transcribe audio", "op name")
    'transcribe audio'
    """
    try:
        validate_key(name, what)
    except InvalidKeyError as exc:
        raise error(str(exc)) from None
    assert isinstance(name, str)
    if not name.strip():
        raise error(f"A {what} must not be blank, got {name!r}.")
    if "[" in name or "]" in name:
        raise error(f"The {what} {name!r} contains '[' or ']', which name one mapped step (op[key]). "
                    f"Use another character.")
    return name
