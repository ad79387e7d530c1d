"""The public surface of gridledger.sim is pinned (STYLE.md #4)."""

from __future__ import annotations

import gridledger.sim as sim


def test_exported_members() -> None:
    assert sim.__all__ == [
        "City",
        "CityOutcome",
        "Company",
        "HourReport",
        "ProfileFactory",
        "ProfileSource",
        "RegionHouseholds",
        "RegionOutcome",
        "RegionReport",
        "RunOptions",
        "Scenario",
        "SimulationReport",
        "SlotReport",
        "example_city",
        "example_company",
        "generate_region",
        "load_scenario",
        "parse_scenario",
        "run_region",
        "run_scenario",
        "simulate_city",
    ]
    assert all(hasattr(sim, name) for name in sim.__all__)
