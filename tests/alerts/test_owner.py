"""The alarm core's single owner (alerts/owner.py): commands, replies, a bounded queue, the guard."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from alerts.owner import NotOwner, Owner, OwnerBusy, OwnerGuard


@pytest.fixture
def owner() -> Iterator[Owner]:
    started = Owner(OwnerGuard(), maxsize=2)
    started.start()
    yield started
    started.stop()


def test_a_command_runs_on_the_owners_thread_and_its_result_comes_back(owner: Owner) -> None:
    assert owner.call(lambda: threading.current_thread().name) == "alarm-core"
    assert owner.commands == 1


def test_a_failing_command_raises_in_the_caller_and_the_owner_goes_on(owner: Owner) -> None:
    def boom() -> None:
        raise ValueError("bad shelve time")

    with pytest.raises(ValueError, match="bad shelve time"):
        owner.call(boom)
    assert owner.running and owner.call(lambda: 42) == 42
    assert owner.failures == 1


@pytest.mark.expect_errors
def test_a_posted_command_that_fails_is_reported_and_the_owner_goes_on() -> None:
    heard: list[BaseException] = []
    owner = Owner(OwnerGuard(), on_failure=heard.append)
    owner.start()
    try:
        assert owner.post(lambda: 1 / 0)
        assert owner.call(lambda: "still here") == "still here"
    finally:
        owner.stop()
    assert [type(e) for e in heard] == [ZeroDivisionError]


def test_the_guard_refuses_every_thread_but_the_owners_while_it_runs(owner: Owner) -> None:
    with pytest.raises(NotOwner, match="MainThread"), owner.guard:
        pass  # the test's thread: the state is not its to touch
    assert owner.call(lambda: _enter(owner.guard)) == "in"
    owner.stop()
    assert _enter(owner.guard) == "in"  # stopped: nobody owns it, the caller may


def _enter(guard: OwnerGuard) -> str:
    with guard:
        return "in"


def test_a_command_that_sends_another_runs_it_in_place(owner: Owner) -> None:
    assert owner.call(lambda: owner.call(lambda: "nested")) == "nested"


def test_a_full_queue_answers_busy_within_the_callers_wait_and_loses_nothing_queued(owner: Owner) -> None:
    done: list[int] = []
    release = _hold(owner)
    assert owner.post(lambda: done.append(1)) and owner.post(lambda: done.append(2))  # the queue's 2
    assert owner.depth == 2
    assert not owner.post(lambda: done.append(3))  # full: refused, not dropped silently
    with pytest.raises(OwnerBusy, match="full"):
        owner.call(lambda: done.append(4), timeout_s=0.01)
    assert owner.facts()["queue_depth"] == 2 and owner.busy_s() >= 0
    release.set()
    assert owner.call(lambda: list(done)) == [1, 2]


def test_without_a_running_owner_a_command_runs_in_the_callers_thread() -> None:
    owner = Owner(OwnerGuard())
    assert owner.call(lambda: threading.current_thread().name) == threading.current_thread().name
    assert owner.post(lambda: None) and not owner.running


def test_an_answer_that_does_not_come_in_time_cancels_the_command_still_queued(owner: Owner) -> None:
    done: list[str] = []
    release = _hold(owner)
    with pytest.raises(OwnerBusy, match="nothing was changed"):
        owner.call(lambda: done.append("late ack"), timeout_s=0.01)
    release.set()
    assert owner.call(lambda: list(done)) == []  # it never ran: the operator's retry is the only one


def _hold(owner: Owner) -> threading.Event:
    """Keep the owner's thread on one command until the event is set."""
    release, started = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    assert owner.post(hold)
    assert started.wait(5)
    return release
