"""Benchmark: the scenario runner's throughput, wall time and peak memory, and a settled run.

Usage::

    .venv/bin/python benchmarks/bench_sim.py [--quick]

Each measurement runs in its own child process (this script with ``--child``), so runs do not
share memory or warm caches; the child reports its wall time and its peak resident set size
(``ru_maxrss`` of itself plus the largest of its own worker processes, an upper bound of the
footprint when both peak together).

* ``--ledger none``: 100, 1,000 and 10,000 households over one year (``--quick``: one week), in
  regions of 1,000 households (100: one region); the 10,000-household run uses local processes
  (the CLI's default for large runs), the others run serially. Profiles are the scenarios'
  default (:class:`~gridledger.sim.field_profiles.FieldProfiles`: pvlib PV for tilts 15-45 deg and
  azimuths 90-270 deg, demandlib loads, EV sessions). Figures: household-slots per second, wall
  time, peak RSS, the time spent generating profiles (serial runs), and the per-household-slot
  cost of 10,000 vs 1,000 (near-linear growth means about 1).
* ``--ledger embedded``: 100 households over one day (``--quick``: two hours), every slot signed,
  settled and metered through :class:`~gridledger.sim.settler.CitySettler` on the embedded chain.
  Time inside the settler's hooks is the chain's (operator pipeline, EVM, ingest, store); the rest
  is the simulator's own (profiles, controller, signing orders, books, clearing, Parquet).
  ``settle_overhead_share`` = simulator time / chain time (target < 0.25).

Targets (issue 12): 10,000 households x 1 year in under 10 minutes (>= 580,000 household-slots/s),
peak RSS < 2 GiB, near-linear growth. The last line is one JSON object with
``household_slots_per_s_10k``, ``household_slots_per_s_1k``, ``household_slots_per_s_100``,
``peak_rss_mb_10k``, ``settle_overhead_share``, the wall times and ``max_balance_drift_wh``
(the largest energy-balance error of any slot and region: must be 0).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REGION_SIZE = 1000


def bench_scenario(households: int, days: float) -> Any:
    from gridledger.sim.scenario import parse_scenario

    regions = max(1, households // REGION_SIZE)
    per_region = households // regions
    start = "2026-01-01T00:00:00+01:00"
    time_table: dict[str, Any] = {"start": start}
    if days >= 1:
        time_table["days"] = int(days)
    else:  # a few daylight hours, so the settled run has trades
        time_table["start"] = "2026-06-15T10:00:00+02:00"
        time_table["end"] = f"2026-06-15T{10 + round(days * 24):02d}:00:00+02:00"
    names = [f"r{i:02d}" for i in range(regions)]
    return parse_scenario(
        {
            "name": f"bench{households}",
            "seed": 1,
            "place": {"timezone": "Europe/Berlin"},
            "time": time_table,
            "companies": [
                {
                    "name": f"{n} energy",
                    "region": n,
                    "price_micro_per_kwh": 140_000,
                    "capacity_wh": 20 * per_region,
                }
                for n in names
            ],
            "regions": [
                {
                    "name": n,
                    "households": per_region,
                    # a realistic mix of roofs: about 600 orientation groups per region
                    "pv": {"tilt_deg": [15, 45], "azimuth_deg": [90, 270]},
                    "ev": {"share": 0.15},
                    "strategies": [
                        {"strategy": "price_based", "share": 0.6},
                        {"strategy": "self_consumption", "share": 0.25},
                        {"strategy": "sell_to_company", "share": 0.15},
                    ],
                }
                for n in names
            ],
        }
    )


PROFILE_SECONDS = [0.0]


class TimedProfiles:
    """A profile source that adds the time spent generating profiles to PROFILE_SECONDS [s]."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def _timed(self, name: str, first: int, count: int) -> Any:
        t = time.perf_counter()
        try:
            return getattr(self.inner, name)(first, count)
        finally:
            PROFILE_SECONDS[0] += time.perf_counter() - t

    def pv_wh(self, first: int, count: int) -> Any:
        return self._timed("pv_wh", first, count)

    def load_wh(self, first: int, count: int) -> Any:
        return self._timed("load_wh", first, count)

    def ev_wh(self, first: int, count: int) -> Any:
        return self._timed("ev_wh", first, count)


def timed_profiles(scenario: Any, index: int, households: Any) -> Any:
    """The default profile factory, timed (serial runs only: the total lives in this process)."""
    from gridledger.sim.sources import field_profiles

    t = time.perf_counter()
    source = TimedProfiles(field_profiles(scenario, index, households))
    PROFILE_SECONDS[0] += time.perf_counter() - t
    return source


