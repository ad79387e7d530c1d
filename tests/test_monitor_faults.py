"""The fault monitor end to end on small simulated districts: a fault found where it was put,
nothing raised where nothing is wrong (nights, a cloudy region, a site alone)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from gridledger.devices.models import BatteryAlarm
from gridledger.monitor.faults import Fault, FaultKind, FaultStatus, Severity, detect_faults
from gridledger.sim.faults import District, InjectionPlan, Placement, simulate_district

SPD = 96  # 15-min slots per day


def district(days: int, *placements: Placement, sites: int = 8, seed: int = 3) -> District:
    return simulate_district(
        sites,
        1,
        days,
        plan=InjectionPlan.none(),
        seed=seed,
        message_loss=0.0,
        placements=tuple(placements),
    )


def faults_of(d: District, chunk_slots: int | None = None) -> list[Fault]:
    found = detect_faults(d.fleet, d.telemetry, chunk_slots).all()
    return [f for f in found if f.severity is not Severity.INFO]


@pytest.fixture(scope="module")
def healthy() -> District:
    return district(14)


def test_a_healthy_district_raises_nothing_through_nights_and_overcast_days(
    healthy: District,
) -> None:
    tel = healthy.telemetry
    produced = np.diff(tel.pv.export_wh, axis=1, prepend=0.0).sum(axis=0)
    clear = healthy.clear_w.sum(axis=0) / 4.0
    daily = produced.reshape(-1, SPD).sum(axis=1) / clear.reshape(-1, SPD).sum(axis=1)
    assert daily.min() < 0.4 * daily.max()  # the whole region had an overcast day
    assert faults_of(healthy) == []


def test_an_outage_is_raised_within_an_hour_of_daylight_and_closes() -> None:
    start = 3 * SPD + 40  # day 3, 10:00 UTC
    d = district(5, Placement("outage", 2, start, start + 16))
    [fault] = faults_of(d)
    assert (fault.kind, fault.device) == (FaultKind.OUTAGE, d.fleet.device_ids["pv"][2])
    t0 = d.telemetry.start + timedelta(minutes=15 * start)
    assert fault.first_seen == t0
    assert fault.raised_at - t0 <= timedelta(hours=1)
    assert fault.status is FaultStatus.CLOSED
    assert fault.evidence["measured_w"] == 0 and fault.evidence["expected_w"] > 100
    assert "inverter" in fault.explanation


def test_an_outage_at_night_is_not_a_fault() -> None:
    start = 3 * SPD + 84  # 21:00 to 23:00 UTC
    assert faults_of(district(5, Placement("outage", 2, start, start + 8))) == []


def test_a_site_without_neighbours_still_shows_an_outage_and_nothing_else() -> None:
    assert faults_of(district(4, sites=1)) == []
    start = 2 * SPD + 40
    d = district(4, Placement("outage", 0, start, start + 12), sites=1)
    assert [f.kind for f in faults_of(d)] == [FaultKind.OUTAGE]


@pytest.mark.parametrize("channel", ["pv", "load", "bec", "battery"])
def test_a_stuck_meter_is_blamed_on_itself(channel: str) -> None:
    # from a slot of day 3 in which the device is busy (a meter frozen while nothing flows
    # through it cannot be told from one that is idle)
    power = getattr(district(5).telemetry, channel).power_w[4, 3 * SPD : 4 * SPD]
    start = 3 * SPD + int(np.argmax(np.abs(power) > 300))
    d = district(5, Placement("stuck_register", 4, start, start + 24, channel))
    kinds = {(f.kind, f.device) for f in faults_of(d)}
    assert (FaultKind.STUCK_REGISTER, d.fleet.device_ids[channel][4]) in kinds
    assert {k for k, _ in kinds} == {FaultKind.STUCK_REGISTER}
    assert len(kinds) == 1


def test_an_offline_device_is_raised_after_an_hour_not_before() -> None:
    start = 2 * SPD + 50
    d = district(4, Placement("offline_device", 1, start, start + 6, "battery"))
    [fault] = faults_of(d)
    assert (fault.kind, fault.device) == (
        FaultKind.OFFLINE_DEVICE,
        d.fleet.device_ids["battery"][1],
    )
    assert fault.raised_at - fault.first_seen == timedelta(hours=1)
    assert faults_of(district(4, Placement("offline_device", 1, start, start + 3, "battery"))) == []


def test_a_drifting_battery_soc_is_inconsistent_with_its_energy() -> None:
    d = district(5, Placement("battery_inconsistency", 5, 2 * SPD, 4 * SPD))
    found = faults_of(d)
    assert {(f.kind, f.device) for f in found} == {
        (FaultKind.BATTERY_INCONSISTENCY, d.fleet.device_ids["battery"][5])
    }
    assert abs(found[0].evidence["residual_wh"]) > 150


def test_a_bypassed_load_shows_at_the_grid_meter() -> None:
    d = district(5, Placement("bypassed_load", 6, 2 * SPD))
    found = faults_of(d)
    assert {(f.kind, f.device) for f in found} == {
        (FaultKind.BYPASSED_LOAD, d.fleet.device_ids["bec"][6])
    }
    assert found[0].evidence["unexplained_wh_per_day"] > 600


def test_a_drifting_clock_is_found() -> None:
    d = district(3)
    d.telemetry.load.ts_offset_s[3, SPD:] += 300.0
    found = faults_of(d)
    assert [(f.kind, f.device) for f in found] == [
        (FaultKind.CLOCK_DRIFT, d.fleet.device_ids["load"][3])
    ]
    assert found[0].evidence["offset_s"] > 290


def test_battery_alarms_are_faults_but_soc_warnings_are_not() -> None:
    d = district(3)
    d.telemetry.alarms[2, 100:103] = int(BatteryAlarm.OVER_TEMP_ALARM)
    d.telemetry.alarms[3, 100:140] = int(BatteryAlarm.UNDER_SOC_MIN_WARNING)
    found = faults_of(d)
    assert [(f.kind, f.device) for f in found] == [
        (FaultKind.BATTERY_ALARM, d.fleet.device_ids["battery"][2])
    ]
    assert "over temp alarm" in found[0].explanation


def test_under_performance_after_the_baseline() -> None:
    d = district(20, Placement("under_performance", 3, 13 * SPD))
    found = faults_of(d)
    assert [(f.kind, f.device) for f in found] == [
        (FaultKind.UNDER_PERFORMANCE, d.fleet.device_ids["pv"][3])
    ]
    assert found[0].evidence["loss_pct"] > 20


def test_recurring_shading_is_found() -> None:
    d = district(16, Placement("shading", 2, 4 * SPD))
    found = faults_of(d)
    assert [(f.kind, f.device) for f in found] == [(FaultKind.SHADING, d.fleet.device_ids["pv"][2])]
    assert found[0].evidence["shaded_slots"] >= 2


def test_chunks_raise_what_one_batch_raises() -> None:
    d = district(
        4,
        Placement("outage", 1, 2 * SPD + 44, 2 * SPD + 60),
        Placement("stuck_register", 2, SPD + 40, SPD + 60, "pv"),
        Placement("offline_device", 3, SPD + 10, SPD + 30, "load"),
    )

    def key(f: Fault) -> tuple[object, ...]:
        return (f.kind, f.device, f.first_seen, f.last_seen, f.raised_at, f.status)

    whole = [key(f) for f in faults_of(d)]
    assert len(whole) == 3
    assert [key(f) for f in faults_of(d, chunk_slots=37)] == whole
    assert [key(f) for f in faults_of(d, chunk_slots=5)] == whole


def test_chunks_must_follow_each_other(healthy: District) -> None:
    from gridledger.errors import ValidationError
    from gridledger.monitor.faults import FaultMonitor

    monitor = FaultMonitor(healthy.fleet)
    monitor.advance(healthy.telemetry.slice(0, 10))
    with pytest.raises(ValidationError, match="without gaps"):
        monitor.advance(healthy.telemetry.slice(20, 30))
    monitor.advance(healthy.telemetry.slice(10, 20))
    with pytest.raises(ValidationError, match="sites"):
        FaultMonitor(district(1, sites=2).fleet).advance(healthy.telemetry.slice(20, 30))


@pytest.mark.parametrize("level", ["full", "reserve"])
def test_a_battery_frozen_while_idle_full_or_at_its_reserve_is_blamed_not_the_bec(
    level: str,
) -> None:
    # an idle battery, full or at its reserve, looks frozen and may idle; frozen for 36 h it
    # hides a night's discharge and a morning's charge behind a BEC at zero flow, and its stale
    # SoC must not put the blame on the BEC
    base = district(6).telemetry
    soc, power = base.soc_permille, base.battery.power_w
    idle = (soc >= 980) if level == "full" else (soc <= 110)
    idle &= power == 0
    idle[:, : SPD + 8] = False
    idle[:, -48 * 4 :] = False
    site, start = (int(x[0]) for x in np.nonzero(idle))
    d = district(6, Placement("stuck_register", site, start, start + 36 * 4, "battery"))
    stuck = [f for f in faults_of(d) if f.kind is FaultKind.STUCK_REGISTER]
    assert stuck and {f.device for f in stuck} == {d.fleet.device_ids["battery"][site]}


def test_bypassed_loads_are_not_stuck_batteries_at_their_reserve() -> None:
    # a load behind the BEC that no device meters draws from the grid: the BEC sees more than the
    # devices explain, which an empty battery must not be blamed for (it would have had to
    # charge, and a charging battery balances the BEC to zero; a bypassed load does not)
    d = district(8, *(Placement("bypassed_load", site, 2 * SPD) for site in range(8)))
    soc = d.telemetry.soc_permille
    assert (soc[:, 2 * SPD :] <= 130).any(axis=1).sum() >= 4  # batteries sit at their reserve
    kinds = {f.kind for f in faults_of(d)}
    assert FaultKind.STUCK_REGISTER not in kinds
    assert FaultKind.BYPASSED_LOAD in kinds
