"""A map that also uses a non-dynamic upstream output, a config'd op, and one fan-out
both mapped and collected (twice)."""

import nbflow as nf

WORDS = ["zeta", "alpha", "mid"]  # yield order, deliberately not sorted


@nf.op(out=nf.DynamicOut())
def words():
    for w in WORDS:
        yield nf.DynamicOutput(w, mapping_key=w)


@nf.op(config_schema={"suffix": nf.Field(str, default_value="!")})
def suffix(context):
    return context.op_config["suffix"]


@nf.op
def shout(word, end):
    return word.upper() + end


@nf.op
def join(parts):
    return " ".join(parts)


@nf.op
def count(items):
    return len(items)


@nf.job
def job():
    ws = words()
    end = suffix()
    join(ws.map(lambda w: shout(w, end)).collect())
    count(ws.collect())


run_config = {"ops": {"suffix": {"config": {"suffix": "?"}}}}


def oracle():
    shouted = {w: w.upper() + "?" for w in WORDS}
    outputs = {"shout": shouted, "join": " ".join(shouted.values()), "count": len(WORDS), "suffix": "?"}
    statuses = {"words": "SUCCESS", "suffix": "SUCCESS", "join": "SUCCESS", "count": "SUCCESS"}
    statuses.update({f"shout[{w}]": "SUCCESS" for w in WORDS})
    return outputs, statuses
