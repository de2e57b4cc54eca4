"""Text UTF-8 cannot hold -- a lone surrogate, as in a file name os.listdir could not
decode -- in printed text, a step's error, a log message or a tag: everything is stored,
the text with backslash escapes, and an output value keeps the text exactly."""

from __future__ import annotations

import nbflow as nf
from nbflow.store.serialize import safe_json, safe_text, safe_texts

NAME = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # 'caf\udce9.txt'
ESCAPED = "caf\\udce9.txt"


@nf.op(out=nf.DynamicOut())
def files():
    for i in range(5):
        yield nf.DynamicOutput(i, mapping_key=f"f{i}")


@nf.op
def read(context, i):
    print("reading", NAME)
    context.log.info(f"opened {NAME}")
    if i == 3:
        raise ValueError(f"cannot parse {NAME}")
    return NAME


@nf.op
def count(names):
    return len(names)


@nf.job(tags={"source": NAME})
def odd_names():
    count(files().map(read).collect())


def test_lone_surrogates_in_prints_errors_logs_and_tags_are_stored(instance):
    run = odd_names.run(instance=instance, tags={"folder": NAME})
    assert run.status == "FAILURE"
    steps = run.steps().set_index("step_key")
    assert len(steps) == 7
    assert (steps.status == "SUCCESS").sum() == 5
    assert f"ValueError: cannot parse {ESCAPED}" in steps.error["read[f3]"]
    messages = set(instance.sql("SELECT message FROM events WHERE run_id = ?", [run.run_id]).message)
    assert f"reading {ESCAPED}" in messages
    assert f"nbflow.op.read: opened {ESCAPED}" in messages
    assert run.tags["source"] == ESCAPED and run.tags["folder"] == ESCAPED
    assert run.output("read", key="f0") == NAME  # a value is kept exactly


def test_safe_text_and_json_leave_good_text_alone():
    assert safe_text("naïve 😀") == "naïve 😀"
    assert safe_text(None) is None
    assert safe_json({"e": "😀", "n": [1, NAME]}) == '{"e": "\\ud83d\\ude00", "n": [1, "caf\\\\udce9.txt"]}'


def test_safe_texts_escape_only_when_a_text_needs_it():
    clean = (None, "plain", "naïve 😀", "", None)
    assert safe_texts(clean) is clean  # nothing to escape: the column itself, not walked
    odd = (None, "ok", NAME, "naïve")
    assert safe_texts(odd) == [None, "ok", "caf\\udce9.txt", "naïve"]
    assert safe_texts(()) == ()
