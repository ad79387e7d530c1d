"""The self-contained ``report.html`` of a run: KPIs first, then the plots.

Plots are drawn with matplotlib (Agg) and embedded as inline SVG, so the page needs no network
and no other file: energy balance over the period (daily sums) and the average day, clearing
prices against the grid's prices, the batteries' state of charge, self-sufficiency by household
and a heatmap of the energy traded locally (day x hour). Time series are read back from the run's
Parquet files, a region at a time.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.figure import Figure

#: Periods longer than this [days] plot daily means instead of every slot or hour.
LONG_RUN_DAYS = 31

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:1rem 0}
td,th{padding:.25rem .8rem;border-bottom:1px solid #ddd;text-align:right}
th{text-align:left} .kpis td:first-child{text-align:left}
figure{margin:1.5rem 0} figcaption{color:#555;font-size:.9rem}
"""


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _kwh(wh: object) -> str:
    return "-" if wh is None else f"{int(str(wh)) / 1000:,.1f} kWh"


def _money(micro: object) -> str:
    return "-" if micro is None else f"{int(str(micro)) / 1e6:,.2f}"


def _pct(x: object) -> str:
    return "-" if x is None else f"{float(str(x)):.1%}"


def _kpi_rows(k: dict[str, Any]) -> list[tuple[str, str]]:
    prices = k["clearing_price_micro_per_kwh"]
    peak = k.get("peak_import_w", k.get("peak_import_w_upper_bound"))
    return [
        ("Households", str(k["households"])),
        ("Self-sufficiency", _pct(k["self_sufficiency"])),
        ("Self-consumption", _pct(k["self_consumption"])),
        ("PV produced", _kwh(k["pv_wh"])),
        ("Consumed (EV included)", _kwh(k["consumption_wh"])),
        ("Traded locally", _kwh(k["local_traded_wh"])),
        ("Sold to energy companies", _kwh(k["sold_to_companies_wh"])),
        ("Imported from the grid", _kwh(k["imported_wh"])),
        ("Exported to the grid", _kwh(k["exported_wh"])),
        ("Peak import", "-" if peak is None else f"{peak / 1000:,.1f} kW"),
        ("Mean clearing price /kWh", _money(prices["mean"])),
        ("Bills with the market", _money(k["bill_micro"])),
        ("Bills without a market", _money(k["baseline_bill_micro"])),
        ("Savings", f"{_money(k['savings_micro'])} ({_pct(k['savings_share'])})"),
    ]


