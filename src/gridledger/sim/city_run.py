"""Run a whole scenario: regions serially, in local processes, or as tasks on a Dask cluster.

Regions are independent until the KPIs are summed, so each is one task
(:func:`~gridledger.sim.region_run.run_region`) that writes its own Parquet files and returns its
totals. ``where`` picks the executor:

* ``"serial"``: in this process, one region after the other (also every ledger run: one chain);
* ``"processes"``: a local pool of processes (``concurrent.futures`` with the ``spawn`` start
  method, at most one per core), the default for scenarios with several regions;
* ``"tcp://host:8786"`` or a :class:`distributed.Client`: one Dask task per region.

Results are merged in region order and every random number is a function of the seed and the
region, so ``kpis.json`` is byte-identical whichever executor ran it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gridledger.errors import ScenarioError
from gridledger.sim.kpis import city_kpis, household_kpis
from gridledger.sim.region_run import RegionOutcome, RunOptions, SettleHooks, run_region
from gridledger.sim.scenario import Scenario


@dataclass
class CityOutcome:
    """A finished run: its regions' outcomes, the KPIs and where the files are."""

    scenario: Scenario
    regions: list[RegionOutcome]
    kpis: dict[str, Any]
    out_dir: Path

    @property
    def kpis_path(self) -> Path:
        return self.out_dir / "kpis.json"


def _region_task(scenario: Scenario, index: int, options: RunOptions) -> RegionOutcome:
    return run_region(scenario, index, options)


def run_scenario(
    scenario: Scenario,
    options: RunOptions,
    *,
    where: object = "serial",
    hooks: SettleHooks | None = None,
    progress: Callable[[int], object] | None = None,
) -> CityOutcome:
    """Run every region of ``scenario`` and write ``kpis.json`` and ``households.parquet``.

    ``progress(slots)`` is told of finished slots (per chunk when serial, per region otherwise).
    """
    options.out_dir.mkdir(parents=True, exist_ok=True)
    indices = range(len(scenario.regions))
    if hooks is not None and where != "serial":
        raise ScenarioError("a ledger run settles on one chain: run it serially (no --dask)")
    outcomes: list[RegionOutcome]
    if where == "serial" or (len(scenario.regions) == 1 and where == "processes"):
        outcomes = [run_region(scenario, i, options, hooks, progress) for i in indices]
    elif where == "processes":
        workers = min(len(scenario.regions), os.cpu_count() or 1)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_region_task, scenario, i, options) for i in indices]
            outcomes = []
            for future in futures:
                outcomes.append(future.result())
                if progress is not None:
                    progress(scenario.slots)
    else:
        outcomes = _on_dask(scenario, options, where, progress)
    return finish(scenario, outcomes, options.out_dir)


def _on_dask(
    scenario: Scenario,
    options: RunOptions,
    where: object,
    progress: Callable[[int], object] | None,
) -> list[RegionOutcome]:
    from distributed import Client

    client = where if isinstance(where, Client) else None
    own = client is None
    if client is None:
        if not isinstance(where, str) or not where.startswith(("tcp://", "tls://", "inproc://")):
            raise ScenarioError(
                f"--dask {where!r}: give a scheduler address like tcp://scheduler:8786"
            )
        client = Client(where)  # type: ignore[no-untyped-call]
    try:
        futures = [
            client.submit(_region_task, scenario, i, options, pure=False)
            for i in range(len(scenario.regions))
        ]
        outcomes: list[RegionOutcome] = []
        for future in futures:
            outcomes.append(future.result())
            if progress is not None:
                progress(scenario.slots)
        return outcomes
    finally:
        if own:
            client.close()  # type: ignore[no-untyped-call]


def finish(scenario: Scenario, outcomes: list[RegionOutcome], out_dir: Path) -> CityOutcome:
    """Write ``kpis.json`` (sorted keys, deterministic) and ``households.parquet``."""
    kpis = city_kpis(scenario, outcomes)
    (out_dir / "kpis.json").write_text(json.dumps(kpis, sort_keys=True, indent=2) + "\n")
    tables = [household_kpis(o) for o in outcomes]
    if tables:
        pq.write_table(pa.concat_tables(tables), out_dir / "households.parquet")
    return CityOutcome(scenario, outcomes, kpis, out_dir)