class TimedHooks:
    """The settler's hooks, timing how long the chain side takes [s]."""

    def __init__(self, settler: Any) -> None:
        self.settler = settler
        self.seconds = 0.0

    def _timed(self, name: str, *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return getattr(self.settler, name)(*args)
        finally:
            self.seconds += time.perf_counter() - t

    def market_address(self, region: Any) -> bytes:
        out: bytes = self._timed("market_address", region)
        return out

    def on_cleared(self, *args: Any) -> object:
        return self._timed("on_cleared", *args)

    def on_metered(self, *args: Any) -> object:
        return self._timed("on_metered", *args)


def child(households: int, days: float, ledger: str) -> dict[str, Any]:
    """One measured run in this (child) process."""
    from gridledger.sim.city_run import run_scenario
    from gridledger.sim.region_run import RunOptions

    scenario = bench_scenario(households, days)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        chain_s = 0.0
        start = time.perf_counter()
        if ledger == "none":
            if len(scenario.regions) > 1:
                run_scenario(scenario, RunOptions(out), where="processes")
            else:
                run_scenario(scenario, RunOptions(out, profiles=timed_profiles), where="serial")
        else:
            from gridledger.chain import open_ledger
            from gridledger.market import RuleSet
            from gridledger.market.tariff import GridTariff
            from gridledger.operator.region import demo_keys, market_tariffs
            from gridledger.sim.settler import CitySettler
            from gridledger.store import open_store

            backend = open_ledger("embedded", Path(tmp) / "chain", 1337)
            store = open_store(f"sqlite:///{tmp}/store.sqlite")
            t = scenario.tariffs
            tariff = GridTariff(
                t.retail_micro_per_kwh, t.feed_in_micro_per_kwh, t.network_fee_micro_per_kwh
            )
            admin, operator = demo_keys()
            settler = CitySettler(
                backend, store, Path(tmp) / "data", admin=admin, operator=operator,
                tariffs=market_tariffs(RuleSet(tariff=tariff).tariff), slot_seconds=900,
                meter=True,
            )  # fmt: skip
            hooks = TimedHooks(settler)
            start = time.perf_counter()
            run_scenario(scenario, RunOptions(out, chain_id=1337), hooks=hooks)
            chain_s = hooks.seconds
            store.close()
            backend.close()
        wall = time.perf_counter() - start
        drift = json.loads((out / "kpis.json").read_text())["city"]["max_balance_drift_wh"]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "households": households,
        "slots": scenario.slots,
        "household_slots": households * scenario.slots,
        "wall_s": round(wall, 3),
        "household_slots_per_s": round(households * scenario.slots / wall),
        "peak_rss_mb": round((own + workers) / 1024, 1),
        "chain_s": round(chain_s, 3),
        "profiles_s": round(PROFILE_SECONDS[0], 3),
        "max_balance_drift_wh": drift,
    }


def measure(households: int, days: float, ledger: str) -> dict[str, Any]:
    """Run :func:`child` in a fresh process and return its figures."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(households), str(days), ledger],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one week; a 2-hour settled run")
    parser.add_argument("--child", nargs=3, metavar=("HOUSEHOLDS", "DAYS", "LEDGER"))
    args = parser.parse_args()
    if args.child:
        households, days, ledger = args.child
        print(json.dumps(child(int(households), float(days), ledger)))
        return
    days = 7.0 if args.quick else 365.0
    rows = {}
    print(f"--ledger none, {days:g} days, regions of {REGION_SIZE} households")
    print(
        f"{'households':>10}{'slots':>8}{'hh-slots/s':>14}{'wall s':>9}{'peak MB':>9}"
        f"{'profiles s':>12}"
    )
    for households in (100, 1000, 10_000):
        r = measure(households, days, "none")
        rows[households] = r
        print(
            f"{households:>10}{r['slots']:>8}{r['household_slots_per_s']:>14,}"
            f"{r['wall_s']:>9.1f}{r['peak_rss_mb']:>9.0f}"
            f"{r['profiles_s'] if r['profiles_s'] else '(in workers)':>12}"
        )
    drift = max(r["max_balance_drift_wh"] for r in rows.values())
    print(f"energy balance: largest drift of any slot and region {drift} Wh (must be 0)")
    cost_1k = rows[1000]["wall_s"] / rows[1000]["household_slots"]
    cost_10k = rows[10_000]["wall_s"] / rows[10_000]["household_slots"]
    print(f"cost per household-slot, 10k vs 1k: {cost_10k / cost_1k:.2f}x (1 = linear)")
    settle_days = 2 / 24 if args.quick else 1.0
    s = measure(100, settle_days, "embedded")
    simulator_s = s["wall_s"] - s["chain_s"]
    share = simulator_s / s["chain_s"] if s["chain_s"] else None
    print(
        f"--ledger embedded, 100 households x {s['slots']} slots: wall {s['wall_s']:.1f} s, "
        f"chain {s['chain_s']:.1f} s, simulator {simulator_s:.1f} s "
        f"(overhead {share:.1%} of the chain's time)"
        if share is not None
        else "--ledger embedded: no chain time measured"
    )
    print(
        json.dumps(
            {
                "household_slots_per_s_100": rows[100]["household_slots_per_s"],
                "household_slots_per_s_1k": rows[1000]["household_slots_per_s"],
                "household_slots_per_s_10k": rows[10_000]["household_slots_per_s"],
                "wall_s_10k": rows[10_000]["wall_s"],
                "peak_rss_mb_10k": rows[10_000]["peak_rss_mb"],
                "peak_rss_mb_1k": rows[1000]["peak_rss_mb"],
                "profiles_s_1k": rows[1000]["profiles_s"],
                "profiles_share_1k": round(rows[1000]["profiles_s"] / rows[1000]["wall_s"], 3),
                "cost_ratio_10k_vs_1k": round(cost_10k / cost_1k, 3),
                "days": days,
                "settle_slots": s["slots"],
                "settle_wall_s": s["wall_s"],
                "settle_chain_s": s["chain_s"],
                "settle_overhead_share": None if share is None else round(share, 3),
                "max_balance_drift_wh": max(drift, s["max_balance_drift_wh"]),
            }
        )
    )


if __name__ == "__main__":
    main()
