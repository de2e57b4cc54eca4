"""Mapping a @graph of two ops over a fan-out."""

import nbflow as nf


@nf.op(out=nf.DynamicOut())
def emit():
    for i in range(4):
        yield nf.DynamicOutput(i, mapping_key=str(i))


@nf.op
def add_one(x):
    return x + 1


@nf.op
def square(x):
    return x * x


@nf.graph
def process(x):
    return square(add_one(x))


@nf.op
def total(values):
    return sum(values)


@nf.job
def job():
    total(emit().map(process).collect())


run_config = None


def oracle():
    outputs = {"process.square": {str(i): (i + 1) ** 2 for i in range(4)}, "total": sum((i + 1) ** 2 for i in range(4))}
    statuses = {"emit": "SUCCESS", "total": "SUCCESS"}
    for i in range(4):
        statuses[f"process.add_one[{i}]"] = "SUCCESS"
        statuses[f"process.square[{i}]"] = "SUCCESS"
    return outputs, statuses