def _region_series(out_dir: Path) -> pd.DataFrame:
    frames = []
    for path in sorted((out_dir / "regions").glob("*.parquet")):
        frame = pq.read_table(path).to_pandas()
        frame["region"] = path.stem
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_report(out_dir: Path, kpis: dict[str, Any], timezone: str) -> Path:
    """Write ``out_dir/report.html`` from the run's files and ``kpis``; return its path."""
    series = _region_series(out_dir)
    city = series.groupby("slot_start").sum(numeric_only=True)
    city.index = pd.DatetimeIndex(city.index).tz_convert(timezone)
    city["consumption_wh"] = city["load_wh"] + city["ev_wh"]
    figures: list[tuple[str, str]] = []
    daily = city.resample("D").sum() / 1000
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for col, label in (
        ("pv_wh", "PV"), ("consumption_wh", "consumption"), ("import_wh", "grid import"),
        ("export_wh", "grid export"), ("market_wh", "traded locally"),
        ("company_wh", "sold to companies"),
    ):  # fmt: skip
        ax.plot(daily.index, daily[col], label=label)
    ax.set_ylabel("kWh per day")
    ax.legend(ncol=3, fontsize=8)
    figures.append(("Energy balance over the period (city, daily sums)", _svg(fig)))

    tod = city.index.hour + city.index.minute / 60
    slot_h = (city.index[1] - city.index[0]).total_seconds() / 3600 if len(city) > 1 else 0.25
    avg = city.groupby(tod).mean() / 1000 / slot_h
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for col, label in (
        ("pv_wh", "PV"), ("consumption_wh", "consumption"), ("import_wh", "grid import"),
        ("export_wh", "grid export"), ("market_wh", "traded locally"),
        ("discharged_wh", "battery discharge"),
    ):  # fmt: skip
        ax.plot(avg.index, avg[col], label=label)
    ax.set_xlabel("local time [h]")
    ax.set_ylabel("mean power [kW]")
    ax.legend(ncol=3, fontsize=8)
    figures.append(("The average day (city)", _svg(fig)))

    long_run = len(daily) > LONG_RUN_DAYS
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for region, frame in series.groupby("region"):
        s = frame.set_index("slot_start")["clearing_price_micro_per_kwh"].astype("float64") / 1e6
        s.index = pd.DatetimeIndex(s.index).tz_convert(timezone)
        if long_run:  # a year of slots would make the page heavy: daily means instead
            ax.plot(s.resample("D").mean(), lw=1, label=str(region))
        else:
            ax.plot(s.index, s, ".", ms=2, label=str(region))
    retail = city["retail_micro_per_kwh"] / series["region"].nunique() / 1e6
    ax.plot(retail.resample("D").mean() if long_run else retail, lw=1, color="k", label="retail")
    feed_in = kpis["scenario"]["tariff"]["feed_in_micro_per_kwh"]
    ax.axhline(feed_in / 1e6, color="grey", lw=1, label="feed-in")
    ax.set_ylabel("price per kWh")
    ax.legend(ncol=4, fontsize=8)
    what = "daily mean clearing prices" if long_run else "clearing prices per slot"
    figures.append((f"Prices: {what}, the retail (daily mean) and feed-in prices", _svg(fig)))

    fig, ax = plt.subplots(figsize=(10, 3))
    soc = city["soc_wh"].resample("D" if long_run else "h").mean() / 1000
    ax.plot(soc.index, soc)
    ax.set_ylabel("stored energy [kWh]")
    step = "daily" if long_run else "hourly"
    figures.append((f"Battery state of charge (all batteries, {step} mean)", _svg(fig)))

    households = pq.read_table(out_dir / "households.parquet").to_pandas()
    ss = households["self_sufficiency"].dropna().sort_values().to_numpy()
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot(np.arange(len(ss)), ss * 100)
    ax.set_xlabel("households, sorted")
    ax.set_ylabel("self-sufficiency [%]")
    figures.append(("Self-sufficiency by household", _svg(fig)))

    traded = (
        city["market_wh"].groupby([city.index.date, city.index.hour]).sum().unstack(fill_value=0)
    )
    fig, ax = plt.subplots(figsize=(10, 3.5))
    image = ax.imshow(traded.T.to_numpy() / 1000, aspect="auto", origin="lower", cmap="viridis")
    ax.set_ylabel("local hour")
    ax.set_xlabel("day of the period")
    fig.colorbar(image, ax=ax, label="kWh traded locally")
    figures.append(("Energy traded locally: day x hour", _svg(fig)))

    scenario = kpis["scenario"]
    regions = kpis["regions"]
    head = "".join(f"<th>{html.escape(name)}</th>" for name in ["", "city", *regions])
    rows = []
    city_rows = _kpi_rows(kpis["city"])
    region_rows = [_kpi_rows(r) for r in regions.values()]
    for i, (label, value) in enumerate(city_rows):
        cells = "".join(f"<td>{html.escape(r[i][1])}</td>" for r in region_rows)
        rows.append(f"<tr><td>{html.escape(label)}</td><td>{html.escape(value)}</td>{cells}</tr>")
    body = "".join(
        f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, svg in figures
    )
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(scenario['name'])}: gridledger simulation</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(scenario['name'])}</h1>"
        f"<p class='sub'>{scenario['households']} households, {scenario['start']} to "
        f"{scenario['end']}, {scenario['slot_minutes']}-minute slots, "
        f"{html.escape(scenario['clearing_rule'])}, seed {scenario['seed']}</p>"
        f"<h2>Key figures</h2><table class='kpis'><tr>{head}</tr>{''.join(rows)}</table>"
        f"<h2>Plots</h2>{body}</body></html>"
    )
    path = out_dir / "report.html"
    path.write_text(page)
    return path
