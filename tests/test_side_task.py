"""Work run beside other work on a thread of its own, or in the caller's thread when asked for."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from docloop.errors import Interrupted
from docloop.side_task import SideTask


def test_work_beside_runs_while_the_caller_goes_on() -> None:
    started, go_on = threading.Event(), threading.Event()

    def work(check: Callable[[], None]) -> str:
        started.set()
        assert go_on.wait(10)
        return threading.current_thread().name

    with SideTask(work, beside=True, name="tuning") as task:
        assert started.wait(10)  # running before anyone asked for its result
        go_on.set()
        assert task.result() == "tuning" and task.beside


def test_work_not_beside_runs_in_the_caller_when_asked_for() -> None:
    ran: list[str] = []

    def work(check: Callable[[], None]) -> int:
        ran.append(threading.current_thread().name)
        return 7

    with SideTask(work, beside=False, name="tuning") as task:
        assert ran == []
        assert task.result() == 7 and task.result() == 7
    assert ran == [threading.current_thread().name]


def test_leaving_stops_unfinished_work_at_its_next_check() -> None:
    """A training that fails or is handed back while the tuning runs does not leave it
    running (and writing) after it."""
    checks, entered = [], threading.Event()

    def work(check: Callable[[], None]) -> None:
        entered.set()
        while True:
            checks.append(1)
            check()
            threading.Event().wait(0.01)

    with pytest.raises(RuntimeError), SideTask(work, beside=True, name="tuning") as task:
        assert entered.wait(10)
        raise RuntimeError("the network's training failed")
    assert not task._thread.is_alive()  # type: ignore[union-attr]
    with pytest.raises(Interrupted):
        task.result()


def test_the_work_s_failure_is_raised_to_whoever_asks() -> None:
    def work(check: Callable[[], None]) -> None:
        raise ValueError("no line to tune on")

    for beside in (True, False):
        with SideTask(work, beside=beside, name="tuning") as task, pytest.raises(ValueError):
            task.result()


@pytest.mark.parametrize("beside", [True, False])
def test_a_stopping_owner_ends_the_work_at_its_next_check(beside: bool) -> None:
    """A worker asked to stop (SIGTERM, a deployment rolling) while its training waits for the
    tuning, or runs it in its own thread, hands the job back at the tuning's next check instead
    of after minutes of tuning, past the grace period that would then kill it."""
    stopping = threading.Event()
    checks: list[int] = []

    def stop() -> None:
        if stopping.is_set():
            raise Interrupted("the worker is stopping")

    def work(check: Callable[[], None]) -> None:
        while True:
            checks.append(1)
            if len(checks) == 3:
                stopping.set()
            check()
            threading.Event().wait(0.01)

    task = SideTask(work, beside=beside, name="tuning", stop=stop)
    with task, pytest.raises(Interrupted, match="the worker is stopping"):
        task.result()
    assert len(checks) == 3


def test_work_queued_behind_work_beside_waits_for_it_to_end() -> None:
    """Two pieces of work that share the one core a training leaves free run one after the
    other: the second waits for the first to end, whether it succeeded or not."""
    go_on = threading.Event()
    order: list[str] = []

    def first(check: Callable[[], None]) -> None:
        assert go_on.wait(10)
        order.append("first")
        raise ValueError("the first failed")

    def second(check: Callable[[], None]) -> None:
        before.wait_ended(check)
        order.append("second")

    before = SideTask(first, beside=True, name="first")
    with before, SideTask(second, beside=True, name="second") as after:
        threading.Event().wait(0.2)
        assert order == []
        go_on.set()
        after.result()
    assert order == ["first", "second"]
    SideTask(second, beside=False, name="second").result()  # not beside: nothing to wait for
