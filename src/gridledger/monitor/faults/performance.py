"""Daily PV performance: under-performance, degradation and soiling from one index per day.

Each day, every site gets a *performance index*: the trimmed mean (a quarter cut at each end),
over the day's well-lit slots, of measured / expected power (expected from
:mod:`gridledger.monitor.expected`). The trimmed mean ignores a dip of an hour or two (shading,
judged by :mod:`gridledger.monitor.faults.shading`) like a median, and scatters less; the slots a
slot-level fault already explains (outage, stuck or offline meter) are left out. A site's
*baseline* is the median of its first :data:`BASELINE_DAYS` usable days; its daily *loss* is
``1 - index / baseline`` (before the baseline is known, the region's median site is the
reference).

* under-performance: loss >= 20 % on 3 usable days in a row (major from 40 %): the field rule
  ("under 60 % of expected for 3 non-cloudy days; under 80 % for 7 days") with the neighbours'
  sky as the expectation, which makes the 80 % rule safe after 3 days;
* soiling: over the last :data:`TREND_DAYS` days the loss grows at least
  :data:`SOILING_MIN_SLOPE` per day and reached :data:`SOILING_MIN_LOSS`; it closes when the loss
  falls back (rain or cleaning);
* degradation is judged by :mod:`gridledger.monitor.faults.degradation` from the same daily
  index; this state tells it where soiling or under-performance explains a loss
  (:attr:`PerformanceState.slow_allowed`).

Why not rdtools' ``soiling_srr``: it needs months of a sensor- or clear-sky-normalised series
per site, works on one pandas series at a time and has no incremental state. The rules above use
the same normalised-energy idea with the neighbours as the irradiance sensor.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridledger.monitor.faults.model import FaultKind, Severity
from gridledger.monitor.faults.rules import Evidence, Rule, Symptom

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Slots count towards the index when expected power is at least this fraction of peak.
GOOD_MIN_EXPECTED = 0.2
#: A day is usable with at least this many good slots.
MIN_GOOD_SLOTS = 8
BASELINE_DAYS = 10
#: Days after a soiling symptom during which a rising loss is not called degradation.
SOILING_QUIET_DAYS = 14
UNDER_LOSS = 0.2
UNDER_MAJOR_LOSS = 0.4
TREND_DAYS = 14
SOILING_MIN_SLOPE = 0.0015  # loss per day (0.15 %/day)
SOILING_MIN_LOSS = 0.02
SOILING_MAX_SLOPE = 0.01  # faster than 1 %/day is a step (a failure), not dust
#: Days enter the soiling trend from this mean sky index (a clearer sky leaves less of the
#: neighbours' local clouds in the index).
TREND_MIN_SKY = 0.5
MAX_SLOW_LOSS = 0.15  # above this the loss is under-performance, not a slow process


#: Share of a day's good slots trimmed at each end before averaging: the trimmed mean ignores an
#: hour or two of shade like a median does, and scatters less.
TRIM = 0.25


def daily_index(ratio: FloatArray, good: BoolArray) -> tuple[FloatArray, FloatArray]:
    """Trimmed mean ratio over the good slots of a day ``(sites, slots)``; NaN if too few. Also
    the number of good slots per site."""
    values = np.sort(np.where(good & ~np.isnan(ratio), ratio, np.nan), axis=1)  # NaN last
    count = np.sum(~np.isnan(values), axis=1)
    cut = np.floor(TRIM * count).astype(np.int64)
    position = np.arange(values.shape[1])[None, :]
    keep = (position >= cut[:, None]) & (position < (count - cut)[:, None])
    kept = np.sum(keep, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        index = np.where(keep, np.nan_to_num(values), 0.0).sum(axis=1) / kept
    return np.where(count >= MIN_GOOD_SLOTS, index, np.nan), count.astype(np.float64)


def daily_sky(sky_index: FloatArray, good: BoolArray) -> FloatArray:
    """Mean regional clear-sky index over a day's good slots, per site (NaN if none)."""
    values = np.where(good, sky_index, 0.0)
    count = good.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, values.sum(axis=1) / count, np.nan)


