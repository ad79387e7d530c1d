"""Fault detection scored against injected faults, beside pvanalytics on the same data.

A simulated district (:func:`gridledger.sim.faults.simulate_district`: sites in 5 regions, 15-min
slots, pvlib PV under a regional cloud process, BDEW H0 loads, self-consumption batteries, meters
with a small random message loss) gets faults injected at seeded random sites and times; the
ground truth is written as JSON. :func:`gridledger.monitor.faults.detect_faults` runs over it
(one batch over the whole run; the monitor works a day at a time internally), and every detected
fault is matched against the truth (same device and kind, overlapping in time): precision, recall
and mean detection delay per kind. Outage delays run from the first daylight slot (clear-sky power
>= 10 % of peak) at or after the outage's start.

pvanalytics side by side, on the same PV power series of a sample of sites (the comparable truth
sites plus healthy ones; all sites in a full run): ``quality.gaps.stale_values_diff`` (daytime)
against the stuck PV meter rule, ``quality.gaps.completeness_score`` (a day < 90 % complete)
against the offline PV meter rule, ``features.clipping.geometric`` (a site clipped on >= 2 days)
against the clipping rule. rdtools side by side (``scripts/setup.sh --bench`` installs it): its
``degradation_ols`` on the same daily performance indices the degradation rule judges (days with a
regional sky index >= 0.5), every 7 days per site from day 14, on the degraded sites plus a
sample of the others (all in a full run would take minutes: one call costs about 30 ms): a site
is called degrading when the rate is <= -4 %/year and the upper bound of its 99.7 % interval is
below zero (about the rule's one-sided t >= 3). ``degradation_year_on_year`` needs two years of
data and cannot run on 60 days.

Then a healthy district of the same size (nothing injected) measures false faults per 100 sites
per month (informational clipping excluded; nothing clips there anyway).

Usage: ``python benchmarks/bench_faults.py [--quick] [--sites N] [--days D] [--seed S]
[--truth PATH]``. The last line printed is one JSON object: ``precision`` and ``recall`` per fault
kind, ``detection_delay_h`` (outages, daylight hours), ``detection_delay_h_by_kind``,
``degradation_delay_days``, ``false_per_100_site_months``,
``wall_s``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from gridledger.monitor.faults import Fault, FaultKind, FaultMonitor, Severity, detect_faults
from gridledger.monitor.faults.degradation import RATE_MIN_PCT_PER_YEAR
from gridledger.sim.fault_scores import KindScore, score
from gridledger.sim.faults import (
    District,
    InjectedFault,
    InjectionPlan,
    simulate_district,
    write_ground_truth,
)

#: Target precision and recall per kind (issue 13).
TARGETS = {
    "outage": 0.95,
    "stuck_register": 0.95,
    "offline_device": 0.95,
    "battery_inconsistency": 0.95,
    "under_performance": 0.85,
    "shading": 0.85,
    "soiling": 0.85,
}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(scores: dict[str, KindScore]) -> None:
    print(
        f"{'kind':<26}{'injected':>9}{'detected':>9}{'TP':>5}{'FP':>5}{'found':>6}"
        f"{'precision':>10}{'recall':>8}{'delay h':>9}{'target':>8}"
    )
    for kind, s in sorted(scores.items()):
        target = TARGETS.get(kind)
        print(
            f"{kind:<26}{s.injected:>9}{s.detected:>9}{s.true_positives:>5}"
            f"{s.false_positives:>5}{s.found:>6}{_fmt(s.precision):>10}{_fmt(s.recall):>8}"
            f"{_fmt(s.mean_delay_h, 1):>9}{_fmt(target, 2) if target else '':>8}"
        )


def _pv_series(district: District, site: int) -> pd.Series:
    tel = district.telemetry
    energy = np.diff(tel.pv.export_wh[site], prepend=np.nan)
    index = pd.date_range(tel.start, periods=energy.size, freq=f"{tel.slot_s}s")
    return pd.Series(energy * 3600.0 / tel.slot_s, index=index)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True."""
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _as_faults(
    district: District, site: int, kind: FaultKind, runs: list[tuple[int, int]]
) -> list[Fault]:
    tel = district.telemetry
    device = district.fleet.device_ids["pv"][site]
    out = []
    for a, b in runs:
        first = tel.start + timedelta(seconds=a * tel.slot_s)
        last = tel.start + timedelta(seconds=(b - 1) * tel.slot_s)
        out.append(
            Fault(district.fleet.site_ids[site], device, kind, Severity.MINOR, first, last, last)
        )
    return out


