"""Re-execution at the executor level: what runs, and that the result equals a fresh run.

The parent run is kept in a MemorySink; a rerun executes the selected steps and
loads every other input from the parent's outputs.
"""

from __future__ import annotations

import pytest

import nbflow as nf
from nbflow.definitions.compose import DynSource
from nbflow.execution.events import MemorySink
from nbflow.execution.executor import Executor
from nbflow.execution.resume import ParentView, RerunSelectionError, Resume, select_failed, select_op


class MemoryLoader:
    def __init__(self, sink: MemorySink) -> None:
        self.values = {(r[1], r[4], r[2]): r[5] for r in sink.outputs}

    def load(self, node, output, key):
        return self.values[(node, output, key)]

    def load_all(self, node, output):
        return {k: v for (n, o, k), v in self.values.items() if n == node and o == output and k is not None}

    def load_some(self, node, output, keys):
        return {k: self.values[(node, output, k)] for k in keys if (node, output, k) in self.values}


def run_once(job, resume=None, backend_factory=None):
    from nbflow.definitions.config import resolve_run_config
    from nbflow.execution.backend import InProcessBackend

    sink = MemorySink()
    configs = resolve_run_config(job, None)
    outcome = Executor(job, "run", configs, sink, (backend_factory or InProcessBackend)(), resume=resume).execute()
    return sink, outcome


def parent_view(job, sink: MemorySink) -> ParentView:
    status, ok_keys, keys = {}, {}, {}
    for _step_key, node, key, _, st, *_ in sink.steps:
        if key is None:
            status[node] = st
        elif st == "SUCCESS":
            ok_keys.setdefault(node, set()).add(key)
    for _, node, key, _index, output, _ in sorted(sink.outputs, key=lambda r: (r[3] is None, r[3] or 0)):
        spec = job.nodes[node].op.outs[output]
        if spec.is_dynamic:
            keys.setdefault(DynSource(node, output), []).append(key)
    return ParentView("parent", status, ok_keys, keys)


def resume_for(job, sink, executed):
    view = parent_view(job, sink)
    reused_sources = {s: k for s, k in view.keys.items() if s.node not in executed}
    return Resume("parent", executed, reused_sources, MemoryLoader(sink))


def ran(sink):
    return {r[0] for r in sink.steps if r[4] != "SKIPPED"}


@pytest.fixture
def fixable():
    from tests.execution.graphs import failing

    yield failing
    failing.BAD.clear()
    failing.BAD.add("b")


def test_failed_reruns_only_the_failed_key_its_downstream_and_the_collects(fixable, backend_factory):
    parent, _ = run_once(fixable.job, backend_factory=backend_factory)
    fixable.BAD.clear()  # "the fix typed into the cell"
    executed = select_failed(fixable.job.nodes, parent_view(fixable.job, parent))
    assert executed == {"flaky": {"b"}, "after": {"b"}, "total": None, "report": None}
    child, outcome = run_once(fixable.job, resume_for(fixable.job, parent, executed), backend_factory)
    assert outcome.status == "SUCCESS"
    assert ran(child) == {"flaky[b]", "after[b]", "total", "report"}
    _fresh, fresh_outcome = run_once(fixable.job)
    assert outcome.values[("report", "result", None)] == fresh_outcome.values[("report", "result", None)]


def test_one_key_downstream_follows_the_same_key_only(backend_factory):
    from tests.execution.graphs import chained

    parent, _ = run_once(chained.job)
    executed = select_op(chained.job.nodes, parent_view(chained.job, parent), "double", ["item_3"], True)
    assert executed == {"double": {"item_3"}, "inc": {"item_3"}, "total": None}
    child, outcome = run_once(chained.job, resume_for(chained.job, parent, executed), backend_factory)
    assert ran(child) == {"double[item_3]", "inc[item_3]", "total"}
    assert outcome.values[("total", "result", None)] == chained.oracle()[0]["total"]


def test_one_key_without_downstream_runs_just_that_step():
    from tests.execution.graphs import chained

    parent, _ = run_once(chained.job)
    executed = select_op(chained.job.nodes, parent_view(chained.job, parent), "inc", ["item_0", "item_1"], False)
    child, outcome = run_once(chained.job, resume_for(chained.job, parent, executed))
    assert ran(child) == {"inc[item_0]", "inc[item_1]"}
    assert outcome.status == "SUCCESS"


def test_fanout_op_downstream_reruns_everything_with_the_new_keys():
    items = {"a": 1, "b": 2}

    @nf.op(out=nf.DynamicOut())
    def emit():
        for k, v in items.items():
            yield nf.DynamicOutput(v, mapping_key=k)

    @nf.op
    def f(x):
        return x * 10

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def growing():
        total(emit().map(f).collect())

    parent, _ = run_once(growing)
    items["c"] = 3
    executed = select_op(growing.nodes, parent_view(growing, parent), "emit", None, True)
    child, outcome = run_once(growing, resume_for(growing, parent, executed))
    assert ran(child) == {"emit", "f[a]", "f[b]", "f[c]", "total"}
    assert outcome.values[("total", "result", None)] == 60


def test_mixed_graph_rerun_of_a_shared_input_reruns_every_key():
    from tests.execution.graphs import mixed

    parent, _ = run_once(mixed.job)
    executed = select_op(mixed.job.nodes, parent_view(mixed.job, parent), "suffix", None, True)
    assert executed == {"suffix": None, "shout": None, "join": None}
    child, outcome = run_once(mixed.job, resume_for(mixed.job, parent, executed))
    assert ran(child) == {"suffix", "shout[zeta]", "shout[alpha]", "shout[mid]", "join"}
    assert outcome.values[("join", "result", None)] == "ZETA! ALPHA! MID!"


def test_a_missing_stored_input_fails_only_the_step_that_needs_it():
    from tests.execution.graphs import chained

    parent, _ = run_once(chained.job)
    parent.outputs = [r for r in parent.outputs if not (r[1] == "double" and r[2] == "item_2")]
    executed = select_op(chained.job.nodes, parent_view(chained.job, parent), "inc", ["item_2", "item_3"], False)
    child, _outcome = run_once(chained.job, resume_for(chained.job, parent, executed))
    statuses = {r[0]: r[4] for r in child.steps}
    assert statuses == {"inc[item_2]": "FAILURE", "inc[item_3]": "SUCCESS"}
    error = next(r[8] for r in child.steps if r[0] == "inc[item_2]")
    assert error.startswith(
        "Step inc[item_2] cannot run: its input from output 'result' of step double[item_2] cannot be "
        "loaded from run parent (the parent run stored no value for it)."
    )


@pytest.mark.parametrize(
    ("op", "keys", "downstream", "message"),
    [
        ("dubble", None, True, r"The job has no op 'dubble' to rerun. Valid ones \(closest first\): 'double'"),
        ("double", ["item_9"], True, r"op 'double' has no mapping key 'item_9' in run parent. Valid ones \(closest first\): 'item_"),
        ("total", ["x"], True, r"op 'total' is not mapped, so it has no mapping keys"),
        ("double", "item_1", True, r"keys= takes a list of mapping keys, not the str 'item_1'"),
        ("emit", None, False, r"op 'emit' is a fan-out: rerunning it can change its mapping keys"),
    ],
)
def test_bad_selections_name_what_is_valid(op, keys, downstream, message):
    from tests.execution.graphs import chained

    parent, _ = run_once(chained.job)
    with pytest.raises(RerunSelectionError, match=message):
        select_op(chained.job.nodes, parent_view(chained.job, parent), op, keys, downstream)
