from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridledger.errors import SlotError
from gridledger.slots import Slot, SlotClock, require_utc

T0 = datetime(2026, 6, 1, 12, 7, 30, tzinfo=UTC)


def test_slot_of_default_quarter_hour() -> None:
    slot = SlotClock().slot_of(T0)
    assert slot.start == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert slot.end == datetime(2026, 6, 1, 12, 15, tzinfo=UTC)
    assert slot.contains(T0)
    assert slot.next().start == slot.end
    assert slot.next(-1).end == slot.start


@pytest.mark.parametrize("minutes", [5, 6, 10, 12, 15, 20, 30, 60])
def test_allowed_lengths(minutes: int) -> None:
    clock = SlotClock(slot_minutes=minutes)
    slot = clock.slot_of(T0)
    assert slot.length == timedelta(minutes=minutes)
    assert slot.start <= T0 < slot.end


@pytest.mark.parametrize("minutes", [0, 4, 7, 45, 61, 90])
def test_refused_lengths(minutes: int) -> None:
    with pytest.raises(SlotError, match="dividing the hour"):
        SlotClock(slot_minutes=minutes)


def test_naive_datetime_refused() -> None:
    with pytest.raises(SlotError, match="no timezone"):
        SlotClock().slot_of(datetime(2026, 6, 1, 12, 0))
    with pytest.raises(ValueError):
        require_utc(datetime(2026, 6, 1))


def test_other_zones_are_converted_to_utc() -> None:
    cet = timezone(timedelta(hours=1))
    local = datetime(2026, 1, 1, 13, 7, tzinfo=cet)
    assert SlotClock().slot_of(local).start == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_gate_closure() -> None:
    clock = SlotClock(gate_closure_s=120)
    slot = clock.slot_at(int(datetime(2026, 6, 1, 12, 15, tzinfo=UTC).timestamp()))
    assert clock.gate_closure(slot) == datetime(2026, 6, 1, 12, 13, tzinfo=UTC)
    assert clock.is_open(slot, datetime(2026, 6, 1, 12, 12, 59, tzinfo=UTC))
    assert not clock.is_open(slot, datetime(2026, 6, 1, 12, 13, tzinfo=UTC))
    with pytest.raises(SlotError, match="gate closure"):
        clock.require_open(slot, datetime(2026, 6, 1, 12, 14, tzinfo=UTC))
    now = datetime(2026, 6, 1, 12, 14, tzinfo=UTC)
    assert clock.first_open_slot(now) == slot.next()


def test_misaligned_slot_refused() -> None:
    with pytest.raises(SlotError, match="aligned"):
        Slot(start_s=61, length_s=900)
    with pytest.raises(SlotError):
        Slot(start_s=0, length_s=901)


def test_slots_between() -> None:
    clock = SlotClock(slot_minutes=30)
    start = datetime(2026, 6, 1, 0, 10, tzinfo=UTC)
    slots = clock.slots_between(start, start + timedelta(hours=2))
    assert [s.start.strftime("%H:%M") for s in slots] == ["00:30", "01:00", "01:30", "02:00"]


@given(st.integers(0, 4_000_000_000), st.sampled_from([5, 10, 15, 30, 60]))
def test_slot_of_contains_and_is_aligned(epoch_s: int, minutes: int) -> None:
    ts = datetime.fromtimestamp(epoch_s, UTC)
    slot = SlotClock(slot_minutes=minutes).slot_of(ts)
    assert slot.contains(ts)
    assert slot.start_s % (minutes * 60) == 0
    assert SlotClock(slot_minutes=minutes).next_slot(ts).start > ts
