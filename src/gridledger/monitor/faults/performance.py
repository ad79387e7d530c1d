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
* degradation: a one-sided CUSUM of the loss against a slack of :data:`CUSUM_SLACK` crosses
  :data:`CUSUM_LIMIT` while the loss grows slower than soiling does; the evidence gives the
  trend in %/year from a least-squares fit since the CUSUM left zero.

Why not rdtools (``degradation_year_on_year``, ``soiling_srr``): both need years (YoY) or months
of a sensor- or clear-sky-normalised series per site, work on one pandas series at a time and
have no incremental state; rdtools is also not installed here (its pins conflict with pandas 3).
The rules above use the same normalised-energy idea with the neighbours as the irradiance
sensor, which is what makes a 1 %/month loss visible within a month.
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
CLEAR_BASELINE_DAYS = 7
#: Days after a soiling symptom during which a rising loss is not called degradation.
SOILING_QUIET_DAYS = 14
UNDER_LOSS = 0.2
UNDER_MAJOR_LOSS = 0.4
TREND_DAYS = 14
SOILING_MIN_SLOPE = 0.0015  # loss per day (0.15 %/day)
SOILING_MIN_LOSS = 0.02
SOILING_MAX_SLOPE = 0.01  # faster than 1 %/day is a step (a failure), not dust
CUSUM_SLACK = 0.003
CUSUM_LIMIT = 0.05
#: Least t-statistic of the loss trend since the CUSUM left zero: a constant offset (an unlucky
#: baseline) has no trend, a degrading module has one.
TREND_MIN_T = 2.0
#: Least loss trend [%/year] called degradation: half the 1 %/month the rule is designed for;
#: a flatter fitted trend is within what the day-to-day scatter allows over a month.
TREND_MIN_PCT_PER_YEAR = 6.0
#: Days enter the soiling trend from this mean sky index, the degradation CUSUM from the second
#: (a clearer sky leaves less of the neighbours' local clouds in the index).
TREND_MIN_SKY = 0.5
CUSUM_MIN_SKY = 0.7
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
    """Per-site baseline, loss history and CUSUM, advanced one day at a time."""

    def __init__(self, n_sites: int) -> None:
        self.first = np.full((n_sites, BASELINE_DAYS), np.nan)
        self.first_count = np.zeros(n_sites, dtype=np.int64)
        self.baseline = np.full(n_sites, np.nan)
        # trends are judged on clear days against a baseline of clear days: a site's index under
        # a diffuse sky differs from its clear-sky index by a few tenths of a percent
        self.clear_first = np.full((n_sites, CLEAR_BASELINE_DAYS), np.nan)
        self.clear_count = np.zeros(n_sites, dtype=np.int64)
        self.clear_baseline = np.full(n_sites, np.nan)
        self.since_soiling = np.full(n_sites, 10_000, dtype=np.int64)
        self.losses = np.full((n_sites, TREND_DAYS), np.nan)
        self.all_losses: list[FloatArray] = []
        self.cusum = np.zeros(n_sites)
        self.cusum_from = np.zeros(n_sites, dtype=np.int64)
        self.day = 0

    def advance(self, index: FloatArray, sky: FloatArray) -> dict[FaultKind, Symptom]:
        """Take one day's performance index and mean sky index per site; return that day's
        symptoms ``(sites, 1)``."""
        self.last_sky = sky
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
        is_clear = usable & (sky >= CUSUM_MIN_SKY)
        clear_learning = is_clear & (self.clear_count < CLEAR_BASELINE_DAYS)
        rows = np.nonzero(clear_learning)[0]
        self.clear_first[rows, self.clear_count[rows]] = index[rows]
        self.clear_count[rows] += 1
        done = (self.clear_count == CLEAR_BASELINE_DAYS) & np.isnan(self.clear_baseline)
        if done.any():
            self.clear_baseline[done] = np.median(self.clear_first[done], axis=1)
        clear = np.where(is_clear & ~clear_learning, 1.0 - index / self.clear_baseline, np.nan)
        self.losses = np.concatenate([self.losses[:, 1:], tracked[:, None]], axis=1)
        self.all_losses = [*self.all_losses[-59:], clear]
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
        # soiling explains a rising loss: restart the degradation CUSUM while it lasts
        self.since_soiling = np.where(soiling, 0, self.since_soiling + 1)
        was_zero = self.cusum <= 0
        step = np.where(np.isnan(clear), 0.0, clear - CUSUM_SLACK)
        self.cusum = np.where(soiling, 0.0, np.maximum(0.0, self.cusum + step))
        self.cusum_from = np.where(was_zero & (self.cusum > 0), self.day, self.cusum_from)
        trend, t_stat = self._trend_pct_per_year()
        degrading = (
            (self.cusum >= CUSUM_LIMIT)
            & ~soiling
            & (slope < SOILING_MIN_SLOPE)
            & (np.nan_to_num(level) < MAX_SLOW_LOSS)
            & (t_stat >= TREND_MIN_T)
            & (trend >= TREND_MIN_PCT_PER_YEAR)
            & (trend < 100 * 365 * SOILING_MIN_SLOPE)
            & (self.since_soiling > SOILING_QUIET_DAYS)
        )
        self.day += 1

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
            FaultKind.DEGRADATION: Symptom(
                degrading[:, None],
                (~np.isnan(self.clear_baseline) & ~np.isnan(clear))[:, None],
                {
                    "loss_pct": col(100 * level),
                    "trend_pct_per_year": col(trend),
                    "trend_t": col(t_stat),
                    "cusum": col(self.cusum),
                },
            ),
        }

    def _trend_pct_per_year(self) -> tuple[FloatArray, FloatArray]:
        """Loss trend [%/year] over the clear days since each site's CUSUM last left zero (the
        whole tracked history when it is shorter than a week), and its t-statistic."""
        history = np.stack(self.all_losses, axis=1)
        days = history.shape[1]
        start = np.clip(self.cusum_from - (self.day + 1 - days), 0, days - 1)
        start = np.where(days - start < 7, 0, start)
        mask = np.arange(days)[None, :] >= start[:, None]
        window = np.where(mask, history, np.nan)
        slope, _, std = _slope(window)
        valid = ~np.isnan(window)
        x = np.arange(days, dtype=np.float64)
        n = valid.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            xm = np.where(valid, x, 0.0).sum(axis=1) / n
            sxx = (np.where(valid, x - xm[:, None], 0.0) ** 2).sum(axis=1)
            t_stat = np.where(n >= 5, slope / (std / np.sqrt(sxx)), 0.0)
        out: FloatArray = 100.0 * 365.0 * slope
        return out, np.nan_to_num(t_stat)


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

DEGRADATION_RULE = Rule(
    FaultKind.DEGRADATION,
    "pv",
    need=1,
    clear_need=5,
    severity=lambda e: Severity.MINOR,
    explain=lambda e: (
        f"The solar output is {e.get('loss_pct', 0):.1f} % below its first weeks and keeps "
        f"falling (trend {e.get('trend_pct_per_year', 0):.1f} % per year, where modules normally "
        "lose under 1 % per year). Ask the installer to check the modules for degradation "
        "(discolouring, hot spots, potential-induced degradation); it may be a warranty case."
    ),
)
