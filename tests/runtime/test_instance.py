"""The instance: launching runs into a store, and the handles it gives back."""

from __future__ import annotations

import re

import pytest

import nbflow as nf
from nbflow.runtime.instance import Instance, code_version, default_store_path, launch


@nf.op(config_schema={"factor": int})
def scaled(context):
    return 3 * context.op_config["factor"]


@nf.op
def halve(x):
    return x / 2


@nf.job(tags={"owner": "inst"}, config={"ops": {"scaled": {"config": {"factor": 2}}}})
def inst_job():
    halve(scaled())


@nf.op
def explode():
    raise RuntimeError("kaput")


@nf.job
def inst_failing():
    explode()


def test_an_ephemeral_instance_starts_empty(instance):
    assert instance.path == ":memory:"
    assert instance.runs().empty
    assert repr(instance) == "<nbflow Instance :memory:>"


def test_ephemeral_instances_do_not_share_runs():
    a, b = Instance.ephemeral(), Instance.ephemeral()
    inst_job.run(instance=a)
    assert len(a.runs()) == 1
    assert b.runs().empty
    a.close()
    b.close()


def test_a_run_is_stored_with_its_config_and_merged_tags(instance):
    run = inst_job.run(instance=instance, tags={"try": 1})
    assert isinstance(run, nf.Run)
    assert run.output("halve") == 3.0
    stored = instance.get_run(run.run_id)
    assert stored.run_config == {"ops": {"scaled": {"config": {"factor": 2}}}}
    assert stored.tags == {"owner": "inst", "try": "1"}
    assert stored.job_name == "inst_job"
    assert stored.error is None
    assert repr(stored) == f"<Run {run.run_id[:8]} inst_job SUCCESS>"
    assert "<b>inst_job</b>: <b>SUCCESS</b> (2 success)" in stored._repr_html_()


def test_run_config_overrides_the_job_default(instance):
    run = inst_job.run(run_config={"ops": {"scaled": {"config": {"factor": 10}}}}, instance=instance)
    assert run.output("scaled") == 30


def test_bad_config_is_refused_before_anything_is_stored(instance):
    with pytest.raises(nf.ConfigError):
        inst_job.run(run_config={"ops": {"scaled": {"config": {"factor": "ten"}}}}, instance=instance)
    assert instance.runs().empty


def test_a_failed_run_is_stored_and_by_default_not_raised(instance):
    run = inst_failing.run(instance=instance)
    assert run.status == "FAILURE" and not run.success
    assert run.error == "Steps failed: ['explode']"
    assert instance.runs(status="FAILURE").run_id.tolist() == [run.run_id]


def test_raise_on_error_says_where_the_tracebacks_are(instance):
    with pytest.raises(RuntimeError) as info:  # the step's own exception, as in Dagster
        inst_failing.run(instance=instance, raise_on_error=True)
    (run_id,) = instance.runs().run_id
    assert info.value.__notes__ == [
        f'Execution of run for "inst_failing" failed. Steps failed: [\'explode\']. The run is stored in '
        f":memory:: instance.get_run({run_id!r}).steps() shows the tracebacks."
    ]
    assert "kaput" in instance.get_run(run_id).steps().error.iloc[0]


def test_execute_in_process_stores_its_run(instance):
    result = inst_job.execute_in_process(instance=instance)
    assert result.success
    assert result.output_for_node("halve") == 3.0
    assert instance.runs().run_id.tolist() == [result.run_id]
    assert result.dagster_run.status == "SUCCESS"


def test_a_partition_key_is_stored_with_the_run(instance):
    days = nf.DynamicPartitionsDefinition(name="days")
    days.add(["2024-05-06"], instance=instance)

    @nf.job(partitions_def=days)
    def daily():
        scaled()

    run = launch(daily, {"ops": {"scaled": {"config": {"factor": 1}}}}, instance, partition_key="2024-05-06")
    assert instance.runs().partition_key.tolist() == ["2024-05-06"]
    assert instance.get_run(run.run_id).status == "SUCCESS"


def test_runs_without_instance_go_to_the_default_store(tmp_path, monkeypatch):
    home = tmp_path / "default-home"
    monkeypatch.setenv("NBFLOW_HOME", str(home))
    run = inst_job.run()
    assert run.instance is nf.instance()
    assert run.instance.path == str(home / "nbflow.duckdb")
    assert (home / "nbflow.duckdb").exists()


