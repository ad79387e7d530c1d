"""Demand response over a small region of the district example: peak shaved in event windows,
no EV short at departure, no bill up, opted-out households untouched, the feeder relieved."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridledger.sim.demand_response import DrSetup, DrStudy, run_region_dr, study
from gridledger.sim.fast_profiles import hand_rolled
from gridledger.sim.households import region_households
from gridledger.sim.scenario import Scenario, parse_scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OPTED_OUT = (0, 5, 11, 17, 23)


def small_region() -> Scenario:
    data: dict[str, Any] = tomllib.loads((EXAMPLES / "district.toml").read_text())
    data["time"]["days"] = 3
    data["regions"] = data["regions"][:1]
    data["companies"] = data["companies"][:1]
    data["regions"][0]["households"] = 60
    data["regions"][0]["ev"]["share"] = 0.3
    return parse_scenario(data, EXAMPLES)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return small_region()


@pytest.fixture(scope="module")
def result(scenario: Scenario) -> DrStudy:
    return study(scenario, 0, DrSetup(days=2, transformer_kva=50.0, opt_out=OPTED_OUT))


def test_without_events_the_evs_charge_as_the_profile_source_says(
    scenario: Scenario, result: DrStudy
) -> None:
    source = hand_rolled(scenario, 0, region_households(scenario, 0))
    slots = len(result.without.ev_wh)
    assert np.array_equal(result.without.ev_wh, source.ev_wh(0, slots))
    assert result.without.ev_wh.sum() > 0


def test_peak_import_in_event_windows_falls_and_comfort_holds(result: DrStudy) -> None:
    assert result.in_events.any()
    assert result.peak_import_reduction >= 0.3
    for run in (result.without, result.program, result.final):
        assert run.ev_misses == 0 and run.heater_misses == 0
    # uncontrolled charging is as early as possible: controlled never gets ahead of it
    ahead = np.cumsum(result.final.ev_wh, axis=0) - np.cumsum(result.without.ev_wh, axis=0)
    assert (ahead <= 0).all() and ahead.min() < 0


def test_no_bill_rises(result: DrStudy) -> None:
    assert result.bill_increases == 0
    assert result.final.bill_micro.sum() < result.without.bill_micro.sum()


def test_an_opted_out_household_is_not_curtailed(result: DrStudy) -> None:
    out = np.array(OPTED_OUT)
    assert np.array_equal(result.final.ev_wh[:, out], result.without.ev_wh[:, out])
    assert np.array_equal(result.final.heater_wh[:, out], result.without.heater_wh[:, out])
    assert np.array_equal(result.final.import_wh[:, out], result.without.import_wh[:, out])
    # while households that follow the program did shift their energy
    follow = np.setdiff1d(np.arange(result.final.ev_wh.shape[1]), out)
    assert not np.array_equal(result.final.ev_wh[:, follow], result.without.ev_wh[:, follow])


def test_the_feeder_limits_remove_overloads(result: DrStudy) -> None:
    hours = result.overload_hours
    assert hours(result.overload_without) > 0
    assert hours(result.overload_final) <= hours(result.overload_program)
    assert hours(result.overload_final) < hours(result.overload_without)
    if result.overload_program.any():
        assert result.limit_rounds >= 1
        assert any(e.payload_type == "IMPORT_CAPACITY_LIMIT" for e in result.events)


def test_runs_are_deterministic(scenario: Scenario, result: DrStudy) -> None:
    again = run_region_dr(scenario, 0, DrSetup(days=2, opt_out=OPTED_OUT), result.events)
    assert np.array_equal(again.import_wh, result.final.import_wh)


def test_households_report_baseline_and_usage_of_a_shed_event(result: DrStudy) -> None:
    shed = next(e for e in result.events if e.payload_type == "SIMPLE")
    reports = result.reports(shed, OPTED_OUT)
    assert len(reports) == 60 - len(OPTED_OUT)
    assert {int(r.client_name) for r in reports}.isdisjoint(OPTED_OUT)
    baseline = sum(sum(r.baseline_wh) for r in reports)
    usage = sum(sum(r.usage_wh) for r in reports)
    assert len(reports[0].usage_wh) == 16  # 17:00 to 21:00 in 15-minute slots
    assert usage < baseline  # the households shed in the window
    assert reports[0].to_json()["objectType"] == "REPORT"
