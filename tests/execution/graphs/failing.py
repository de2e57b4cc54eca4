"""One mapped key fails: its siblings go on; its downstream and the collect are skipped."""

import nbflow as nf

KEYS = ["a", "b", "c", "d"]
BAD = {"b"}


@nf.op(out=nf.DynamicOut())
def emit():
    for i, key in enumerate(KEYS):
        yield nf.DynamicOutput(i, mapping_key=key)


@nf.op
def flaky(context, x):
    if context.get_mapping_key() in BAD:
        raise ValueError(f"cannot handle {context.get_mapping_key()}")
    return x * 10


@nf.op
def after(x):
    return x + 1


@nf.op
def total(values):
    return sum(values)


@nf.op
def report(t):
    return f"total={t}"


@nf.job
def job():
    report(total(emit().map(flaky).map(after).collect()))


run_config = None


def oracle():
    good = [k for k in KEYS if k not in BAD]
    outputs = {
        "flaky": {k: KEYS.index(k) * 10 for k in good},
        "after": {k: KEYS.index(k) * 10 + 1 for k in good},
    }
    statuses = {"emit": "SUCCESS", "total": "SKIPPED", "report": "SKIPPED"}
    for k in KEYS:
        statuses[f"flaky[{k}]"] = "FAILURE" if k in BAD else "SUCCESS"
        statuses[f"after[{k}]"] = "SKIPPED" if k in BAD else "SUCCESS"
    return outputs, statuses
