"""City simulation: scenarios (or the generated example city) driven through the real market by
a simulated clock.

* :func:`load_scenario` reads a TOML scenario; :func:`run_scenario` runs it region by region
  (serially, in local processes or on Dask) with the columnar runner
  (:mod:`gridledger.sim.region_run`) and writes Parquet series and ``kpis.json``;
  :mod:`gridledger.sim.report_html` draws ``report.html``.
* :func:`simulate_city` runs the built-in example city through a
  :class:`~gridledger.market.RegionalMarket` with
  signed orders (``gridledger simulate`` without a file).
"""

from gridledger.sim.city import (
    City,
    Company,
    RegionHouseholds,
    example_city,
    example_company,
    generate_region,
)
from gridledger.sim.city_run import CityOutcome, run_scenario
from gridledger.sim.region_run import RegionOutcome, RunOptions, run_region
from gridledger.sim.runner import (
    HourReport,
    RegionReport,
    SimulationReport,
    SlotReport,
    simulate_city,
)
from gridledger.sim.scenario import Scenario, load_scenario, parse_scenario
from gridledger.sim.sources import ProfileFactory, ProfileSource

__all__ = [
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
