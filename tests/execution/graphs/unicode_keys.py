"""Mapping keys Dagster rejects, kept exactly: spaces, dots, slashes, brackets, emoji, SQL."""

import nbflow as nf

KEYS = [
    "report 2024.csv",
    "päär/2024 q1|x,y",
    "a]b[c",
    "🎙️ episode",
    "'; drop table steps; --",
    "x" * 255,
]


@nf.op(out=nf.DynamicOut())
def emit():
    for key in KEYS:
        yield nf.DynamicOutput(key, mapping_key=key)


@nf.op
def length(context, value):
    assert context.get_mapping_key() == value
    return len(value)


@nf.op
def lengths(values):
    return values


@nf.job
def job():
    lengths(emit().map(length).collect())


run_config = None


def oracle():
    outputs = {"length": {k: len(k) for k in KEYS}, "lengths": [len(k) for k in KEYS]}
    statuses = {"emit": "SUCCESS", "lengths": "SUCCESS"}
    statuses.update({f"length[{k}]": "SUCCESS" for k in KEYS})
    return outputs, statuses
