"""A fan-out with no items: collect() receives [] and the run succeeds."""

import nbflow as nf


@nf.op(out=nf.DynamicOut())
def nothing():
    yield from ()


@nf.op
def double(x):
    return 2 * x


@nf.op
def total(values):
    return ("total", values)


@nf.job
def job():
    total(nothing().map(double).collect())


run_config = None


def oracle():
    return {"total": ("total", [])}, {"nothing": "SUCCESS", "total": "SUCCESS"}
