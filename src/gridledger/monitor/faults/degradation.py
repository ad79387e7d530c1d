"""Degradation: a slow, steady loss of PV output, as a significant downward trend against the
neighbours.

Each day a site gets ``y = -ln(index)``, its daily performance index (measured over expected
power, :mod:`gridledger.monitor.faults.performance`) as a loss, on days whose mean regional
clear-sky index is at least :data:`MIN_SKY`. Two corrections make the trend of ``y`` far less
noisy than a trend against a clear-sky model:

1. the expected power already comes from the neighbours' sky (same weather, same clouds);
2. what is left in common is removed per region and day: the deviations of the region's sites
   from their own level (the median of their first :data:`LEVEL_DAYS` values) are regressed on
   the array's orientation (the unit normal of the plane: east, north and up components) with
   one trimming pass at 3 MAD, and each site's ``y`` is corrected by the fit at its orientation.
   Without it, arrays facing east or steeply tilted drift against the others by a few %/year
   over April-May (the model's error moves with the sun's path). The robust scatter of the
   residuals (MAD) is that day's noise ``sigma_d``.

The statistics, measured on simulated districts (300 and 500 sites, 60 days from 2026-04-01,
healthy sites; ``benchmarks/RESULTS.md``, bench_faults):

* the daily index scatters by 0.60 % on days with a sky index >= 0.5 (61-66 % of the days),
  0.45 % at >= 0.7 (47 % of the days); consecutive days are independent (lag-1 correlation
  0.01-0.07); the region's plain common part is 0.11-0.17 % a day. After the orientation
  correction the scatter at >= 0.5 is 0.49 % (median ``sigma_d`` 0.55 %), and the whole-run
  (60-day) trends of healthy sites scatter by 1.9 %/year instead of 2.9 %/year, no longer
  correlated with azimuth (r = 0.01 instead of 0.32). Pure noise would give 1.7 %/year
  (the formula below, n = 37, W = 60): what is left is the noise, not the model. Before the
  correction, t >= 3 gave 4 false faults per 100 site-months in a healthy district.
* 1 %/month is b = 0.033 %/day. A least-squares slope over ``n`` usable days spread evenly
  over ``W`` days has the standard error ``sigma * sqrt(12 / (n W^2))``: with sigma = 0.49 %,
  n = 0.61 W and W = 30, 0.013 %/day, so a trend over the 30 degrading days alone is 2.5
  standard errors: it cannot reach a false-alarm-safe t within 30 days.
* The days before the onset fix the level: the hinge model ``y = a + b max(0, d - tau)``,
  fitted by weighted least squares (weights ``1 / sigma_d^2``) over the whole history, with
  15 days before a known onset and 30 after has ``SE(b) = sigma / sqrt(sum (r - mean r)^2)``
  = 0.49 % / sqrt(2836) = 0.0092 %/day: t = 3.6 expected at day 30. The level's own error is
  part of that fit (a fixed baseline from a few days would carry its error into every later
  day). The onset is unknown, so the test takes the largest t over every ``tau`` with
  :data:`MIN_BEFORE` usable days before, :data:`MIN_AFTER` after and at least
  :data:`MIN_SPAN_DAYS` days to today, re-run every day. That maximum needs :data:`T_MIN` = 3
  to keep healthy sites under 1 false fault per 100 site-months: 0.10-0.33 in four simulated
  districts and 0.375 on independent Gaussian noise (t >= 2.5: 1.1-2.0).
* At t >= 3 an expected t of 3.6 at day 30 is crossed by about half the sites by then: over
  75 injected 1 %/month degradations in three districts, 38 (51 %) were found within 30 days,
  the median delay was 30 days, 90 % were found within 38 days and 71 of 75 within the runs
  (34-48 days after the onset). Finding 95 % within 30 days would need an expected t of
  about 4.7 at day 30, i.e. a daily scatter of 0.38 % or less; at 0.49 % the shortest delay
  that keeps false faults under 1 per 100 site-months is about 30 days for half of the sites
  and 38 days for nine in ten.
* The t is divided by the square root of the fit's reduced chi-square when that exceeds 1 (a
  site noisier than its neighbours' spread says is judged by its own noise).

A fitted rate below :data:`RATE_MIN_PCT_PER_YEAR` is ageing, not a fault; above
:data:`RATE_MAX_PCT_PER_YEAR` (2.5 %/month) it is soiling caught in its first days (a soiling
ramp of 0.3-0.7 %/day fitted with earlier days came out at 34-49 %/year) or a step (the
under-performance rule covers steps). The evidence gives the rate in %/year, its t, the loss
since the fitted onset and the onset's age in days.

Why not rdtools' ``degradation_year_on_year`` or ``degradation_ols``: year-on-year needs two
years of data; the OLS estimator fits one line through a whole normalised series of one site
(no onset, no neighbours, no per-day noise), and its confidence interval assumes the clear-sky
or sensor normalisation it is given. The benchmark runs ``degradation_ols`` on the same daily
indices (:attr:`DegradationState.daily_loss`) and prints both scores.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray

from gridledger.monitor.faults.model import FaultKind, Severity
from gridledger.monitor.faults.rules import Rule, Symptom
from gridledger.monitor.series import Fleet

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: A day enters the trend from this mean regional clear-sky index over its good slots.
MIN_SKY = 0.5
#: Usable days that set a site's level for the regional regression.
LEVEL_DAYS = 5
#: Days of history kept per site (the longest onset-to-today span the fit sees).
HISTORY_DAYS = 120
#: Sites a region needs on a day for the orientation regression; fewer: the plain median.
MIN_FIT_SITES = 12
#: Sites a region needs on a day at all (fewer: the day is not usable).
MIN_REGION_SITES = 3
#: Floor of a day's noise [loss]: a calm day must not weigh without limit.
SIGMA_FLOOR = 0.003
#: Usable days before and after the onset of the hinge.
MIN_BEFORE = 8
MIN_AFTER = 8
#: Least days from the onset to today: a steep ramp over the last week or two is a few low days
#: (or a step), and a 1 %/month loss is not visible that soon anyway.
MIN_SPAN_DAYS = 14
#: Least t of the hinge slope (the largest over every onset).
T_MIN = 3.0
#: Rates [%/year] called degradation: faster than ageing, slower than soiling.
RATE_MIN_PCT_PER_YEAR = 4.0
RATE_MAX_PCT_PER_YEAR = 30.0


def orientation_features(fleet: Fleet) -> FloatArray:
    """``(sites, 4)``: a constant and the unit normal of each array (east, north, up)."""
    tilt = np.radians(fleet.tilt_deg)
    azimuth = np.radians(fleet.azimuth_deg)
    return np.stack(
        [
            np.ones(fleet.n_sites),
            np.sin(tilt) * np.sin(azimuth),
            np.sin(tilt) * np.cos(azimuth),
            np.cos(tilt),
        ],
        axis=1,
    )


def _mad(values: FloatArray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def common_mode(
    deviation: FloatArray, features: FloatArray, region: NDArray[np.int64]
) -> tuple[FloatArray, FloatArray]:
    """Per site, the region's common deviation at its orientation and the day's noise (MAD of
    the residuals, floored); NaN where the region has too few sites that day.

    ``deviation`` ``(sites,)`` is each site's loss minus its level (NaN: unknown)."""
    n = deviation.size
    fit = np.full(n, np.nan)
    sigma = np.full(n, np.nan)
    for r in np.unique(region).tolist():
        members = region == r
        use = members & ~np.isnan(deviation)
        count = int(use.sum())
        if count < MIN_REGION_SITES:
            continue
        b = deviation[use]
        if count < MIN_FIT_SITES:
            centre = float(np.median(b))
            fit[members] = centre
            sigma[members] = max(_mad(b), SIGMA_FLOOR)
            continue
        a = features[use]
        coef = np.linalg.lstsq(a, b, rcond=None)[0]
        residual = b - a @ coef
        centre = float(np.median(residual))
        keep = np.abs(residual - centre) <= 3.0 * max(_mad(residual), 1e-9)
        coef = np.linalg.lstsq(a[keep], b[keep], rcond=None)[0]
        fit[members] = features[members] @ coef
        sigma[members] = max(_mad(b - a @ coef), SIGMA_FLOOR)
    return fit, sigma


