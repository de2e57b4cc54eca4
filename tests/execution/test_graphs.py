"""Every test graph, on every back end, against its plain-Python oracle.

Outputs are checked twice: from memory (``output_for_node``) and from the store
(``run.output``), so what is persisted is exactly what ran.
"""

from __future__ import annotations

import pytest

from nbflow.runtime.instance import launch
from tests.execution.graphs import ALL


@pytest.mark.parametrize("module", ALL, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_graph_matches_oracle(module, instance, backend_factory):
    expected_outputs, expected_statuses = module.oracle()
    run = launch(module.job, module.run_config, instance, backend=backend_factory())
    result = run.as_execution_result()

    steps = run.steps()
    assert dict(zip(steps.step_key, steps.status, strict=True)) == expected_statuses
    assert len(steps) == len(expected_statuses), "a step was recorded twice"
    for node, expected in expected_outputs.items():
        assert result.output_for_node(node) == expected, node
        assert run.output(node) == expected, node
    failed = any(s == "FAILURE" for s in expected_statuses.values())
    assert run.status == ("FAILURE" if failed else "SUCCESS")
    assert result.success is not failed
