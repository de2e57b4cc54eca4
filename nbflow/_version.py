"""nbflow's version, read from the installed package's metadata (pyproject.toml is the one
place it is written). Imported only when ``nbflow.__version__`` is asked for: reading the
metadata takes about 20 ms, which ``import nbflow`` does not pay."""

from __future__ import annotations

import functools
from pathlib import Path

#: What a copy of the sources that is not installed and has no pyproject.toml beside it reports.
UNKNOWN = "0.0.0+unknown"


@functools.cache
def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("nbflow")
    except PackageNotFoundError:  # run from a checkout that was never pip-installed
        return _checkout_version() or UNKNOWN


def _checkout_version() -> str | None:
    """The version in the pyproject.toml of the checkout this package sits in, if any."""
    import tomllib

    try:
        project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None
    found = project.get("version") if project.get("name") == "nbflow" else None
    return found if isinstance(found, str) else None
