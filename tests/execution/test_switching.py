"""During a run, a thread waiting for the interpreter gets it within a millisecond; the
process's own setting comes back when the last run ends, whatever way it ends."""

from __future__ import annotations

import sys
import threading

import pytest

import nbflow as nf
from nbflow.execution.switching import RUN_SWITCH_INTERVAL, prompt_switching


@pytest.fixture(autouse=True)
def _default_interval():
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(before)


def _job_seeing_the_interval(seen: list[float], fail: bool = False):
    @nf.op
    def look():
        seen.append(sys.getswitchinterval())
        if fail:
            raise ValueError("this step fails")
        return 1

    @nf.job
    def looking():
        look()

    return looking


def test_a_run_lowers_the_interval_and_puts_it_back(instance):
    seen: list[float] = []
    run = _job_seeing_the_interval(seen).run(instance=instance)
    assert run.success
    assert seen == [pytest.approx(RUN_SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_a_failed_run_puts_it_back_too(instance):
    seen: list[float] = []
    run = _job_seeing_the_interval(seen, fail=True).run(instance=instance, raise_on_error=False)
    assert not run.success
    assert seen == [pytest.approx(RUN_SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_a_shorter_interval_of_the_users_is_kept(instance):
    sys.setswitchinterval(0.0002)
    seen: list[float] = []
    _job_seeing_the_interval(seen).run(instance=instance)
    assert seen == [pytest.approx(0.0002, abs=2e-6)]
    assert sys.getswitchinterval() == pytest.approx(0.0002, abs=2e-6)


def test_overlapping_runs_share_one_change_undone_by_the_last():
    first, second = prompt_switching(), prompt_switching()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(RUN_SWITCH_INTERVAL)  # one run still goes on
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_a_change_made_during_a_run_is_not_undone():
    with prompt_switching():
        sys.setswitchinterval(0.02)
    assert sys.getswitchinterval() == pytest.approx(0.02)


def test_runs_in_threads_restore_the_interval_once_all_are_done():
    inside, leave = threading.Barrier(3), threading.Event()

    def one_run():
        with prompt_switching():
            inside.wait(timeout=10)
            leave.wait(timeout=10)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait(timeout=10)
    assert sys.getswitchinterval() == pytest.approx(RUN_SWITCH_INTERVAL)
    leave.set()
    for thread in threads:
        thread.join(timeout=10)
    assert sys.getswitchinterval() == pytest.approx(0.005)