def hinge_trend(x: FloatArray, weight: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weighted least-squares hinge ``x = a + b max(0, d - tau)`` over each row's days.

    ``x`` ``(sites, days)`` (NaN: unusable), ``weight`` ``1 / sigma^2`` per value. For every
    onset ``tau`` with :data:`MIN_BEFORE` usable days up to it, :data:`MIN_AFTER` after and at
    least :data:`MIN_SPAN_DAYS` days before the last, the slope's t (divided by the square root
    of the reduced chi-square when above 1); returns per site the largest t, its slope [per
    day] and onset [day index] (``-inf``, 0, -1 where no onset qualifies).
    """
    sites, days = x.shape
    valid = ~np.isnan(x) & (weight > 0)
    w = np.where(valid, weight, 0.0)
    x0 = np.where(valid, x, 0.0)
    d = np.arange(days, dtype=np.float64)
    ramp = np.maximum(0.0, d[None, :] - d[:, None])  # (tau, days)
    wx = w * x0
    s_w = w.sum(axis=1)[:, None]
    s_wx = wx.sum(axis=1)[:, None]
    s_wxx = (wx * x0).sum(axis=1)[:, None]
    s_wr = w @ ramp.T
    s_wrr = w @ (ramp * ramp).T
    s_wrx = wx @ ramp.T
    count = valid.sum(axis=1).astype(np.float64)[:, None]
    after = valid.astype(np.float64) @ (ramp > 0).T
    before = count - after
    with np.errstate(invalid="ignore", divide="ignore"):
        det = s_w * s_wrr - s_wr * s_wr
        slope = (s_w * s_wrx - s_wr * s_wx) / det
        level = (s_wx - slope * s_wr) / s_w
        chi2 = (
            s_wxx
            - 2 * level * s_wx
            - 2 * slope * s_wrx
            + level * level * s_w
            + 2 * level * slope * s_wr
            + slope * slope * s_wrr
        )
        reduced = np.maximum(chi2 / np.maximum(count - 2, 1.0), 1.0)
        t = slope / np.sqrt(s_w / det) / np.sqrt(reduced)
    span = (days - 1 - d)[None, :]
    ok = (
        (before >= MIN_BEFORE)
        & (after >= MIN_AFTER)
        & (span >= MIN_SPAN_DAYS)
        & np.isfinite(t)
        & (det > 0)
    )
    t = np.where(ok, t, -np.inf)
    best = np.argmax(t, axis=1)
    rows = np.arange(sites)
    best_t = t[rows, best]
    found = np.isfinite(best_t)
    return (
        best_t,
        np.where(found, slope[rows, best], 0.0),
        np.where(found, best, -1).astype(np.float64),
    )


class DegradationState:
    """Per-site corrected daily losses and their noise over the last :data:`HISTORY_DAYS`."""

    def __init__(self, fleet: Fleet) -> None:
        n = fleet.n_sites
        self.features = orientation_features(fleet)
        self.region = fleet.region
        self.first = np.full((n, LEVEL_DAYS), np.nan)
        self.first_count = np.zeros(n, dtype=np.int64)
        self.level = np.full(n, np.nan)
        self.history = np.full((n, 0), np.nan)
        self.sigma = np.full((n, 0), np.nan)
        #: the daily losses as measured, before the common-mode correction (what another
        #: estimator, e.g. the benchmark's rdtools, can be given)
        self.daily_loss = np.full((n, 0), np.nan)

    def advance(self, index: FloatArray, sky: FloatArray, allowed: BoolArray) -> Symptom:
        """Take a day's performance index and mean sky index per site; ``allowed`` is False
        where another slow process explains a loss (soiling lately, under-performance).
        Returns the day's degradation symptom ``(sites, 1)``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = np.where((sky >= MIN_SKY) & (index > 0), -np.log(index), np.nan)
        usable = ~np.isnan(loss)
        learning = usable & (self.first_count < LEVEL_DAYS)
        rows = np.nonzero(learning)[0]
        self.first[rows, self.first_count[rows]] = loss[rows]
        self.first_count[rows] += 1
        done = (self.first_count == LEVEL_DAYS) & np.isnan(self.level)
        if done.any():
            self.level[done] = np.median(self.first[done], axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fit, sigma = common_mode(loss - self.level, self.features, self.region)
        corrected = np.where(np.isnan(sigma), np.nan, loss - np.nan_to_num(fit))
        keep = HISTORY_DAYS - 1
        self.history = np.concatenate([self.history[:, -keep:], corrected[:, None]], axis=1)
        self.sigma = np.concatenate([self.sigma[:, -keep:], sigma[:, None]], axis=1)
        self.daily_loss = np.concatenate([self.daily_loss[:, -keep:], loss[:, None]], axis=1)
        weight = np.where(np.isnan(self.sigma), 0.0, 1.0 / np.fmax(self.sigma, SIGMA_FLOOR) ** 2)
        t, slope, onset = hinge_trend(self.history, weight)
        rate = 100.0 * 365.0 * slope
        days = self.history.shape[1]
        since = np.where(onset >= 0, days - 1 - onset, np.nan)
        degrading = (
            allowed
            & (t >= T_MIN)
            & (rate >= RATE_MIN_PCT_PER_YEAR)
            & (rate <= RATE_MAX_PCT_PER_YEAR)
        )

        def col(a: FloatArray) -> FloatArray:
            return np.asarray(a, dtype=np.float64)[:, None]

        return Symptom(
            degrading[:, None],
            (usable & np.isfinite(t))[:, None],
            {
                "trend_pct_per_year": col(rate),
                "trend_t": col(np.where(np.isfinite(t), t, np.nan)),
                "loss_pct": col(100.0 * slope * since),
                "onset_days_ago": col(since),
            },
        )


DEGRADATION_RULE = Rule(
    FaultKind.DEGRADATION,
    "pv",
    need=1,
    clear_need=5,
    severity=lambda e: Severity.MINOR,
    explain=lambda e: (
        f"The solar output has been falling steadily for {e.get('onset_days_ago', 0):.0f} days "
        f"against the neighbours' systems, {e.get('loss_pct', 0):.1f} % so far (a trend of "
        f"{e.get('trend_pct_per_year', 0):.1f} % per year, where modules normally lose under "
        "1 % per year). Ask the installer to check the modules for degradation (discolouring, "
        "hot spots, potential-induced degradation); it may be a warranty case."
    ),
)
