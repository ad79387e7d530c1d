"""Key performance indicators of a run, per household, per region and for the city.

docs/kpis.md gives every formula. Energies are integer Wh, money integer micro-units; shares are
floats rounded to 6 decimals so ``kpis.json`` is byte-identical for the same scenario and seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from gridledger.sim.region_run import HOUSEHOLD_TOTALS, RegionOutcome
from gridledger.sim.scenario import Scenario

I64 = npt.NDArray[np.int64]


def _share(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def _prices(prices: I64) -> dict[str, Any]:
    cleared = prices[prices >= 0]
    if len(cleared) == 0:
        return {"slots_with_price": 0, "mean": None, "min": None, "median": None, "max": None}
    return {
        "slots_with_price": len(cleared),
        "mean": int(cleared.sum()) // len(cleared),
        "min": int(cleared.min()),
        "median": int(np.sort(cleared)[(len(cleared) - 1) // 2]),
        "max": int(cleared.max()),
    }


def aggregate_kpis(
    totals: dict[str, int],
    prices: I64,
    peak_import_wh: int,
    slot_minutes: int,
    soc_start_wh: int,
    soc_end_wh: int,
    households: int,
) -> dict[str, Any]:
    """The KPIs of a region or the city from its summed totals (see docs/kpis.md)."""
    consumption = totals["load_wh"] + totals["ev_wh"]
    savings = totals["baseline_micro"] - totals["bill_micro"]
    return {
        "households": households,
        "pv_wh": totals["pv_wh"],
        "consumption_wh": consumption,
        "ev_wh": totals["ev_wh"],
        "charged_wh": totals["charged_wh"],
        "discharged_wh": totals["discharged_wh"],
        "battery_start_wh": soc_start_wh,
        "battery_end_wh": soc_end_wh,
        "local_traded_wh": totals["bought_wh"],
        "sold_to_companies_wh": totals["company_wh"],
        "imported_wh": totals["import_wh"],
        "exported_wh": totals["export_wh"],
        "unmatched_wh": totals["import_wh"] + totals["export_wh"],
        "peak_import_w": peak_import_wh * 60 // slot_minutes,
        "self_sufficiency": _share(consumption - totals["import_wh"], consumption),
        "self_consumption": _share(
            totals["pv_wh"] - totals["export_wh"] - totals["company_wh"], totals["pv_wh"]
        ),
        "clearing_price_micro_per_kwh": _prices(prices),
        "bill_micro": totals["bill_micro"],
        "baseline_bill_micro": totals["baseline_micro"],
        "savings_micro": savings,
        "savings_share": _share(savings, totals["baseline_micro"])
        if totals["baseline_micro"] > 0
        else None,
    }


def region_kpis(outcome: RegionOutcome, slot_minutes: int) -> dict[str, Any]:
    totals = {name: int(outcome.totals[name].sum()) for name in HOUSEHOLD_TOTALS}
    out = aggregate_kpis(
        totals, outcome.prices, outcome.peak_import_wh, slot_minutes,
        int(outcome.soc_start_wh.sum()), int(outcome.soc_end_wh.sum()), outcome.households,
    )  # fmt: skip
    out["max_balance_drift_wh"] = outcome.max_balance_drift_wh
    out["market_amount_micro"] = outcome.market_amount_micro
    out["network_fee_micro"] = outcome.fee_micro
    out["company_amount_micro"] = outcome.company_amount_micro
    hh = household_kpis(outcome)
    ss = np.array([x for x in hh.column("self_sufficiency").to_pylist() if x is not None])
    out["household_self_sufficiency"] = (
        {
            "min": round(float(ss.min()), 6),
            "median": round(float(np.median(ss)), 6),
            "max": round(float(ss.max()), 6),
        }
        if len(ss)
        else None
    )
    return out


def city_kpis(scenario: Scenario, outcomes: Sequence[RegionOutcome]) -> dict[str, Any]:
    """The whole ``kpis.json``: scenario, city and per-region KPIs."""
    totals = {name: sum(int(o.totals[name].sum()) for o in outcomes) for name in HOUSEHOLD_TOTALS}
    prices = np.concatenate([o.prices for o in outcomes]) if outcomes else np.zeros(0, np.int64)
    city = aggregate_kpis(
        totals, prices, sum(o.peak_import_wh for o in outcomes), scenario.slot_minutes,
        sum(int(o.soc_start_wh.sum()) for o in outcomes),
        sum(int(o.soc_end_wh.sum()) for o in outcomes), sum(o.households for o in outcomes),
    )  # fmt: skip
    # the city's peak is the sum of regional peaks only as an upper bound: name it so
    city["peak_import_w_upper_bound"] = city.pop("peak_import_w")
    city["max_balance_drift_wh"] = max((o.max_balance_drift_wh for o in outcomes), default=0)
    return {
        "scenario": {
            "name": scenario.name,
            "seed": scenario.seed,
            "start": scenario.start.isoformat(),
            "end": scenario.end.isoformat(),
            "slot_minutes": scenario.slot_minutes,
            "slots": scenario.slots,
            "clearing_rule": scenario.clearing_rule,
            "households": scenario.households,
            "tariff": {
                "retail_micro_per_kwh": scenario.tariffs.retail_micro_per_kwh,
                "feed_in_micro_per_kwh": scenario.tariffs.feed_in_micro_per_kwh,
                "network_fee_micro_per_kwh": scenario.tariffs.network_fee_micro_per_kwh,
            },
        },
        "city": city,
        "regions": {o.name: region_kpis(o, scenario.slot_minutes) for o in outcomes},
    }


def household_kpis(outcome: RegionOutcome) -> pa.Table:
    """One row per household of a region: its totals and KPIs."""
    t = outcome.totals
    consumption = t["load_wh"] + t["ev_wh"]
    with np.errstate(divide="ignore", invalid="ignore"):
        sufficiency = np.where(consumption > 0, 1 - t["deficit_wh"] / consumption, np.nan)
        self_use = np.where(t["pv_wh"] > 0, 1 - t["surplus_wh"] / t["pv_wh"], np.nan)
    columns: dict[str, Any] = {
        "region": pa.array([outcome.name] * outcome.households),
        "household": pa.array(np.arange(outcome.households, dtype=np.int32)),
        "battery_capacity_wh": pa.array(outcome.capacity_wh),
        **{name: pa.array(t[name]) for name in HOUSEHOLD_TOTALS},
        "savings_micro": pa.array(t["baseline_micro"] - t["bill_micro"]),
        "self_sufficiency": pa.array(np.round(sufficiency, 6), mask=np.isnan(sufficiency)),
        "self_consumption": pa.array(np.round(self_use, 6), mask=np.isnan(self_use)),
    }
    return pa.table(columns)