def pvanalytics_side_by_side(
    district: District, ours: list[Fault], sample: list[int]
) -> list[tuple[str, str, KindScore, KindScore]]:
    """Score pvanalytics' checks and ours on the PV meters of ``sample`` sites."""
    from pvanalytics.features import clipping
    from pvanalytics.quality import gaps

    fleet = district.fleet
    sites = {fleet.site_ids[i] for i in sample}
    pv_devices = {fleet.device_ids["pv"][i] for i in sample}
    truth = [t for t in district.truth if t.device in pv_devices]
    stale: list[Fault] = []
    offline: list[Fault] = []
    clipped: list[Fault] = []
    spd = 86_400 // district.telemetry.slot_s
    with warnings.catch_warnings():
        # pvanalytics 0.2.2 under pandas 3: fillna(False) on floats, frequency aliases
        warnings.simplefilter("ignore")
        for i in sample:
            power = _pv_series(district, i)
            day = district.clear_w[i] >= 0.05 * fleet.peak_w[i]
            flags = gaps.stale_values_diff(power.fillna(-1.0), window=4).to_numpy() & day
            stale += _as_faults(district, i, FaultKind.STUCK_REGISTER, _runs(flags))
            complete = gaps.completeness_score(power.dropna(), freq="15min")
            daily = complete.groupby(complete.index.floor("D")).last()
            missing = (daily < 0.9).to_numpy()
            offline += _as_faults(
                district,
                i,
                FaultKind.OFFLINE_DEVICE,
                [(a * spd, b * spd) for a, b in _runs(missing)],
            )
            flags = clipping.geometric(power.fillna(0.0), freq="15min").to_numpy()
            days_clipped = flags.reshape(-1, spd).any(axis=1)
            if days_clipped.sum() >= 2:
                first = int(np.argmax(days_clipped)) * spd
                clipped += _as_faults(district, i, FaultKind.CLIPPING, [(first, flags.size)])
    ours_pv = [f for f in ours if f.device in pv_devices and f.site in sites]
    rows = []
    for kind, name, theirs in (
        (FaultKind.STUCK_REGISTER, "gaps.stale_values_diff", stale),
        (FaultKind.OFFLINE_DEVICE, "gaps.completeness_score", offline),
        (FaultKind.CLIPPING, "features.clipping.geometric", clipped),
    ):
        k = str(kind)
        mine = [f for f in ours_pv if f.kind is kind]
        if kind is FaultKind.CLIPPING:  # informational and per site: one detection per site
            seen: dict[str, Fault] = {}
            for f in mine:
                seen.setdefault(f.site, f)
            mine = list(seen.values())
        ours_score = score(mine, truth).get(k)
        theirs_score = score(theirs, truth).get(k)
        empty = KindScore(k, 0, 0, 0, 0, 0, None)
        rows.append((k, name, ours_score or empty, theirs_score or empty))
    return rows


