"""Demand response over the district example: evening EV arrivals, an evening peak, OpenADR
price and load-shed events, and a feeder kept within its rating by automatic import limits.

For each region (``--quick``: the first region over 2 days; otherwise all four over 7 days from
the scenario's start, in January), :func:`gridledger.sim.demand_response.study` runs the same
households, profiles and batteries three ways: without events (every EV and water heater runs as
soon as it can: today's behaviour), with the operator's program (a ``PRICE`` event per day and a
load-shed event from 17:00 to 21:00 local), and with the feeder's automatic
``IMPORT_CAPACITY_LIMIT`` events added round by round until the power flow (power-grid-model) on
the forecast shows no overload. Each region's feeder has a transformer of
``--kva-per-household`` kVA per household and four cable feeders of 250 A. A share of households
(``--opt-out``) opts out of the program; the benchmark checks that their devices drew exactly what
they drew without events.

Printed per region: the peak import in event windows without and with events, overload hours of
the three runs, EV and water-heater misses, bill increases, excess-consumption alerts. The last
line is one JSON object: ``peak_import_reduction`` (the smallest over the regions),
``ev_misses``, ``bill_increases`` (households whose bill rose), ``overload_hours_before`` (the
run without events) and ``overload_hours_after`` (the final run, summed over regions), with
``overload_hours_program`` (events but no automatic limits) and ``wall_s``.

Usage: ``python benchmarks/bench_dr.py [--quick] [--days D] [--kva-per-household K]
[--opt-out SHARE]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from gridledger.control.excess import excess_consumption
from gridledger.sim.demand_response import DrSetup, study
from gridledger.sim.scenario import load_scenario

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "district.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one region over 2 days (< 60 s)")
    parser.add_argument("--days", type=int, default=None, help="days per region (default 7)")
    parser.add_argument("--kva-per-household", type=float, default=0.93)
    parser.add_argument("--opt-out", type=float, default=0.05, help="share opting out")
    args = parser.parse_args()
    days = args.days or (2 if args.quick else 7)
    scenario = load_scenario(EXAMPLE)
    regions = range(1) if args.quick else range(len(scenario.regions))
    started = time.perf_counter()
    totals = {"ev_misses": 0, "heater_misses": 0, "bill_increases": 0}
    hours = {"before": 0.0, "program": 0.0, "after": 0.0}
    reductions = []
    for index in regions:
        spec = scenario.regions[index]
        t0 = time.perf_counter()
        households = spec.households + sum(h.count for h in spec.homes)
        rng = np.random.default_rng(scenario.seed + index)
        opted = tuple(
            int(i)
            for i in np.sort(rng.choice(households, int(households * args.opt_out), replace=False))
        )
        setup = DrSetup(
            days=days, transformer_kva=args.kva_per_household * households, opt_out=opted
        )
        st = study(scenario, index, setup)
        before = int(st.without.region_import_w[st.in_events].max(initial=0))
        after = int(st.final.region_import_w[st.in_events].max(initial=0))
        out = np.asarray(opted, np.int64)
        untouched = bool(
            (st.final.ev_wh[:, out] == st.without.ev_wh[:, out]).all()
            and (st.final.heater_wh[:, out] == st.without.heater_wh[:, out]).all()
        )
        spd = 86400 // st.slot_s
        consumption = st.final.import_wh[: (len(st.final.import_wh) // spd) * spd]
        alerts = int(excess_consumption(consumption, spd).sum()) if len(consumption) else 0
        reductions.append(st.peak_import_reduction)
        totals["ev_misses"] += st.final.ev_misses
        totals["heater_misses"] += st.final.heater_misses
        totals["bill_increases"] += st.bill_increases
        hours["before"] += st.overload_hours(st.overload_without)
        hours["program"] += st.overload_hours(st.overload_program)
        hours["after"] += st.overload_hours(st.overload_final)
        saved = int((st.without.bill_micro - st.final.bill_micro).sum())
        print(
            f"{spec.name}: {households} households x {days} days, transformer "
            f"{setup.transformer_kva:.0f} kVA; peak import in event windows "
            f"{before / 1000:.1f} kW -> {after / 1000:.1f} kW "
            f"(reduction {st.peak_import_reduction:.3f}); overload hours without events "
            f"{st.overload_hours(st.overload_without):.2f}, with the program "
            f"{st.overload_hours(st.overload_program):.2f}, with automatic limits "
            f"{st.overload_hours(st.overload_final):.2f} ({st.limit_rounds} power-flow rounds, "
            f"{len(st.events)} events); EV misses {st.final.ev_misses}, water-heater misses "
            f"{st.final.heater_misses}; bills up {st.bill_increases}, saved "
            f"{saved / 1e6:.2f} in total; {len(opted)} opted out, untouched: {untouched}; "
            f"excess-consumption alerts (household-slots, with events) {alerts}; "
            f"{time.perf_counter() - t0:.1f} s"
        )
        if not untouched:
            raise SystemExit("an opted-out household was curtailed")
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "peak_import_reduction": round(min(reductions), 4),
                "ev_misses": totals["ev_misses"],
                "bill_increases": totals["bill_increases"],
                "overload_hours_before": hours["before"],
                "overload_hours_after": hours["after"],
                "overload_hours_program": hours["program"],
                "heater_misses": totals["heater_misses"],
                "regions": len(reductions),
                "days": days,
                "wall_s": round(wall, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
