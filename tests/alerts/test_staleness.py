"""The deadline wheel: due/not-due at bucket edges, moves, removal, 100k keys, jumps, a model check."""

from __future__ import annotations

import math
import random
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.staleness import DeadlineWheel

#: An epoch-sized base: bucket arithmetic must hold at real timestamps, not only near zero.
BASE = 1_767_600_000.0

Device = tuple[str, str]


def test_due_at_bucket_boundaries() -> None:
    wheel: DeadlineWheel[str] = DeadlineWheel()
    wheel.touch("a", BASE + 10.0)
    wheel.touch("b", BASE + 10.5)
    wheel.touch("c", BASE + 11.0)
    assert wheel.pop_due(BASE + 9.999) == []
    assert wheel.pop_due(BASE + 10.0) == ["a"]
    assert wheel.pop_due(BASE + 10.499) == []  # same bucket as b, but b's deadline is later
    assert wheel.pop_due(BASE + 10.5) == ["b"]
    assert wheel.pop_due(BASE + 10.999) == []
    assert wheel.pop_due(BASE + 11.0) == ["c"]
    assert len(wheel) == 0


def test_coarse_resolution_keeps_later_keys_of_the_current_bucket() -> None:
    wheel: DeadlineWheel[str] = DeadlineWheel(resolution_s=5.0)
    wheel.touch("early", 101.0)
    wheel.touch("late", 104.0)
    assert wheel.pop_due(102.0) == ["early"]
    assert "late" in wheel
    assert wheel.pop_due(103.9) == []
    assert wheel.pop_due(105.0) == ["late"]


def test_touch_later_is_not_popped_at_the_old_deadline() -> None:
    wheel: DeadlineWheel[str] = DeadlineWheel()
    wheel.touch("a", 10.0)
    wheel.touch("a", 20.0)
    assert wheel.pop_due(15.0) == []
    assert wheel.deadline("a") == 20.0
    assert wheel.pop_due(20.0) == ["a"]


def test_touch_earlier_is_popped_at_the_new_deadline() -> None:
    wheel: DeadlineWheel[str] = DeadlineWheel()
    wheel.touch("a", 20.0)
    wheel.touch("a", 10.0)
    assert wheel.pop_due(10.0) == ["a"]
    assert wheel.pop_due(20.0) == []


def test_touch_within_the_same_bucket_updates_the_deadline() -> None:
    wheel: DeadlineWheel[str] = DeadlineWheel()
    wheel.touch("a", 10.2)
    wheel.touch("a", 10.8)
    assert wheel.pop_due(10.5) == []
    assert wheel.pop_due(10.8) == ["a"]


def test_remove_forgets_the_key_and_absent_keys_are_a_no_op() -> None:
    wheel: DeadlineWheel[str] = DeadlineWheel()
    wheel.touch("a", 10.0)
    wheel.touch("b", 10.0)
    wheel.remove("a")
    wheel.remove("a")
    wheel.remove("never-seen")
    assert "a" not in wheel
    assert wheel.deadline("a") is None
    assert wheel.pop_due(11.0) == ["b"]


def test_a_popped_key_is_forgotten_until_touched_again() -> None:
    wheel: DeadlineWheel[str] = DeadlineWheel()
    wheel.touch("a", 10.0)
    assert wheel.pop_due(10.0) == ["a"]
    assert "a" not in wheel
    assert wheel.deadline("a") is None
    assert wheel.pop_due(100.0) == []
    wheel.touch("a", 110.0)
    assert wheel.pop_due(110.0) == ["a"]


def test_a_deadline_already_past_is_due_at_the_next_sweep() -> None:
    wheel: DeadlineWheel[str] = DeadlineWheel()
    assert wheel.pop_due(100.0) == []
    wheel.touch("late", 50.0)
    wheel.touch("now", 100.0)
    assert wheel.pop_due(100.0) == ["late", "now"]


