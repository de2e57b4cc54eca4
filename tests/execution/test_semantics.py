"""Failure, skip, retry, zero-item, cancel and logging semantics of one run."""

from __future__ import annotations

import logging

import pytest

import nbflow as nf
from nbflow.runtime.instance import launch


def statuses(run):
    steps = run.steps()
    return dict(zip(steps.step_key, steps.status, strict=True))


def test_skip_reasons_name_the_failed_upstream(instance):
    from tests.execution.graphs import failing

    run = failing.job.run(instance=instance)
    steps = run.steps().set_index("step_key")
    assert steps.loc["after[b]", "error"] == "upstream step flaky[b] failed"
    assert steps.loc["total", "error"] == "upstream step after[b] was skipped"
    assert steps.loc["report", "error"] == "upstream step total was skipped"
    assert "ValueError: cannot handle b" in steps.loc["flaky[b]", "error"]
    assert run.error == "Steps failed: ['flaky[b]']"


def test_execute_in_process_raises_the_user_error(instance):
    from tests.execution.graphs import failing

    with pytest.raises(ValueError, match="cannot handle b") as info:  # the step's own, as in Dagster
        failing.job.execute_in_process(instance=instance)
    assert any(r"Steps failed: ['flaky[b]']" in note for note in info.value.__notes__)
    assert instance.runs().status.tolist() == ["FAILURE"]  # stored even though it raised


def test_optional_dynamic_out_with_no_items_skips_the_collect(instance):
    @nf.op(out=nf.DynamicOut(is_required=False))
    def maybe():
        yield from ()

    @nf.op
    def f(x):
        return x

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def optional_job():
        total(maybe().map(f).collect())

    run = optional_job.run(instance=instance)
    assert run.status == "SUCCESS"
    assert statuses(run) == {"maybe": "SUCCESS", "total": "SKIPPED"}
    assert "yielded no items" in run.steps().set_index("step_key").loc["total", "error"]


def test_retries_are_per_mapped_step_and_every_attempt_is_recorded(instance, backend_factory, tmp_path):
    # Attempts are counted in files: on worker processes each attempt may run in another one.
    class Attempts:
        def get(self, k: str, default: int) -> int:
            return len(list(tmp_path.glob(f"{k}-*")))

        def __getitem__(self, k: str) -> int:
            return self.get(k, 0)

        def __setitem__(self, k: str, n: int) -> None:
            (tmp_path / f"{k}-{n}").touch()

    attempts = Attempts()

    @nf.op(out=nf.DynamicOut())
    def emit():
        for k in ("a", "b", "c"):
            yield nf.DynamicOutput(k, mapping_key=k)

    @nf.op(retry_policy=nf.RetryPolicy(max_retries=2, delay=0.01))
    def flaky(context, k):
        attempts[k] = attempts.get(k, 0) + 1
        assert context.retry_number == attempts[k] - 1
        if k == "b" and attempts[k] < 3:
            raise RuntimeError(f"transient {attempts[k]}")
        if k == "c":
            raise RuntimeError("permanent")
        return k

    @nf.job
    def retry_job():
        emit().map(flaky)

    run = launch(retry_job, instance_=instance, backend=backend_factory())
    steps = run.steps().set_index("step_key")
    assert steps.loc["flaky[a]", "attempts"] == 1
    assert steps.loc["flaky[b]", "attempts"] == 3
    assert steps.loc["flaky[b]", "status"] == "SUCCESS"
    assert steps.loc["flaky[c]", "attempts"] == 3
    assert steps.loc["flaky[c]", "status"] == "FAILURE"
    retries = run.logs().query("kind == 'STEP_UP_FOR_RETRY'")
    assert retries.step_key.value_counts().to_dict() == {"flaky[b]": 2, "flaky[c]": 2}
    assert run.output("flaky", key="b") == "b"


