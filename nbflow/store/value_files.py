"""Large output values, stored as files in a folder beside the store file.

DuckDB keeps what it inserts in its buffer pool: a 400 MB value written as BLOB rows raises
the process's memory by about 1.45 GB, and a ``memory_limit`` low enough to prevent that
makes the commit itself fail ("failed to pin block"). A value that is large by itself
(``bytes``, ``str``, numpy or Arrow data of 32 MB or more) is therefore pickled straight into
a file, ``<store>.values/<name>.pickle``, and its output row refers to the file by name (kind
``file``, the name in ``table_name``). Pickling streams to the file and loading streams from
it, so storing or loading a value needs little memory besides the value itself.

The file is written under a temporary name, synced, and renamed before the batch that refers
to it commits; a process killed in between leaves a file that no output row names, which
:func:`sweep` removes once its run is no longer going (the same rule as orphan frame tables).
The folder is private to its owner (0700) and each file 0600, like the store file.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

from nbflow.errors import OutputNotFoundError

VALUE_FILE = "file"  # the ``kind`` of an output stored in a value file
SUFFIX = ".pickle"
# Names are made by the writer; a name read back from a store file that does not have this
# form is refused, so a crafted store cannot make nbflow read or delete other files.
_NAME = re.compile(r"r[0-9a-f-]{1,12}_[0-9]+_[0-9a-f]{6}")
_WRITE_BUFFER = 8 * 2**20


def folder_of(store_path: str) -> Path:
    """The folder that holds the value files of the store at ``store_path``."""
    return Path(store_path + ".values")


def _checked(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise OutputNotFoundError(
            f"This output refers to a value file named {name!r}, which nbflow never writes "
            f"(the store file was changed outside nbflow). Rerun the step to store it again."
        )
    return name


def write(store_path: str, name: str, value: Any) -> dict[str, Any]:
    """Pickle ``value`` into the value file ``name``; return the meta to store with it.

    Raises what pickling raises (the caller records the value as not stored); no partial
    file is left behind.
    """
    folder = folder_of(store_path)
    folder.mkdir(mode=0o700, exist_ok=True)
    final = folder / (_checked(name) + SUFFIX)
    partial = folder / (name + SUFFIX + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb", buffering=_WRITE_BUFFER) as file:
            pickle.Pickler(file, protocol=5).dump(value)
            file.flush()
            os.fsync(file.fileno())
            size = file.tell()
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return {"file": final.name, "bytes": size}


def read(store_path: str, name: Any) -> Any:
    """The value stored in the value file ``name`` (read and unpickled as a stream)."""
    path = folder_of(store_path) / (_checked(name) + SUFFIX)
    try:
        file = open(path, "rb")  # noqa: SIM115  # closed below; the error names the path
    except FileNotFoundError:
        raise OutputNotFoundError(
            f"This output was stored in the file {path}, which is missing. Large values live in "
            f"the folder {path.parent.name} beside the store file: copy or move that folder "
            f"together with the store, or rerun the step to store the value again."
        ) from None
    with file:
        return pickle.load(file)


def names_on_disk(store_path: str) -> list[str]:
    """Names of the value files (finished or being written) beside the store."""
    folder = folder_of(store_path)
    if not folder.is_dir():
        return []
    names = []
    for entry in os.listdir(folder):
        for suffix in (SUFFIX, SUFFIX + ".partial"):
            if entry.endswith(suffix) and _NAME.fullmatch(entry[: -len(suffix)]):
                names.append(entry[: -len(suffix)])
    return names


def sweep(con: Any, store_path: str) -> int:
    """Remove value files that no output row names and whose run is not going; return how many.

    Call it after the transaction that deleted output rows committed (a rolled-back delete
    must find its files still there).
    """
    on_disk = names_on_disk(store_path)
    if not on_disk:
        return 0
    kept = {r[0] for r in con.execute(
        "SELECT table_name FROM outputs WHERE kind = ? AND list_contains(?, table_name)",
        [VALUE_FILE, on_disk]).fetchall()}
    going = tuple("r" + r[0][:12] + "_" for r in con.execute(
        "SELECT run_id FROM runs WHERE status = 'STARTED'").fetchall())
    removed = 0
    folder = folder_of(store_path)
    for name in on_disk:
        if name in kept or name.startswith(going):
            continue
        for suffix in (SUFFIX, SUFFIX + ".partial"):
            try:
                (folder / (name + suffix)).unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed
