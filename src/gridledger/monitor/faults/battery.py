"""Accumulator detectors: SoC against metered energy, commanded against actual power, capacity
fade, alarms.

The energy balance of a battery over any window is
``delta SoC x SoH x capacity = charged x eta - discharged / eta`` (one-way efficiency ``eta``,
the same model as :class:`gridledger.devices.Accumulator`). Its residual summed over a day is a few
watt-hours for a healthy battery (register and SoC rounding telescope); a drifting SoC estimate, a
recalibration jump, or a register that misses energy makes it grow. Neither pvanalytics nor
rdtools covers batteries, so these rules are written here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridledger.devices.models import BatteryAlarm
from gridledger.monitor.faults.model import FaultKind, Severity
from gridledger.monitor.faults.rules import Evidence, Rule, Symptom

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: SoC [0.1 %] outside which a battery may rightly sit idle (full, or at its reserve): a frozen
#: battery there is not called stuck.
IDLE_SOC_LOW = 130
IDLE_SOC_HIGH = 970

#: Window of the SoC balance [slots]: a day of 15-min slots.
BALANCE_WINDOW = 96
#: Residual over the window [fraction of capacity] and its floor [Wh] that count as inconsistent.
BALANCE_MAX_FRACTION = 0.025
BALANCE_MIN_WH = 150.0
#: Share of the window's slots that must have both readings.
BALANCE_MIN_COVERAGE = 0.75


def balance_residual_wh(
    stored_delta_wh: FloatArray,
    charged_wh: FloatArray,
    discharged_wh: FloatArray,
    efficiency: FloatArray,
) -> FloatArray:
    """Per slot, stored-energy change minus what the metered flows explain [Wh] (NaN if unknown).

    ``stored_delta_wh`` from SoC x SoH x capacity; ``charged_wh``/``discharged_wh`` the
    accumulator's import/export register deltas; ``efficiency`` one-way, per site.
    """
    eta = efficiency[:, None]
    explained = charged_wh * eta - discharged_wh / eta
    out: FloatArray = stored_delta_wh - explained
    return out


def soc_inconsistent(
    window_residual_wh: FloatArray, coverage: FloatArray, capacity_wh: FloatArray
) -> Symptom:
    """Window residual beyond tolerance: the SoC does not follow the metered energy."""
    limit = np.maximum(BALANCE_MAX_FRACTION * capacity_wh, BALANCE_MIN_WH)[:, None]
    evaluable = (coverage >= BALANCE_MIN_COVERAGE) & (capacity_wh[:, None] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * window_residual_wh / capacity_wh[:, None]
    return Symptom(
        np.abs(window_residual_wh) > limit,
        evaluable,
        {"residual_wh": window_residual_wh, "residual_pct_of_capacity": pct},
    )


INCONSISTENCY_RULE = Rule(
    FaultKind.BATTERY_INCONSISTENCY,
    "battery",
    need=2,
    clear_need=8,
    severity=lambda e: (
        Severity.MAJOR if abs(e.get("residual_pct_of_capacity", 0)) >= 10 else Severity.MINOR
    ),
    explain=lambda e: (
        "The battery's state of charge does not match the energy metered into and out of it: "
        f"over the last day it differs by {e.get('residual_wh', 0):+.0f} Wh "
        f"({e.get('residual_pct_of_capacity', 0):+.1f} % of capacity). The SoC estimate is "
        "drifting or a register misses energy; run a full charge to recalibrate it, and call the "
        "installer if it comes back."
    ),
)

#: Commanded power [W] below which a mismatch is not judged, and the tolerance [W, fraction].
COMMAND_MIN_W = 200.0
COMMAND_TOLERANCE_W = 200.0
COMMAND_TOLERANCE_FRACTION = 0.2


def command_mismatch(
    commanded_w: FloatArray, actual_w: FloatArray, soc_permille: FloatArray
) -> Symptom:
    """Actual power far from the controller's command while the SoC leaves room to follow it.

    Powers positive for discharge [W]. A command to discharge an empty battery (or to charge a
    full one) is not judged.
    """
    room = ((commanded_w > 0) & (soc_permille > 150)) | ((commanded_w < 0) & (soc_permille < 950))
    evaluable = (np.abs(commanded_w) >= COMMAND_MIN_W) & ~np.isnan(actual_w) & room
    tolerance = np.maximum(COMMAND_TOLERANCE_W, COMMAND_TOLERANCE_FRACTION * np.abs(commanded_w))
    with np.errstate(invalid="ignore"):
        symptom = np.abs(actual_w - commanded_w) > tolerance
    return Symptom(symptom, evaluable, {"commanded_w": commanded_w, "actual_w": actual_w})


COMMAND_RULE = Rule(
    FaultKind.BATTERY_COMMAND_MISMATCH,
    "battery",
    need=4,
    clear_need=2,
    severity=lambda e: Severity.MINOR,
    explain=lambda e: (
        f"The battery was asked for {e.get('commanded_w', 0):.0f} W but delivered "
        f"{e.get('actual_w', 0):.0f} W for an hour. It may be derating (temperature), limited by "
        "its own settings, or not receiving the commands; check its mode and limits in the app."
    ),
)

#: SunSpec 802 alarm bits that are faults (the SoC min/max *warnings* are normal operation).
ALARM_MASK = int(BatteryAlarm.COMMUNICATION_ERROR | BatteryAlarm.OVER_TEMP_ALARM)


def alarms(bits: IntArray, present: NDArray[np.bool_]) -> Symptom:
    """The battery reports a SunSpec 802 alarm bit in :data:`ALARM_MASK`."""
    raised = (bits & ALARM_MASK) != 0
    return Symptom(raised, present, {"alarm_bits": bits.astype(np.float64)})


def _alarm_names(e: Evidence) -> str:
    bits = int(e.get("alarm_bits", 0))
    names = [a.name.lower().replace("_", " ") for a in BatteryAlarm if a & bits and a.name]
    return ", ".join(names) or "an alarm"


ALARM_RULE = Rule(
    FaultKind.BATTERY_ALARM,
    "battery",
    need=1,
    clear_need=4,
    severity=lambda e: Severity.MAJOR,
    explain=lambda e: (
        f"The battery reports {_alarm_names(e)}. Follow the battery's manual for this alarm; if "
        "it persists, switch the battery off and call the installer."
    ),
)

#: Capacity fade: trailing window [days] of daily SoH, the slope [0.1 %/day] beyond normal ageing
#: (about 2-3 %/year is 0.05-0.08 per day; 1.5 %/month is 0.5 per day) and the least drop.
FADE_WINDOW_DAYS = 14
FADE_MAX_SLOPE = -0.5
FADE_MIN_DROP = 5.0


def fade(soh_days: FloatArray) -> Symptom:
    """Daily SoH ``(sites, days)`` [0.1 %] over the trailing window, latest day last.

    Returns a one-step symptom for the latest day: its OLS slope [0.1 %/day] below
    :data:`FADE_MAX_SLOPE` with a drop over the window of at least :data:`FADE_MIN_DROP`.
    """
    days = soh_days.shape[1]
    x = np.arange(days, dtype=np.float64)
    valid = ~np.isnan(soh_days)
    n = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = np.where(valid, x, 0).sum(axis=1) / n
        ym = np.nansum(soh_days, axis=1) / n
        dx = np.where(valid, x[None, :] - xm[:, None], 0.0)
        dy = np.where(valid, soh_days - ym[:, None], 0.0)
        slope = (dx * dy).sum(axis=1) / (dx * dx).sum(axis=1)
        first = np.nanmax(soh_days[:, : max(days // 3, 1)], axis=1, initial=-np.inf)
    drop = first - soh_days[:, -1]
    evaluable = (n >= FADE_WINDOW_DAYS * 2 // 3) & valid[:, -1]
    symptom = (slope <= FADE_MAX_SLOPE) & (drop >= FADE_MIN_DROP)
    per_month = slope * 30 / 10  # [%/month]
    return Symptom(
        symptom[:, None],
        evaluable[:, None],
        {"soh_pct": (soh_days[:, -1] / 10)[:, None], "fade_pct_per_month": per_month[:, None]},
    )


FADE_RULE = Rule(
    FaultKind.BATTERY_FADE,
    "battery",
    need=2,
    clear_need=5,
    severity=lambda e: Severity.MINOR,
    explain=lambda e: (
        f"The battery's state of health fell to {e.get('soh_pct', 0):.1f} %, losing "
        f"{-e.get('fade_pct_per_month', 0):.1f} % per month: far faster than normal ageing "
        "(2-3 % per year). Check that it is not kept hot or at full charge for long; ask the "
        "installer about the warranty."
    ),
)
