"""Deadline-bound flexible loads: bounds keep every reachable deadline, misses are counted."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.control.flexible import DeadlineLoads, ev_charging, shiftable_load
from gridledger.errors import ValidationError


def one(needed: int, arrival: int = 0, departure: int = 4, power_w: int = 4000) -> DeadlineLoads:
    dev = ev_charging(np.array([power_w]), 0.25)  # 1000 Wh per slot
    dev.open(np.array([0]), np.array([arrival]), np.array([departure]), np.array([needed]))
    return dev


def test_bounds_force_the_energy_in_when_time_runs_out() -> None:
    dev = one(2500, departure=5)
    assert [int(v[0]) for v in dev.bounds(0)] == [0, 1000]
    dev.deliver(0, np.array([0]))
    assert [int(v[0]) for v in dev.bounds(1)] == [0, 1000]
    dev.deliver(1, np.array([0]))
    # three slots left for 2500 Wh at 1000 Wh per slot: impossible to wait any longer
    must, may = dev.bounds(2)
    assert (int(must[0]), int(may[0])) == (500, 1000)
    with pytest.raises(ValidationError):
        dev.deliver(2, np.array([400]))
    dev.deliver(2, np.array([500]))
    assert [int(v[0]) for v in dev.bounds(3)] == [1000, 1000]
    dev.deliver(3, np.array([1000]))
    dev.deliver(4, np.array([1000]))
    dev.close_due(5)
    assert int(dev.misses[0]) == 0 and int(dev.short_wh[0]) == 0


def test_a_session_closed_short_is_a_miss() -> None:
    dev = one(1500)
    dev.deliver(0, np.array([1000]))
    dev.open(np.array([0]), np.array([1]), np.array([3]), np.array([100]))  # replaced early
    assert int(dev.misses[0]) == 1 and int(dev.short_wh[0]) == 500


def test_sessions_outside_their_window_draw_nothing() -> None:
    dev = one(1000, arrival=2, departure=4)
    assert dev.bounds(0)[1][0] == 0
    assert dev.available(0, 5)[0].tolist() == [False, False, True, True, False]
    assert dev.bounds(4)[1][0] == 0


def test_infeasible_and_malformed_sessions_are_refused() -> None:
    dev = shiftable_load(np.array([2000, 0]), 0.25)
    with pytest.raises(ValidationError):  # 500 Wh per slot x 2 slots < 1500 Wh
        dev.open(np.array([0]), np.array([0]), np.array([2]), np.array([1500]))
    with pytest.raises(ValidationError):
        dev.open(np.array([0]), np.array([3]), np.array([3]), np.array([0]))
    with pytest.raises(ValidationError):
        shiftable_load(np.array([-1]), 0.25)


@settings(max_examples=60, deadline=None)
@given(
    needed=st.integers(0, 8000),
    slots=st.integers(8, 12),
    choices=st.lists(st.floats(0, 1), min_size=12, max_size=12),
)
def test_any_choice_within_bounds_meets_the_deadline(
    needed: int, slots: int, choices: list[float]
) -> None:
    dev = one(needed, 0, slots)
    for k in range(slots):
        must, may = dev.bounds(k)
        wh = must + np.floor((may - must) * choices[k]).astype(np.int64)
        dev.deliver(k, wh)
    dev.close_due(slots)
    assert int(dev.misses[0]) == 0
    assert int(dev.delivered_wh[0]) == 0  # closed