def test_rejects_non_finite_deadlines_and_bad_resolutions() -> None:
    wheel: DeadlineWheel[str] = DeadlineWheel()
    with pytest.raises(ValueError, match="finite"):
        wheel.touch("a", math.nan)
    with pytest.raises(ValueError, match="finite"):
        wheel.touch("a", math.inf)
    assert "a" not in wheel
    for resolution in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="resolution_s"):
            DeadlineWheel[str](resolution)


def test_100k_keys_each_popped_once_within_a_second_of_its_deadline() -> None:
    rng = random.Random(7)
    wheel: DeadlineWheel[Device] = DeadlineWheel()
    deadlines = {(f"estate-{i % 97}", f"dev-{i:06d}"): BASE + rng.uniform(0, 3600) for i in range(100_000)}
    deadlines[("estate-0", "on-the-edge")] = BASE + 1800.0  # exactly on a step: due at that step
    for key, deadline in deadlines.items():
        wheel.touch(key, deadline)

    popped_at: dict[Device, float] = {}
    for step in range(3602):
        now = BASE + step
        for key in wheel.pop_due(now):
            assert key not in popped_at, f"{key} popped twice"
            popped_at[key] = now

    assert popped_at.keys() == deadlines.keys()
    assert len(wheel) == 0
    # The first step at or after the deadline, i.e. flagged less than 1 s late.
    late = [key for key, now in popped_at.items() if not now - 1 < deadlines[key] <= now]
    assert late == []
    assert popped_at[("estate-0", "on-the-edge")] == BASE + 1800.0


def test_a_big_jump_pops_everything_due_at_once_in_bucket_order() -> None:
    wheel: DeadlineWheel[int] = DeadlineWheel()
    for day in range(30):
        wheel.touch(day, BASE + day * 86_400 + 0.5)
    wheel.touch(99, BASE + 40 * 86_400)
    assert wheel.pop_due(BASE + 29 * 86_400 + 1) == list(range(30))
    assert list(wheel.pop_due(BASE + 10**10)) == [99]  # a second-by-second walk would never return


def test_back_and_forth_touches_do_not_grow_the_wheel() -> None:
    # Every touch empties one future bucket and creates another; each must be queued only once.
    wheel: DeadlineWheel[str] = DeadlineWheel()
    wheel.touch("a", BASE + 100)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(50_000):
            wheel.touch("a", BASE + 100 + i % 2)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 16_384
    assert wheel.pop_due(BASE + 101) == ["a"]


# The model: a plain dict scanned in full at each sweep.
_keys = st.integers(0, 7)
_deadlines = st.one_of(
    st.integers(-8, 160).map(lambda quarters: quarters / 4),  # on and around bucket edges
    st.floats(-2.0, 40.0, allow_nan=False),
)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("touch"), _keys, _deadlines),
        st.tuples(st.just("remove"), _keys, st.just(0.0)),
        st.tuples(st.just("pop"), st.just(0), _deadlines),
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(resolution=st.sampled_from([0.25, 1.0, 3.0]), base=st.sampled_from([0.0, BASE]), ops=_ops)
def test_matches_a_naive_dict(resolution: float, base: float, ops: list[tuple[str, int, float]]) -> None:
    wheel: DeadlineWheel[int] = DeadlineWheel(resolution)
    model: dict[int, float] = {}
    for op, key, when in ops:
        if op == "touch":
            wheel.touch(key, base + when)
            model[key] = base + when
        elif op == "remove":
            wheel.remove(key)
            model.pop(key, None)
        else:
            popped = wheel.pop_due(base + when)
            due = {k for k, deadline in model.items() if deadline <= base + when}
            assert sorted(popped) == sorted(due)
            model = {k: d for k, d in model.items() if k not in due}
        assert len(wheel) == len(model)
        assert all((k in wheel) == (k in model) and wheel.deadline(k) == model.get(k) for k in range(8))
