"""The read-only structure the executor needs: the job's topology.

:class:`Plan` is :class:`~nbflow.definitions.topology.JobTopology` under the executor's
name: consumers of every output, nodes of every fan-out scope, and input counts.
"""

from __future__ import annotations

from nbflow.definitions.topology import JobTopology

Plan = JobTopology

__all__ = ["Plan"]
