"""An op with a static and a dynamic output, and a mapped op with two outputs."""

import nbflow as nf


@nf.op(out={"meta": nf.Out(), "items": nf.DynamicOut()})
def split():
    yield nf.Output({"source": "inline"}, output_name="meta")
    for i in range(3):
        yield nf.DynamicOutput(i, mapping_key=f"n{i}", output_name="items")


@nf.op(out={"square": nf.Out(), "cube": nf.Out()})
def powers(x):
    return x * x, x * x * x


@nf.op
def describe(meta, squares, cubes):
    return {"source": meta["source"], "squares": squares, "cubes": cubes}


@nf.job
def job():
    meta, items = split()
    square, cube = items.map(powers)
    describe(meta, square.collect(), cube.collect())


run_config = None


def oracle():
    outputs = {"describe": {"source": "inline", "squares": [0, 1, 4], "cubes": [0, 1, 8]}}
    statuses = {"split": "SUCCESS", "describe": "SUCCESS"}
    statuses.update({f"powers[n{i}]": "SUCCESS" for i in range(3)})
    return outputs, statuses
