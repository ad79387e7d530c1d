"""City simulation: generated households driven through the real market by a simulated clock."""

from gridledger.sim.city import (
    City,
    Company,
    RegionHouseholds,
    example_city,
    example_company,
    generate_region,
)
from gridledger.sim.runner import (
    HourReport,
    RegionReport,
    SimulationReport,
    SlotReport,
    simulate_city,
)

__all__ = [
    "City",
    "Company",
    "HourReport",
    "RegionHouseholds",
    "RegionReport",
    "SimulationReport",
    "SlotReport",
    "example_city",
    "example_company",
    "generate_region",
    "simulate_city",
]
