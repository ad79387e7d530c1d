"""The demand-response planner: cheapest slots first, events respected, comfort hard."""

from __future__ import annotations

import numpy as np

from gridledger.control.flex_planner import UNLIMITED_WH, FlexPlanner, Signals, plan_energy
from gridledger.control.flexible import ev_charging


def test_plan_energy_fills_the_cheapest_slots_within_caps() -> None:
    cost = np.array([[5, 1, 3, 2], [1, 1, 1, 1]], np.int64)
    cap = np.array([[10, 10, 10, 10], [4, 0, 4, 4]], np.int64)
    plan = plan_energy(np.array([25, 9]), cost, cap)
    assert plan[0].tolist() == [0, 10, 5, 10]
    assert plan[1].tolist() == [4, 0, 4, 1]
    short = plan_energy(np.array([100]), cost[:1], cap[:1])
    assert short.tolist() == [[10, 10, 10, 10]]


def signals(n: int, slots: int, price: list[int]) -> Signals:
    return Signals(
        0, np.array(price, np.int64), np.zeros((n, slots), bool),
        np.full((n, slots), UNLIMITED_WH, np.int64),
    )  # fmt: skip


def run(planner: FlexPlanner, sig: Signals, slots: int, n: int) -> np.ndarray:
    out = np.zeros((slots, n), np.int64)
    for k in range(slots):
        wh = planner.step(k, k, sig, np.ones((n, slots - k), np.int64), 80000, slots - k)[0]
        planner.devices[0].deliver(k, wh)
        out[k] = wh
    return out


def test_an_ev_charges_where_it_is_cheap_and_outside_a_shed_window() -> None:
    n, slots = 2, 8
    ev = ev_charging(np.array([4000, 4000]), 0.25)  # 1000 Wh per slot
    ev.open(np.arange(2), np.zeros(2, np.int64), np.full(2, slots), np.array([3000, 3000]))
    sig = signals(n, slots, [380000] * 4 + [300000] * 4)
    sig.shed[0, 4:6] = True  # household 0 is asked to shed in slots 4 and 5
    out = run(FlexPlanner([ev], np.zeros((n, slots), np.int64), slots), sig, slots, n)
    # household 1 waits for the cheap slots; household 0 sheds in 4..5, so the 1000 Wh the
    # two free cheap slots cannot take goes to the cheapest dear slot rather than the window
    assert out[:, 1].tolist() == [0, 0, 0, 0, 1000, 1000, 1000, 0]
    assert out[:, 0].tolist() == [1000, 0, 0, 0, 0, 0, 1000, 1000]


def test_comfort_wins_over_an_event_that_leaves_no_room() -> None:
    n, slots = 1, 4
    ev = ev_charging(np.array([4000]), 0.25)
    ev.open(np.array([0]), np.array([0]), np.array([slots]), np.array([3000]))
    sig = signals(n, slots, [300000] * slots)
    sig.shed[0, :3] = True
    sig.limit_wh[0, 3] = 1  # 1 Wh of room in the only free slot
    out = run(FlexPlanner([ev], np.zeros((n, slots), np.int64), slots), sig, slots, n)
    assert out[:, 0].sum() == 3000
    ev.close_due(slots)
    assert int(ev.misses[0]) == 0


def test_an_import_limit_caps_flexible_energy_above_the_inflexible_load() -> None:
    n, slots = 1, 4
    ev = ev_charging(np.array([4000]), 0.25)
    ev.open(np.array([0]), np.array([0]), np.array([slots]), np.array([2000]))
    sig = signals(n, slots, [300000] * slots)
    sig.limit_wh[0, :] = 600
    planner = FlexPlanner([ev], np.zeros((n, slots), np.int64), slots)
    wh = planner.step(0, 0, sig, np.full((n, slots), 100, np.int64), 80000)[0]
    assert int(wh[0]) == 500  # 600 Wh limit less 100 Wh of its own load


def test_ties_spread_households_over_equally_cheap_slots() -> None:
    n, slots = 64, 8
    ev = ev_charging(np.full(n, 4000), 0.25)
    ev.open(np.arange(n), np.zeros(n, np.int64), np.full(n, slots), np.full(n, 1000))
    ties = np.random.default_rng(1).integers(0, 1024, (n, slots))
    planner = FlexPlanner([ev], ties, slots)
    first = planner.step(
        0, 0, signals(n, slots, [300000] * slots), np.ones((n, slots), np.int64), 80000
    )
    assert 0 < int((first[0] > 0).sum()) < n // 2  # not everyone at once
