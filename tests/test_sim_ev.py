"""EV charging sessions and charge-on-arrival energy."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from gridledger.errors import ValidationError
from gridledger.sim.ev import EVFleet, EVSessions, immediate_charging_wh
from gridledger.slots import Slot


def window(month: int = 3, day: int = 24, minutes: int = 15) -> Slot:
    return Slot(int(datetime(2025, month, day, tzinfo=UTC).timestamp()), minutes * 60)


def fleet(seed: int = 1, tz: str = "Europe/Berlin") -> EVFleet:
    return EVFleet.create([0, 2, 3, 7], [11_000, 7_400, 3_700, 22_000], tz=tz, seed=seed)


def as_rows(s: EVSessions) -> set[tuple[int, int, int, int, int]]:
    return set(
        zip(
            s.household.tolist(),
            s.arrival_slot.tolist(),
            s.departure_slot.tolist(),
            s.energy_wh.tolist(),
            s.max_power_w.tolist(),
            strict=True,
        )
    )


def test_sessions_are_evening_to_morning_and_feasible() -> None:
    first = window()
    s = fleet().sessions(first, 96 * 28)
    assert 0.6 * 4 * 28 < len(s) < 1.0 * 4 * 28 + 4  # about 80 % of days
    assert (s.arrival_slot < s.departure_slot).all()
    per_slot = s.max_power_w * 900 // 3600
    assert (s.energy_wh <= per_slot * (s.departure_slot - s.arrival_slot)).all()
    assert (s.energy_wh > 0).all() and (s.energy_wh <= 50_000).all()
    arrive = pd.to_datetime(s.arrival_slot * 900, unit="s", utc=True).tz_convert("Europe/Berlin")
    depart = pd.to_datetime(s.departure_slot * 900, unit="s", utc=True).tz_convert("Europe/Berlin")
    assert ((arrive.hour >= 14) | (arrive.hour == 0)).all()  # 23:30 rounds up to midnight
    assert ((depart.hour >= 5) & (depart.hour <= 11)).all()
    assert 1.0 < np.median(s.energy_wh) / 1000 < 12.0  # 30 km at 0.18 kWh/km is 5.4 kWh
    # One car never has two sessions at once.
    for h in np.unique(s.household):
        mine = np.flatnonzero(s.household == h)
        assert (s.arrival_slot[mine][1:] >= s.departure_slot[mine][:-1]).all()


def test_charging_on_arrival_delivers_each_session() -> None:
    first = window()
    count = 96 * 10
    sessions = fleet().sessions(first, count)
    energy = immediate_charging_wh(sessions, first, count, 8)
    assert energy.dtype == np.int64 and energy.shape == (count, 8)
    assert (energy[:, [1, 4, 5, 6]] == 0).all()  # households without an EV
    limits = {0: 11_000, 2: 7_400, 3: 3_700, 7: 22_000}
    for h, watts in limits.items():
        assert energy[:, h].max() <= watts // 4
    lo = first.start_s // 900
    inside = (sessions.arrival_slot >= lo) & (sessions.departure_slot <= lo + count)
    for i in np.flatnonzero(inside):
        h, a, d = sessions.household[i], sessions.arrival_slot[i], sessions.departure_slot[i]
        got = energy[a - lo : d - lo, h]
        assert got.sum() == sessions.energy_wh[i]
        assert got[0] > 0  # charging starts at once
        full = sessions.max_power_w[i] // 4
        charging = got[got > 0]
        assert (charging[:-1] == full).all()  # at full power until the last slot


def test_chunks_give_the_same_sessions_and_charging() -> None:
    f = fleet()
    first = window(month=10, day=24)  # includes the autumn DST change
    count = 96 * 6
    whole = immediate_charging_wh(f.sessions(first, count), first, count, 8)
    parts = []
    rows: set[tuple[int, int, int, int, int]] = set()
    for i in range(0, count, 70):
        chunk = Slot(first.start_s + i * 900, 900)
        n = min(70, count - i)
        s = f.sessions(chunk, n)
        rows |= as_rows(s)
        parts.append(immediate_charging_wh(s, chunk, n, 8))
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert rows == as_rows(f.sessions(first, count))


def test_same_seed_same_sessions_other_seed_other_sessions() -> None:
    first = window()
    a, b, c = (fleet(seed).sessions(first, 96 * 7) for seed in (5, 5, 6))
    assert as_rows(a) == as_rows(b)
    assert as_rows(a) != as_rows(c)


def test_adding_evs_keeps_the_earlier_ones() -> None:
    first = window()
    few = EVFleet.create([0, 1], seed=3).sessions(first, 96 * 3)
    more = EVFleet.create([0, 1, 2], seed=3).sessions(first, 96 * 3)
    mine = more.household < 2
    assert as_rows(few) == as_rows(
        EVSessions(
            more.household[mine],
            more.arrival_slot[mine],
            more.departure_slot[mine],
            more.energy_wh[mine],
            more.max_power_w[mine],
            more.slot_s,
        )
    )


def test_plug_probability_bounds() -> None:
    first = window()
    never = EVFleet.create([0, 1], plug_probability=0.0).sessions(first, 96 * 7)
    always = EVFleet.create([0, 1], plug_probability=1.0).sessions(first, 96 * 7)
    assert len(never) == 0
    assert len(always) >= 2 * 7


def test_hourly_slots() -> None:
    first = window(minutes=60)
    s = fleet().sessions(first, 24 * 7)
    energy = immediate_charging_wh(s, first, 24 * 7, 8)
    assert energy[:, 0].max() <= 11_000
    assert energy.sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"households": [1, 1]}, "distinct"),
        ({"households": [1], "max_power_w": 0}, "max_power_w"),
        ({"households": [1, 2], "max_power_w": [1, 2, 3]}, "one per EV"),
        ({"households": [1], "plug_probability": 1.5}, "plug_probability"),
        ({"households": [1], "tz": "Nowhere/City"}, "time zone"),
    ],
)
def test_bad_fleets_say_what_to_fix(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        EVFleet.create(**kwargs)  # type: ignore[arg-type]


def test_charging_refuses_mismatched_windows() -> None:
    s = fleet().sessions(window(), 96)
    with pytest.raises(ValidationError, match="slots"):
        immediate_charging_wh(s, window(minutes=60), 24, 8)
    with pytest.raises(ValidationError, match="households"):
        immediate_charging_wh(s, window(), 96, 3)
