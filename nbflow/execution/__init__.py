"""Execution: run plans, step running, back ends, and the pipelined executor."""