def test_default_store_path(tmp_path, monkeypatch):
    monkeypatch.setenv("NBFLOW_HOME", str(tmp_path / "h"))
    assert default_store_path() == str(tmp_path / "h" / "nbflow.duckdb")
    monkeypatch.delenv("NBFLOW_HOME")
    monkeypatch.chdir(tmp_path)
    assert default_store_path() == str(tmp_path / ".nbflow" / "nbflow.duckdb")


def test_close_releases_a_file_store_and_the_next_use_reopens_it(tmp_path):
    inst = Instance(str(tmp_path / "s.duckdb"))
    inst_job.run(instance=inst)
    assert inst.store.holder.is_open
    inst.close()
    assert not inst.store.holder.is_open
    assert len(inst.runs()) == 1
    inst.close()


def test_code_version_follows_the_source():
    assert re.fullmatch(r"[0-9a-f]{12}", code_version(halve))
    assert code_version(halve) == code_version(halve)
    assert code_version(halve) != code_version(scaled)


def test_code_version_of_an_op_without_source():
    namespace: dict = {"nf": nf}
    exec("@nf.op\ndef made_by_exec(x):\n    return x + 1\n", namespace)
    version = code_version(namespace["made_by_exec"])
    assert re.fullmatch(r"[0-9a-f]{12}", version)


def test_code_version_survives_a_source_file_that_is_not_the_code(tmp_path):
    unrelated = tmp_path / "page.md"
    unrelated.write_text("Some prose with an open ( parenthesis\nand more\n")
    namespace: dict = {}
    exec(compile("def body():\n    return 1\n", str(unrelated), "exec"), namespace)
    op_def = nf.op(namespace["body"])
    version = code_version(op_def)
    assert len(version) == 12 and version == code_version(op_def)


def _op_from_file(path, source: str, name: str = "body"):
    """An op whose source file is ``path`` (as a cell's code is to IPython)."""
    path.write_text(source)
    namespace: dict = {"nf": nf}
    exec(compile(source, str(path), "exec"), namespace)
    return namespace[name]


BODY = '''
@nf.op
def body(x):
    """Double it."""
    y = x * 2  # the doubling
    return y
'''


@pytest.mark.parametrize("edited", [
    BODY.replace("# the doubling", "# twice the input, explained at length"),   # a comment
    BODY.replace('"""Double it."""', '"""Double it.\n\n    A longer docstring.\n    """'),  # the docstring
    BODY.replace('    """Double it."""\n', ""),                                  # no docstring at all
    BODY.replace("y = x * 2", "y = x*2").replace("def body(x):", "def body( x ):"),  # spacing
    "\n\n# a comment above\n" + BODY.replace("    return y", "\n    return y\n"),  # blank lines
    "class Holder:\n" + "\n".join("    " + line for line in BODY.splitlines()) + "\nbody = Holder.body\n",  # indented
])
def test_code_version_ignores_comments_docstrings_and_layout(tmp_path, edited):
    original = code_version(_op_from_file(tmp_path / "a.py", BODY))
    assert code_version(_op_from_file(tmp_path / "b.py", edited)) == original


@pytest.mark.parametrize("changed", [
    BODY.replace("x * 2", "x * 3"),
    BODY.replace("return y", "return -y"),
    BODY.replace("@nf.op", "@nf.op(retry_policy=nf.RetryPolicy(max_retries=2))"),
    BODY.replace("y = x * 2  # the doubling", 'y = x * 2\n    print("Double it.")'),
])
def test_code_version_changes_with_the_code(tmp_path, changed):
    assert code_version(_op_from_file(tmp_path / "b.py", changed)) != code_version(_op_from_file(tmp_path / "a.py", BODY))


def test_code_version_without_source_is_the_same_in_every_process():
    import subprocess
    import sys

    probe = ("import nbflow as nf\nfrom nbflow.runtime.instance import code_version\nns = {'nf': nf}\n"
             "exec('@nf.op\\ndef made(x):\\n    return [(lambda v: v + 1)(i) for i in x]\\n', ns)\n"
             "print(code_version(ns['made']))")
    seen = {subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60).stdout
            for _ in range(2)}
    assert len(seen) == 1 and re.fullmatch(r"[0-9a-f]{12}\n", seen.pop())
