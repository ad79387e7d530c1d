"""Detector rules on hand-made arrays: a fault found, a healthy case not flagged, edge cases."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gridledger.errors import ValidationError
from gridledger.monitor.faults import (
    Fault,
    FaultBook,
    FaultKind,
    FaultStatus,
    Severity,
    battery,
    performance,
    pv,
    registers,
    shading,
)

T0 = datetime(2026, 4, 1, 10, tzinfo=UTC)
T1 = datetime(2026, 4, 1, 11, tzinfo=UTC)


def fault(**kw: object) -> Fault:
    base: dict[str, object] = dict(
        site="s1",
        device="s1-pv",
        kind=FaultKind.OUTAGE,
        severity=Severity.MAJOR,
        first_seen=T0,
        last_seen=T0,
        raised_at=T1,
        evidence={"measured_w": 0.0},
    )
    base.update(kw)
    return Fault(**base)  # type: ignore[arg-type]


def test_fault_life_cycle() -> None:
    f = fault()
    assert f.status is FaultStatus.OPEN and f.is_active
    acked = f.acknowledge()
    assert acked.status is FaultStatus.ACKNOWLEDGED
    closed = acked.close(T1)
    assert closed.status is FaultStatus.CLOSED and closed.closed_at == T1 and not closed.is_active
    with pytest.raises(ValidationError, match="closed"):
        closed.acknowledge()
    assert f.to_json()["evidence"] == {"measured_w": 0.0}
    with pytest.raises(ValidationError, match="timezone-aware"):
        fault(first_seen=datetime(2026, 4, 1))
    with pytest.raises(ValidationError, match="before"):
        fault(last_seen=datetime(2026, 3, 1, tzinfo=UTC))


def test_the_book_extends_an_active_fault_and_opens_a_new_one_after_closing() -> None:
    book = FaultBook()
    book.raise_or_extend(fault())
    book.raise_or_extend(fault(last_seen=T1, severity=Severity.MINOR))
    [one] = book.active()
    assert one.last_seen == T1 and one.severity is Severity.MAJOR  # the worst severity stays
    book.acknowledge(one.key)
    assert book.active()[0].status is FaultStatus.ACKNOWLEDGED
    book.close(one.key, T1)
    assert book.active() == []
    book.raise_or_extend(fault(first_seen=T1, last_seen=T1))
    assert len(book.all()) == 2 and len(book.active("s1")) == 1 and book.active("s2") == []


def test_outage_rule_night_cloud_and_alone() -> None:
    peak = np.array([5_000.0, 5_000.0, 5_000.0])
    measured = np.array([[0.0], [0.0], [40.0]])
    expected = np.array([[900.0], [np.nan], [300.0]])  # site 1 has no neighbours
    clear = np.array([[3_000.0], [3_000.0], [3_000.0]])
    nan = np.full((3, 1), np.nan)
    s = pv.outage(measured, expected, clear, peak, nan, nan)
    assert s.symptom[:, 0].tolist() == [True, True, False]  # site 2: dark, but it produces
    assert s.evaluable[:, 0].tolist() == [True, True, True]
    night = pv.outage(measured, np.zeros((3, 1)), np.zeros((3, 1)), peak, nan, nan)
    assert not night.evaluable.any()
    seen = pv.outage(
        measured, expected, clear, peak, np.full((3, 1), 300.0), np.full((3, 1), 225.0)
    )
    assert not seen.symptom[0, 0]  # the BEC sees the production: the meter is stuck, not the PV


def test_stuck_register_needs_energy_to_flow() -> None:
    frozen = np.array([[True, True, True, False]])
    present = np.ones((1, 4), dtype=bool)
    idle = registers.stuck_register(
        frozen, present, np.zeros((1, 4)), np.zeros((1, 4), bool), np.zeros((1, 4))
    )
    assert not (idle.symptom & idle.evaluable).any()  # a battery idling: nothing unexplained
    hidden = registers.stuck_register(
        frozen, present, np.zeros((1, 4)), np.zeros((1, 4), bool), np.full((1, 4), 200.0)
    )
    assert (hidden.symptom & hidden.evaluable)[0].tolist() == [True, True, True, False]
    impossible = registers.stuck_register(
        frozen, present, np.full((1, 4), 850.0), np.zeros((1, 4), bool), np.full((1, 4), np.nan)
    )
    assert impossible.symptom[0, :3].all()  # 850 W with registers standing still


def test_stuck_since_keeps_the_first_hit_of_a_frozen_run_across_chunks() -> None:
    frozen = np.array([[True, True, True, True, False, True, True, True]])
    hit = np.array([[False, True, False, True, False, False, False, True]])
    times = 900.0 * np.arange(8, dtype=np.float64)
    whole, carry = registers.stuck_since(frozen, hit, times, np.full(1, np.nan))
    nan = np.nan
    expected = [nan, 900.0, 900.0, 900.0, nan, nan, nan, 6300.0]
    np.testing.assert_array_equal(whole[0], expected)  # the run restarts after a moving slot
    assert carry[0] == 6300.0
    first, mid = registers.stuck_since(frozen[:, :3], hit[:, :3], times[:3], np.full(1, np.nan))
    rest, _ = registers.stuck_since(frozen[:, 3:], hit[:, 3:], times[3:], mid)
    np.testing.assert_array_equal(np.concatenate([first, rest], axis=1), whole)


def test_clock_drift_against_the_site_median() -> None:
    offsets = np.zeros((4, 2, 3))
    offsets[1, 0] = 400.0
    offsets[:, 1, :] = np.nan
    offsets[0, 1, :] = 400.0  # only one device reported: nothing to compare with
    s = registers.clock_drift(offsets, 1)
    assert s.symptom[0].all() and s.evaluable[0].all()
    assert not registers.clock_drift(offsets, 0).evaluable[1].any()


def test_command_mismatch_only_where_the_battery_could_follow() -> None:
    commanded = np.array([[2_000.0, 2_000.0, -2_000.0, 100.0]])
    actual = np.array([[0.0, 1_900.0, 0.0, 0.0]])
    soc = np.array([[500.0, 500.0, 990.0, 500.0]])
    s = battery.command_mismatch(commanded, actual, soc)
    assert (s.symptom & s.evaluable)[0].tolist() == [True, False, False, False]


def test_fade_is_faster_than_ageing() -> None:
    days = np.arange(battery.FADE_WINDOW_DAYS, dtype=np.float64)
    normal = 1000.0 - 0.06 * days  # 2 %/year
    fast = 1000.0 - 1.2 * days  # 3.6 %/month
    s = battery.fade(np.round(np.stack([normal, fast])).astype(np.float64))
    assert s.symptom[:, 0].tolist() == [False, True]
    assert s.evidence["fade_pct_per_month"][1, 0] == pytest.approx(-3.6, abs=0.2)


def _days(
    state: performance.PerformanceState, index: np.ndarray, sky: float = 0.9
) -> list[dict[FaultKind, bool]]:
    out = []
    for day in range(index.shape[1]):
        symptoms = state.advance(index[:, day], np.full(index.shape[0], sky))
        out.append({k: bool((v.symptom & v.evaluable)[1, 0]) for k, v in symptoms.items()})
    return out


def test_soiling_grows_and_recovers_and_holds_off_the_degradation_rule() -> None:
    rng = np.random.default_rng(2)
    days = 60
    healthy = 0.97 + 0.004 * rng.standard_normal(days)
    loss = np.zeros(days)
    loss[20:35] = 0.005 * np.arange(1, 16)  # 0.5 %/day, washed off on day 35
    soiled = healthy * (1 - loss)
    state = performance.PerformanceState(2)
    marks = []
    allowed = []
    for day in range(days):
        symptoms = state.advance(np.array([healthy[day], soiled[day]]), np.ones(2))
        marks.append({k: bool((v.symptom & v.evaluable)[1, 0]) for k, v in symptoms.items()})
        allowed.append(bool(state.slow_allowed[1]))
    soiling_days = [d for d, m in enumerate(marks) if m[FaultKind.SOILING]]
    assert soiling_days and 24 <= soiling_days[0] <= 34 and soiling_days[-1] <= 37
    # a rising loss during soiling and for two weeks after is not for the degradation rule
    assert not any(allowed[soiling_days[0] : soiling_days[-1] + performance.SOILING_QUIET_DAYS])
    assert allowed[: soiling_days[0]] == [True] * soiling_days[0]
    degrading = healthy * (1 - np.maximum(0, np.arange(days) - 15) * 0.02 / 30)  # 2 %/month
    marks = _days(performance.PerformanceState(2), np.stack([healthy, degrading]))
    assert not any(m[FaultKind.SOILING] or m[FaultKind.UNDER_PERFORMANCE] for m in marks)
    healthy_marks = _days(performance.PerformanceState(2), np.stack([healthy, healthy]))
    assert not any(any(m.values()) for m in healthy_marks)


def test_under_performance_on_three_usable_days_even_before_a_baseline() -> None:
    index = np.array([[1.0] * 6, [1.0, 1.0, 0.55, np.nan, 0.56, 0.54]])
    marks = _days(performance.PerformanceState(2), index)
    assert [m[FaultKind.UNDER_PERFORMANCE] for m in marks] == [
        False,
        False,
        True,
        False,
        True,
        True,
    ]


def test_shading_needs_the_dip_to_recur() -> None:
    state = shading.ShadingState(2, 8)
    judged = np.ones((2, 8), dtype=bool)
    rng = np.random.default_rng(0)
    symptoms = []
    for _ in range(7):
        ratio = np.ones((2, 8))
        ratio[0, 2:4] = 0.5  # site 0: the same two slots every day
        ratio[1, rng.integers(0, 8)] = 0.5  # site 1: a passing cloud, each day elsewhere
        s = state.advance(ratio, np.ones(2), judged)
        symptoms.append(s.symptom[:, 0].tolist())
    assert symptoms[1] == [False, False] and symptoms[2][0]
    assert not any(day[1] for day in symptoms)


def test_clipping_is_a_flat_top_under_a_rising_clear_sky() -> None:
    clear = np.linspace(3_400.0, 4_000.0, 12)[None, :].repeat(2, axis=0)
    index = np.full((2, 12), 0.95)
    measured = clear * 0.95
    measured[0] = np.minimum(measured[0], 3_200.0)  # site 0: an inverter limited to 3.2 kW
    w = pv.CLIP_WINDOW - 1
    carry = np.full((2, w), np.nan)
    s = pv.clipping(measured, clear, index, np.array([5_000.0, 5_000.0]), carry, carry, carry)
    hits = s.symptom & s.evaluable
    assert hits[0].any() and not hits[1].any()
    assert s.evidence["limit_w"][0, -1] == 3_200.0
    cloudy = pv.clipping(measured, clear, index * 0.5, np.array([5_000.0] * 2), carry, carry, carry)
    assert not cloudy.evaluable.any()  # under clouds a flat output says nothing
