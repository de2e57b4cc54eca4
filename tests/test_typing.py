"""What a user's type checker sees of nbflow: the package is typed (py.typed), the decorators
give definitions in both their forms, and a wrong argument is reported."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

import nbflow

pytestmark = pytest.mark.slow  # runs mypy over nbflow: several seconds

USER_CODE = """
import nbflow as nf

@nf.op
def double(x: int) -> int:
    return 2 * x

@nf.op(name="triple", tags={"team": "a"})
def triple(x: int) -> int:
    return 3 * x

@nf.graph
def twice() -> None:
    double(triple(1))

@nf.job(tags={"team": "a"})
def my_job() -> None:
    twice()

@nf.asset
def numbers() -> list[int]:
    return [1, 2, 3]

reveal_type(double)
reveal_type(triple)
reveal_type(twice)
reveal_type(my_job)
reveal_type(nf.Definitions(jobs=[my_job]).get_job_def("my_job"))
reveal_type(nf.instance().get_run("r1"))
reveal_type(nf.instance().add_dynamic_partitions("episodes", ["e1"]))
reveal_type(numbers)
"""


def _mypy(tmp_path: pathlib.Path, code: str) -> str:
    from mypy import api

    script = tmp_path / "user_code.py"
    script.write_text(textwrap.dedent(code))
    stdout, stderr, _ = api.run([
        "--strict", "--no-error-summary", "--config-file", "",
        "--cache-dir", str(tmp_path / "cache"), str(script),
    ])
    return stdout + stderr


def test_the_package_ships_its_types() -> None:
    assert (pathlib.Path(nbflow.__file__).parent / "py.typed").is_file()


def test_decorators_and_handles_have_their_types(tmp_path: pathlib.Path) -> None:
    out = _mypy(tmp_path, USER_CODE)
    revealed = [line.split("Revealed type is ", 1)[1].strip('"') for line in out.splitlines()
                if "Revealed type is" in line]
    assert revealed == [
        "nbflow.definitions.op.OpDefinition",
        "nbflow.definitions.op.OpDefinition",
        "nbflow.definitions.graph.GraphDefinition",
        "nbflow.definitions.graph.JobDefinition",
        "nbflow.definitions.graph.JobDefinition",
        "nbflow.runtime.run.Run",
        "nbflow.store.partitions.AddResult",
        "nbflow.definitions.assets.AssetsDefinition",
    ], out
    assert "error" not in out, out


def test_a_wrong_argument_is_reported(tmp_path: pathlib.Path) -> None:
    out = _mypy(tmp_path, """
        import nbflow as nf

        @nf.job(partitions_def="episodes")
        def my_job() -> None:
            pass
    """)
    assert 'No overload variant of "job" matches argument type "str"' in out, out