def test_a_fanout_op_with_retries_does_not_yield_keys_twice(instance):
    calls = []

    @nf.op(out=nf.DynamicOut(), retry_policy=nf.RetryPolicy(max_retries=1))
    def emit():
        calls.append(1)
        yield nf.DynamicOutput(1, mapping_key="one")
        if len(calls) == 1:
            raise RuntimeError("fails after the first item, once")
        yield nf.DynamicOutput(2, mapping_key="two")

    @nf.op
    def f(x):
        return x

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def retried_fanout():
        total(emit().map(f).collect())

    run = retried_fanout.run(instance=instance)
    assert run.status == "SUCCESS"
    assert run.output("total") == 3
    assert statuses(run) == {"emit": "SUCCESS", "f[one]": "SUCCESS", "f[two]": "SUCCESS", "total": "SUCCESS"}


def test_print_logging_and_context_log_are_captured_per_step(instance, capsys):
    @nf.op(out=nf.DynamicOut())
    def emit():
        for k in ("x", "y"):
            yield nf.DynamicOutput(k, mapping_key=k)

    @nf.op
    def talk(context, k):
        print(f"print from {k}")
        context.log.info(f"context.log from {k}")
        logging.getLogger("user.module").warning(f"logging from {k}")
        return k

    @nf.job
    def talky():
        emit().map(talk)

    run = talky.run(instance=instance)
    logs = run.logs("talk[y]")
    assert logs.message.tolist() == [
        "print from y",
        "nbflow.op.talk: context.log from y",
        "user.module: logging from y",
    ]
    assert logs.kind.tolist() == ["stdout", "log", "log"]
    assert set(run.logs().step_key) == {"talk[x]", "talk[y]"}
    assert "print from x" in capsys.readouterr().out  # still shown in the notebook


def test_steps_run_in_one_poll_each_keep_their_own_logs(instance):
    """In-process steps run one after another share a capture buffer: what each printed is
    taken out of it for that step alone, a failing step's and a fan-out's too."""
    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(6):
            print(f"emit {i}")
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")
        print("emit done")

    @nf.op
    def first(x):
        print(f"first {x}")
        if x == 2:
            raise ValueError("two")
        return x

    @nf.op
    def second(x):
        print(f"second {x}")
        print(f"second again {x}")
        return x

    @nf.job
    def chatty():
        emit().map(first).map(second)

    run = chatty.run(instance=instance, raise_on_error=False)
    logs = run.logs()
    by_step = {key: group.message.tolist() for key, group in logs.groupby("step_key")}
    assert by_step == {
        "emit": [*(f"emit {i}" for i in range(6)), "emit done"],  # resumed in six polls
        **{f"first[k{i}]": [f"first {i}"] for i in range(6)},
        **{f"second[k{i}]": [f"second {i}", f"second again {i}"] for i in range(6) if i != 2},
    }
    assert run.steps().set_index("step_key").status["first[k2]"] == "FAILURE"


def test_keyboard_interrupt_cancels_the_run_and_keeps_finished_work(instance):
    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(5):
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    @nf.op
    def work(x):
        if x == 3:
            raise KeyboardInterrupt
        return x * 100

    @nf.job
    def interrupted():
        emit().map(work)

    with pytest.raises(KeyboardInterrupt):
        interrupted.run(instance=instance)
    run = instance.get_run(instance.runs().run_id[0])
    assert run.status == "CANCELED"
    done = statuses(run)
    assert done["work[k3]"] == "CANCELED"
    assert {k: v for k, v in done.items() if v == "SUCCESS"} == {
        "work[k0]": "SUCCESS", "work[k1]": "SUCCESS", "work[k2]": "SUCCESS",
    }
    assert run.output("work") == {"k0": 0, "k1": 100, "k2": 200}


