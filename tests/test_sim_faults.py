"""Fault injection, ground truth (gridledger.sim.faults) and scoring (sim.fault_scores)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np

from gridledger.monitor.faults import Fault, FaultKind, Severity
from gridledger.sim.fault_scores import observable, score
from gridledger.sim.faults import (
    InjectionPlan,
    Placement,
    read_ground_truth,
    simulate_district,
    write_ground_truth,
)


def test_injection_is_seeded_and_written_as_ground_truth(tmp_path: Path) -> None:
    a = simulate_district(40, 2, 20, seed=4)
    b = simulate_district(40, 2, 20, seed=4)
    assert a.truth == b.truth
    assert np.array_equal(a.telemetry.pv.export_wh, b.telemetry.pv.export_wh, equal_nan=True)
    kinds = {f.kind for f in a.truth}
    assert {"outage", "stuck_register", "offline_device", "battery_inconsistency"} <= kinds
    assert len({f.site for f in a.truth}) == len(a.truth)  # one fault per site
    path = tmp_path / "truth.json"
    write_ground_truth(path, a.truth)
    assert read_ground_truth(path) == a.truth
    assert simulate_district(40, 2, 20, seed=5).truth != a.truth


def test_a_healthy_plan_injects_nothing() -> None:
    d = simulate_district(10, 1, 3, plan=InjectionPlan.none(), seed=1, message_loss=0.0)
    assert d.truth == []
    registers = d.telemetry.pv.export_wh
    assert not np.isnan(registers).any() and np.all(np.diff(registers, axis=1) >= 0)
    # the grid meter balances the devices behind it, to register rounding
    tel = d.telemetry
    net = (tel.bec.import_wh - tel.bec.export_wh)[:, -1]
    devices = (
        tel.load.import_wh + tel.battery.import_wh - tel.battery.export_wh - tel.pv.export_wh
    )[:, -1]
    assert np.all(np.abs(net - devices) <= 4)


def test_injected_faults_change_what_the_meters_say() -> None:
    start, end = 96 + 40, 96 + 60
    base = simulate_district(6, 1, 3, plan=InjectionPlan.none(), seed=2, message_loss=0.0)
    d = simulate_district(
        6,
        1,
        3,
        plan=InjectionPlan.none(),
        seed=2,
        message_loss=0.0,
        placements=(
            Placement("outage", 1, start, end),
            Placement("offline_device", 2, start, end, "bec"),
        ),
    )
    [outage, offline] = sorted(d.truth, key=lambda f: f.kind, reverse=True)
    assert (outage.kind, outage.device) == ("outage", "r0-0001-pv")
    assert outage.end - outage.start == timedelta(minutes=15 * (end - start))
    pv = np.diff(d.telemetry.pv.export_wh[1])
    assert (
        np.all(pv[start : end - 1] == 0)
        and np.diff(base.telemetry.pv.export_wh[1])[start:end].sum() > 0
    )
    assert np.isnan(d.telemetry.bec.import_wh[2, start:end]).all()
    assert offline.device == "r0-0002-bec"


def test_score_counts_matches_misses_and_false_alarms() -> None:
    d = simulate_district(
        4,
        1,
        3,
        plan=InjectionPlan.none(),
        seed=2,
        placements=(
            Placement("outage", 0, 96 + 40, 96 + 60),
            Placement("outage", 1, 96 + 84, 96 + 90),
        ),
    )
    night = next(f for f in d.truth if f.site == "r0-0001")
    assert not observable(d, night)  # 21:00-22:30 UTC: nothing to see
    day = next(f for f in d.truth if f.site == "r0-0000")

    def detection(site: str, at: timedelta) -> Fault:
        t = day.start + at
        return Fault(site, f"{site}-pv", FaultKind.OUTAGE, Severity.MAJOR, t, t, t + at)

    found = score(
        [detection("r0-0000", timedelta(minutes=30)), detection("r0-0002", timedelta(0))],
        d.truth,
        d,
    )["outage"]
    assert (found.injected, found.detected, found.true_positives, found.found) == (1, 2, 1, 1)
    assert found.precision == 0.5 and found.recall == 1.0
    assert found.mean_delay_h == 1.0  # raised an hour after the start, all of it daylight


def test_a_meter_frozen_while_nothing_flows_is_not_observable() -> None:
    busy = 96 + 40  # 10:00 UTC: the PV meter counts
    night = 96 + 84  # 21:00 UTC: it has nothing to count
    d = simulate_district(
        4,
        1,
        3,
        plan=InjectionPlan.none(),
        seed=2,
        placements=(
            Placement("stuck_register", 0, busy, busy + 8, "pv"),
            Placement("stuck_register", 1, night, night + 8, "pv"),
        ),
    )
    by_site = {f.site: f for f in d.truth}
    assert by_site["r0-0000"].params["moving_slots"] == 8
    assert by_site["r0-0001"].params["moving_slots"] == 0
    assert observable(d, by_site["r0-0000"]) and not observable(d, by_site["r0-0001"])