def _slope(history: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """OLS slope [per day], fitted value at the last day and residual std, per row (NaN-aware)."""
    days = history.shape[1]
    x = np.arange(days, dtype=np.float64)
    valid = ~np.isnan(history)
    n = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = np.where(valid, x, 0.0).sum(axis=1) / n
        ym = np.where(valid, history, 0.0).sum(axis=1) / n
        dx = np.where(valid, x - xm[:, None], 0.0)
        dy = np.where(valid, history - ym[:, None], 0.0)
        slope = (dx * dy).sum(axis=1) / (dx * dx).sum(axis=1)
        fitted_last = ym + slope * (days - 1 - xm)
        resid = np.where(valid, dy - slope[:, None] * dx, 0.0)
        std = np.sqrt((resid * resid).sum(axis=1) / np.maximum(n - 2, 1))
    return slope, fitted_last, std


class PerformanceState:
    """Per-site baseline and loss history, advanced one day at a time."""

    def __init__(self, n_sites: int) -> None:
        self.first = np.full((n_sites, BASELINE_DAYS), np.nan)
        self.first_count = np.zeros(n_sites, dtype=np.int64)
        self.baseline = np.full(n_sites, np.nan)
        self.since_soiling = np.full(n_sites, 10_000, dtype=np.int64)
        self.losses = np.full((n_sites, TREND_DAYS), np.nan)
        #: where no other slow process explains a loss on the last day: no soiling in the last
        #: :data:`SOILING_QUIET_DAYS` days, no under-performance, the loss below
        #: :data:`MAX_SLOW_LOSS` (what the degradation rule may judge)
        self.slow_allowed = np.ones(n_sites, dtype=np.bool_)

    def advance(self, index: FloatArray, sky: FloatArray) -> dict[FaultKind, Symptom]:
        """Take one day's performance index and mean sky index per site; return that day's
        symptoms ``(sites, 1)``."""
        usable = ~np.isnan(index)
        # the baseline collects each site's first usable days
        learning = usable & (self.first_count < BASELINE_DAYS)
        rows = np.nonzero(learning)[0]
        self.first[rows, self.first_count[rows]] = index[rows]
        self.first_count[rows] += 1
        done = (self.first_count == BASELINE_DAYS) & np.isnan(self.baseline)
        if done.any():
            self.baseline[done] = np.median(self.first[done], axis=1)
        known = ~np.isnan(self.baseline)
        reference = np.where(known, self.baseline, 1.0)
        loss = 1.0 - index / reference
        tracked = np.where(known & ~learning & (sky >= TREND_MIN_SKY), loss, np.nan)
        self.losses = np.concatenate([self.losses[:, 1:], tracked[:, None]], axis=1)
        slope, level, _ = _slope(self.losses)
        trend_ok = np.sum(~np.isnan(self.losses), axis=1) >= TREND_DAYS // 2

        under = usable & (loss >= UNDER_LOSS)
        soiling = (
            trend_ok
            & ~under
            & (slope >= SOILING_MIN_SLOPE)
            & (slope <= SOILING_MAX_SLOPE)
            & (level >= SOILING_MIN_LOSS)
            & (level < MAX_SLOW_LOSS)
        )
        self.since_soiling = np.where(soiling, 0, self.since_soiling + 1)
        self.slow_allowed = (
            (self.since_soiling > SOILING_QUIET_DAYS)
            & ~under
            & (np.nan_to_num(level) < MAX_SLOW_LOSS)
        )

        def col(a: FloatArray) -> FloatArray:
            return np.asarray(a, dtype=np.float64)[:, None]

        loss_pct = col(100 * loss)
        return {
            FaultKind.UNDER_PERFORMANCE: Symptom(
                under[:, None], usable[:, None], {"loss_pct": loss_pct, "index": col(index)}
            ),
            FaultKind.SOILING: Symptom(
                soiling[:, None],
                (usable & trend_ok)[:, None],
                {"loss_pct": col(100 * level), "loss_pct_per_day": col(100 * slope)},
            ),
        }


UNDER_RULE = Rule(
    FaultKind.UNDER_PERFORMANCE,
    "pv",
    need=3,
    clear_need=2,
    severity=lambda e: (
        Severity.MAJOR if e.get("loss_pct", 0) >= 100 * UNDER_MAJOR_LOSS else Severity.MINOR
    ),
    explain=lambda e: (
        f"For three days the solar system produced {e.get('loss_pct', 0):.0f} % less than its "
        "neighbours' sky and its own first weeks say it should. Part of the array may be "
        "disconnected (a string fuse, a loose connector) or a module broken; ask the installer "
        "to check the strings."
    ),
)


def _soiling_explain(e: Evidence) -> str:
    return (
        f"The solar output is falling slowly, by {e.get('loss_pct_per_day', 0):.2f} % per day, "
        f"now {e.get('loss_pct', 0):.1f} % below normal, as dirt, pollen or dust builds up. Rain "
        "usually washes it off; if it does not recover, have the modules cleaned."
    )


SOILING_RULE = Rule(
    FaultKind.SOILING,
    "pv",
    need=2,
    clear_need=2,
    severity=lambda e: Severity.MINOR,
    explain=_soiling_explain,
)
