"""One region's households as numpy columns, drawn from its scenario distributions.

Generated households come first (``RegionSpec.households`` of them), then the explicit homes in
file order. Every draw uses its own generator seeded by (scenario seed, region index, field), so
changing one field's distribution leaves the other fields' draws as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gridledger.control.strategy import STRATEGY_NAMES
from gridledger.sim.scenario import RegionSpec, Scenario

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_FIELDS = ("pv", "kwp", "tilt", "azimuth", "battery", "capacity", "annual", "ev", "ev_kwh",
           "strategy", "margin")  # fmt: skip


@dataclass(frozen=True, eq=False)
class Households:
    """A region's households, one entry per household in every column.

    ``pv_w`` peak PV power [W] (0: no PV), ``tilt_deg``/``azimuth_deg`` [deg, 180 = south];
    battery ``capacity_wh`` [Wh] (0: none), ``power_w`` [W], ``efficiency_permille``,
    ``initial_soc_permille`` and ``reserve_permille``; ``annual_kwh`` [kWh/a] for the standard
    profile, or ``flat_load_w`` [W] > 0 for a constant load; ``ev_wh_per_day`` [Wh] (0: no EV)
    and ``ev_power_w`` [W]; ``strategy`` the index into :data:`STRATEGY_NAMES`,
    ``margin_permille`` the price-based margin; ``load_files`` / ``pv_files`` map a household
    index to a replayed profile file.
    """

    region: str
    lat_deg: float
    lon_deg: float
    pv_w: I64
    tilt_deg: F64
    azimuth_deg: F64
    capacity_wh: I64
    power_w: I64
    efficiency_permille: I64
    initial_soc_permille: I64
    reserve_permille: I64
    annual_kwh: I64
    flat_load_w: I64
    ev_wh_per_day: I64
    ev_power_w: I64
    strategy: I64
    margin_permille: I64
    load_files: dict[int, Path]
    pv_files: dict[int, Path]

    def __len__(self) -> int:
        return len(self.pv_w)


def region_households(scenario: Scenario, index: int) -> Households:
    """Draw the households of ``scenario.regions[index]``."""
    spec = scenario.regions[index]
    n = spec.households

    def rng(name: str) -> np.random.Generator:
        return np.random.default_rng([scenario.seed, index, _FIELDS.index(name)])

    has_pv = rng("pv").random(n) < spec.pv_share
    pv_w = np.where(has_pv, np.round(spec.pv_kwp.draw(rng("kwp"), n) * 1000), 0).astype(np.int64)
    has_battery = has_pv & (rng("battery").random(n) < spec.battery_share)
    capacity = np.where(
        has_battery, np.round(spec.battery_kwh.draw(rng("capacity"), n) * 1000), 0
    ).astype(np.int64)
    flat = spec.load_profile == "flat"
    has_ev = rng("ev").random(n) < spec.ev_share
    strategy, margin = _strategies(spec, n, rng("strategy"), rng("margin"))
    cols: dict[str, list[object]] = {
        "pv_w": list(pv_w),
        "tilt_deg": list(spec.tilt_deg.draw(rng("tilt"), n)),
        "azimuth_deg": list(spec.azimuth_deg.draw(rng("azimuth"), n)),
        "capacity_wh": list(capacity),
        "power_w": list((capacity * round(spec.battery_c_rate * 1000)) // 1000),
        "annual_kwh": list(
            np.zeros(n, np.int64) if flat else np.round(spec.annual_kwh.draw(rng("annual"), n))
        ),
        "flat_load_w": [round(spec.load_w) if flat else 0] * n,
        "ev_wh_per_day": list(
            np.where(has_ev, np.round(spec.ev_kwh_per_day.draw(rng("ev_kwh"), n) * 1000), 0)
        ),
        "strategy": list(strategy),
        "margin_permille": list(margin),
    }
    load_files: dict[int, Path] = {}
    pv_files: dict[int, Path] = {}
    for home in spec.homes:
        for _ in range(home.count):
            i = len(cols["pv_w"])
            kwp = home.pv_kwp if home.pv_kwp is not None else (spec.pv_kwp.values[0])
            battery_kwh = home.battery_kwh if home.battery_kwh is not None else 0.0
            battery_w = (
                round(home.battery_kw * 1000)
                if home.battery_kw is not None
                else round(battery_kwh * 1000 * spec.battery_c_rate)
            )
            cols["pv_w"].append(round(kwp * 1000))
            cols["tilt_deg"].append(home.tilt_deg if home.tilt_deg is not None else 30.0)
            cols["azimuth_deg"].append(home.azimuth_deg if home.azimuth_deg is not None else 180.0)
            cols["capacity_wh"].append(round(battery_kwh * 1000))
            cols["power_w"].append(battery_w)
            cols["annual_kwh"].append(round(home.annual_kwh or 0))
            cols["flat_load_w"].append(round(home.load_w or 0))
            cols["ev_wh_per_day"].append(0)
            cols["strategy"].append(
                STRATEGY_NAMES.index(home.strategy or spec.strategies[0].strategy)
            )
            cols["margin_permille"].append(round(spec.strategies[0].margin.values[0] * 1000))
            if home.annual_kwh is None and home.load_w is None:
                # an explicit home without its own load takes the region's mean consumption
                cols["annual_kwh"][-1] = round(sum(spec.annual_kwh.values[:2]) / 2)
            if home.load_file is not None:
                load_files[i] = home.load_file
            if home.pv_file is not None:
                pv_files[i] = home.pv_file
    total = len(cols["pv_w"])

    def i64(name: str) -> I64:
        return np.asarray(cols[name], dtype=np.float64).round().astype(np.int64)

    return Households(
        region=spec.name,
        lat_deg=spec.lat_deg,
        lon_deg=spec.lon_deg,
        pv_w=i64("pv_w"),
        tilt_deg=np.asarray(cols["tilt_deg"], np.float64),
        azimuth_deg=np.asarray(cols["azimuth_deg"], np.float64),
        capacity_wh=i64("capacity_wh"),
        power_w=i64("power_w"),
        efficiency_permille=np.full(total, round(spec.efficiency * 1000), np.int64),
        initial_soc_permille=np.full(total, round(spec.initial_soc * 1000), np.int64),
        reserve_permille=np.full(total, round(spec.reserve_soc * 1000), np.int64),
        annual_kwh=i64("annual_kwh"),
        flat_load_w=i64("flat_load_w"),
        ev_wh_per_day=i64("ev_wh_per_day"),
        ev_power_w=np.full(total, round(spec.ev_power_kw * 1000), np.int64),
        strategy=i64("strategy"),
        margin_permille=i64("margin_permille"),
        load_files=load_files,
        pv_files=pv_files,
    )


def _strategies(
    spec: RegionSpec, n: int, pick: np.random.Generator, margins: np.random.Generator
) -> tuple[I64, I64]:
    """Each household's strategy index and price-based margin [per mille of the spread]."""
    shares = np.array([s.share for s in spec.strategies])
    group = pick.choice(len(shares), n, p=shares / shares.sum()) if n else np.zeros(0, np.int64)
    strategy = np.array([STRATEGY_NAMES.index(s.strategy) for s in spec.strategies], np.int64)
    margin = np.zeros(n, np.int64)
    for g, s in enumerate(spec.strategies):
        members = group == g
        margin[members] = np.round(s.margin.draw(margins, int(members.sum())) * 1000)
    return strategy[group].astype(np.int64), margin
