"""Small test graphs, each a module with ``job``, ``run_config`` and a plain-Python ``oracle``.

``oracle()`` returns ``(outputs, statuses)``: the expected output of chosen nodes (a
dict per mapped node) and the expected status of every step key.
"""

from tests.execution.graphs import (
    chained,
    failing,
    graph_map,
    mixed,
    multi_output,
    unicode_keys,
    zero_items,
)

ALL = [chained, mixed, failing, multi_output, graph_map, unicode_keys, zero_items]