def rdtools_side_by_side(
    district: District, ours: list[Fault], daily_loss: np.ndarray, sample: list[int]
) -> tuple[KindScore, KindScore, int, int] | None:
    """rdtools' ``degradation_ols`` and our degradation rule on the same daily indices of
    ``sample`` sites: both scores and how many injected degradations each found within 30 days
    (None if rdtools is not installed)."""
    try:
        import rdtools
    except ImportError:
        return None
    fleet, tel = district.fleet, district.telemetry
    kind = str(FaultKind.DEGRADATION)
    devices = {fleet.device_ids["pv"][i] for i in sample}
    truth = [t for t in district.truth if t.device in devices and t.kind == kind]
    day0 = tel.start.replace(hour=0, minute=0, second=0, microsecond=0)
    days = daily_loss.shape[1]
    dates = pd.date_range(day0, periods=days, freq="D")
    theirs: list[Fault] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdtools 3.2 under pandas 3: Timedelta('1d')
        for i in sample:
            series = pd.Series(np.exp(-daily_loss[i]), index=dates)
            for day in range(14, days, 7):
                usable = series.iloc[: day + 1].dropna()
                if usable.size < 10:
                    continue
                rate, interval, _ = rdtools.degradation_ols(usable.copy(), confidence_level=99.7)
                if rate <= -RATE_MIN_PCT_PER_YEAR and interval[1] < 0:
                    seen = day0 + timedelta(days=day + 1)
                    theirs.append(
                        Fault(
                            fleet.site_ids[i],
                            fleet.device_ids["pv"][i],
                            FaultKind.DEGRADATION,
                            Severity.MINOR,
                            day0,
                            seen,
                            seen,
                        )
                    )
                    break
    mine = [f for f in ours if f.kind is FaultKind.DEGRADATION and f.device in devices]
    empty = KindScore(kind, len(truth), 0, 0, 0, 0, None)
    return (
        score(mine, truth).get(kind, empty),
        score(theirs, truth).get(kind, empty),
        _found_within(mine, truth, timedelta(days=30)),
        _found_within(theirs, truth, timedelta(days=30)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="150 sites x 40 days (< 60 s)")
    parser.add_argument("--sites", type=int, default=None)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--truth", type=Path, default=None, help="ground-truth JSON to write")
    args = parser.parse_args()
    sites = args.sites or (150 if args.quick else 500)
    days = args.days or (40 if args.quick else 60)
    wall0 = time.perf_counter()

    t0 = time.perf_counter()
    district = simulate_district(sites, 5, days, seed=args.seed)
    t_sim = time.perf_counter() - t0
    truth_path = args.truth or Path(tempfile.mkdtemp(prefix="gridledger-faults-")) / "truth.json"
    write_ground_truth(truth_path, district.truth)
    t0 = time.perf_counter()
    monitor = FaultMonitor(district.fleet, district.telemetry.slot_s)
    monitor.advance(district.telemetry)  # what detect_faults does, keeping the monitor
    t_detect = time.perf_counter() - t0
    detected = monitor.book.all()
    scores = score(detected, district.truth, district)
    print(
        f"district: {sites} sites x {days} days, 15-min slots, {len(district.truth)} injected "
        f"faults (ground truth: {truth_path})"
    )
    print(
        f"simulate {t_sim:.1f} s; detect {t_detect:.1f} s "
        f"({sites * days * 96 / t_detect / 1e3:.0f} k site-slots/s, every detector)"
    )
    _table(scores)
    degr = [
        f for f in district.truth if f.kind == str(FaultKind.DEGRADATION)
    ]  # all injected at 1 %/month
    degradation_days = scores.get("degradation")
    degradation_delay = (
        degradation_days.mean_delay_h / 24
        if degradation_days and degradation_days.mean_delay_h is not None
        else None
    )
    within_30 = _found_within(detected, degr, timedelta(days=30))
    print(
        f"degradation 1 %/month: {within_30}/{len(degr)} found within 30 days of onset; mean "
        f"delay of those found {_fmt(degradation_delay, 1)} days"
    )
    outage = scores.get("outage")
    print(
        "outage delay from first daylight: mean "
        f"{_fmt(outage.mean_delay_h if outage else None, 2)} h (target <= 2 h)"
    )

    rng = np.random.default_rng(args.seed)
    compared = {
        i
        for i, s in enumerate(district.fleet.site_ids)
        for t in district.truth
        if t.site == s
        and t.device.endswith("-pv")
        and t.kind in ("stuck_register", "offline_device", "clipping")
    }
    healthy = [
        i
        for i in range(sites)
        if not any(t.site == district.fleet.site_ids[i] for t in district.truth)
    ]
    extra = (
        healthy
        if not args.quick
        else list(rng.choice(healthy, size=min(20, len(healthy)), replace=False))
    )
    sample = sorted(compared | {int(i) for i in extra})
    t0 = time.perf_counter()
    rows = pvanalytics_side_by_side(district, detected, sample)
    t_pva = time.perf_counter() - t0
    print(f"\npvanalytics side by side on the PV meters of {len(sample)} sites ({t_pva:.1f} s):")
    print(f"{'kind':<16}{'pvanalytics function':<30}{'ours P/R':>14}{'pvanalytics P/R':>18}")
    for kind, name, mine, theirs in rows:
        print(
            f"{kind:<16}{name:<30}{_fmt(mine.precision, 2) + ' / ' + _fmt(mine.recall, 2):>14}"
            f"{_fmt(theirs.precision, 2) + ' / ' + _fmt(theirs.recall, 2):>18}"
            f"   (injected {mine.injected}; detections ours {mine.detected}, "
            f"pvanalytics {theirs.detected})"
        )

    degraded = sorted({district.fleet.site_ids.index(t.site) for t in degr})
    others = [i for i in range(sites) if i not in degraded]
    rd_sample = degraded + sorted(
        int(i)
        for i in rng.choice(others, size=min(20 if args.quick else 150, len(others)), replace=False)
    )
    t0 = time.perf_counter()
    rd = rdtools_side_by_side(district, detected, monitor.degradation.daily_loss, rd_sample)
    t_rd = time.perf_counter() - t0
    if rd is None:
        print("\nno rdtools column: rdtools is not installed (scripts/setup.sh --bench)")
    else:
        mine, theirs, mine_30, theirs_30 = rd
        print(
            f"\nrdtools side by side on the daily indices of {len(rd_sample)} sites "
            f"({len(degraded)} degraded; {t_rd:.1f} s):"
        )
        print(f"{'':<34}{'P / R':>14}{'within 30 days':>16}")
        for name, sc, w in (
            ("ours (hinge trend, t >= 3)", mine, mine_30),
            ("rdtools.degradation_ols", theirs, theirs_30),
        ):
            print(
                f"{name:<34}{_fmt(sc.precision, 2) + ' / ' + _fmt(sc.recall, 2):>14}"
                f"{f'{w}/{len(degraded)}':>16}   (detections {sc.detected}, mean delay "
                f"{_fmt(None if sc.mean_delay_h is None else sc.mean_delay_h / 24, 1)} days)"
            )

    t0 = time.perf_counter()
    calm = simulate_district(sites, 5, days, seed=args.seed + 1, plan=InjectionPlan.none())
    calm_faults = [
        f
        for f in detect_faults(calm.fleet, calm.telemetry).all()
        if f.severity is not Severity.INFO
    ]
    t_calm = time.perf_counter() - t0
    months = sites * days / 30.0
    false_rate = 100.0 * len(calm_faults) / months
    kinds: dict[str, int] = {}
    for f in calm_faults:
        kinds[str(f.kind)] = kinds.get(str(f.kind), 0) + 1
    print(
        f"\nhealthy district ({sites} sites x {days} days, {t_calm:.1f} s): {len(calm_faults)} "
        f"false faults = {false_rate:.2f} per 100 site-months (target < 1) {kinds or ''}"
    )
    wall = time.perf_counter() - wall0
    print(f"wall time {wall:.1f} s")
    result = {
        "precision": {k: _round(s.precision) for k, s in sorted(scores.items())},
        "recall": {k: _round(s.recall) for k, s in sorted(scores.items())},
        "detection_delay_h": _round(outage.mean_delay_h if outage else None),
        "detection_delay_h_by_kind": {k: _round(s.mean_delay_h) for k, s in sorted(scores.items())},
        "degradation_delay_days": _round(degradation_delay),
        "degradation_found_within_30_days": f"{within_30}/{len(degr)}",
        "false_per_100_site_months": round(false_rate, 3),
        "rdtools_degradation": None
        if rd is None
        else {
            "precision": _round(rd[1].precision),
            "recall": _round(rd[1].recall),
            "found_within_30_days": f"{rd[3]}/{len(degraded)}",
            "ours_precision": _round(rd[0].precision),
            "ours_recall": _round(rd[0].recall),
            "ours_found_within_30_days": f"{rd[2]}/{len(degraded)}",
        },
        "sites": sites,
        "days": days,
        "wall_s": round(wall, 1),
    }
    print(json.dumps(result))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _found_within(detected: list[Fault], truth: list[InjectedFault], limit: timedelta) -> int:
    found = 0
    for t in truth:
        if any(
            f.device == t.device
            and str(f.kind) == t.kind
            and t.start <= f.raised_at <= t.start + limit
            for f in detected
        ):
            found += 1
    return found


if __name__ == "__main__":
    main()
