"""emit -> map(double) -> map(inc) -> collect -> total."""

import nbflow as nf

ITEMS = [3, 1, 4, 1, 5, 9, 2, 6]
KEYS = [f"item_{i}" for i in range(len(ITEMS))]


@nf.op(out=nf.DynamicOut())
def emit():
    for key, value in zip(KEYS, ITEMS, strict=True):
        yield nf.DynamicOutput(value, mapping_key=key)


@nf.op
def double(x):
    return 2 * x


@nf.op
def inc(x):
    return x + 1


@nf.op
def total(values):
    return sum(values)


@nf.job
def job():
    total(emit().map(double).map(inc).collect())


run_config = None


def oracle():
    doubled = {k: 2 * v for k, v in zip(KEYS, ITEMS, strict=True)}
    incremented = {k: v + 1 for k, v in doubled.items()}
    outputs = {"double": doubled, "inc": incremented, "total": sum(incremented.values())}
    statuses = {"emit": "SUCCESS", "total": "SUCCESS"}
    statuses.update({f"double[{k}]": "SUCCESS" for k in KEYS})
    statuses.update({f"inc[{k}]": "SUCCESS" for k in KEYS})
    return outputs, statuses