def test_a_failed_fanout_op_keeps_the_items_it_yielded_and_skips_the_collect(instance):
    @nf.op(out=nf.DynamicOut())
    def emit():
        yield nf.DynamicOutput(1, mapping_key="one")
        raise OSError("feed went away")

    @nf.op
    def f(x):
        return x

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def broken_fanout():
        total(emit().map(f).collect())

    run = broken_fanout.run(instance=instance)
    assert statuses(run) == {"emit": "FAILURE", "f[one]": "SUCCESS", "total": "SKIPPED"}
    assert run.status == "FAILURE"


def test_a_failed_unmapped_input_skips_every_key_of_the_mapped_op(instance):
    @nf.op(out=nf.DynamicOut())
    def emit():
        for k in ("a", "b"):
            yield nf.DynamicOutput(k, mapping_key=k)

    @nf.op
    def setting():
        raise RuntimeError("no setting")

    @nf.op
    def use(x, s):
        return x + s

    @nf.job
    def doomed():
        s = setting()
        emit().map(lambda x: use(x, s))

    run = doomed.run(instance=instance)
    assert statuses(run) == {"emit": "SUCCESS", "setting": "FAILURE", "use[a]": "SKIPPED", "use[b]": "SKIPPED"}


def test_steps_table_has_mapping_keys_and_code_versions(instance):
    from tests.execution.graphs import chained

    run = chained.job.run(instance=instance)
    steps = run.steps()
    mapped = steps[steps.op == "double"]
    assert sorted(mapped.mapping_key) == sorted(chained.KEYS)
    assert steps.code_version.str.len().eq(12).all()
    assert steps.set_index("step_key").mapping_key.isna()["emit"]


def test_output_of_a_mapped_op_keeps_yield_order(instance):
    from tests.execution.graphs import mixed

    run = mixed.job.run(run_config=mixed.run_config, instance=instance)
    assert list(run.output("shout")) == mixed.WORDS
    assert run.output("shout", key="alpha") == "ALPHA?"


def test_default_config_from_field_is_used(instance):
    from tests.execution.graphs import mixed

    run = mixed.job.run(instance=instance)
    assert run.output("suffix") == "!"


def test_tags_are_stored(instance):
    from tests.execution.graphs import chained

    run = chained.job.run(instance=instance, tags={"team": "audio", "n": 3})
    assert run.tags == {"team": "audio", "n": "3"}


def test_items_of_a_fanout_op_are_stored_as_its_output(instance):
    from tests.execution.graphs import chained

    run = chained.job.run(instance=instance)
    expected = dict(zip(chained.KEYS, chained.ITEMS, strict=True))
    assert run.output("emit") == expected
    assert run.output("emit", key="item_2") == 4
    assert run.as_execution_result().output_for_node("emit") == expected
    fresh = instance.get_run(run.run_id)  # no job attached: found from the store alone
    assert fresh.output("emit") == expected


def test_a_mapped_output_with_no_items_is_an_empty_dict(instance):
    from tests.execution.graphs import zero_items

    run = zero_items.job.run(instance=instance)
    assert run.output("double") == {}
    assert run.output("nothing") == {}
    with pytest.raises(nf.OutputNotFoundError, match=r"Run \w{8} has no op 'dubble'. Valid ones"):
        run.output("dubble")


def test_a_canceled_run_records_the_steps_it_never_started(instance):
    @nf.op(out=nf.DynamicOut())
    def emit():
        for k in "ab":
            yield nf.DynamicOutput(k, mapping_key=k)

    @nf.op
    def stop(x):
        raise KeyboardInterrupt

    @nf.op
    def join(xs):
        return xs

    @nf.job
    def stopped():
        join(emit().map(stop).collect())

    with pytest.raises(KeyboardInterrupt):
        stopped.run(instance=instance)
    steps = instance.get_run(instance.runs().run_id[0]).steps().set_index("step_key")
    assert steps.loc["join", "status"] == "CANCELED"
    assert steps.loc["join", "error"] == "not started: the run was interrupted"
