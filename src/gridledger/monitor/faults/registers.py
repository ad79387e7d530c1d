"""Device-level detectors: stuck or stale registers, offline devices, clock drift.

Why not pvanalytics' ``quality.gaps.stale_values_diff`` / ``stale_values_round``: they flag any
run of repeated values in one series, which is what a healthy meter reports at night (PV), while a
battery idles at full, or while a battery balances the house (BEC at zero flow). A repeated value
is only a fault when energy must have flowed, and the site's other meters say whether it did: a
frozen PV meter while the BEC exports, a frozen BEC while the devices behind it draw power. That
cross-check needs every device of a site side by side, vectorised over sites and usable slot by
slot, so the rule is written here; the benchmark runs ``stale_values_diff`` on the same PV data
and prints both scores. Likewise ``quality.gaps.completeness_score`` measures a day's data
completeness after the fact; an offline device must be raised within the hour.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from numpy.typing import NDArray

from gridledger.monitor.faults.model import FaultKind, Severity
from gridledger.monitor.faults.rules import Evidence, Rule, Symptom

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Slots a device may repeat itself while energy flows before it is called stuck.
STUCK_NEED = 4
#: Unexplained energy [Wh per slot] at the BEC that says a repeating device is not idle.
STUCK_MIN_UNEXPLAINED_WH = 50.0
#: Slots without a reading before a device is called offline (an hour of 15-min slots: a lost
#: message or two is normal, four in a row are not).
OFFLINE_NEED = 4
#: A device clock this far [s] from the median of the site's devices is drifting.
CLOCK_MAX_OFFSET_S = 120.0
CLOCK_NEED = 4


def stuck_register(
    frozen: BoolArray,
    present: BoolArray,
    power_w: FloatArray,
    must_move: BoolArray,
    unexplained_wh: FloatArray,
) -> Symptom:
    """A device repeating the same registers and power while energy must have flowed.

    ``frozen``: the reading equals the previous one (registers, power, SoC); ``must_move``: the
    slot is one in which the device cannot be idle (daylight for PV, always for a load);
    ``unexplained_wh``: the site balance says this device moved energy it does not report (NaN if
    the balance is unknown). A repeated non-zero power with unchanged registers is itself
    impossible and counts at once.
    """
    impossible = frozen & (np.nan_to_num(power_w) != 0)
    crosscheck = frozen & (unexplained_wh >= STUCK_MIN_UNEXPLAINED_WH)
    evaluable = present & (must_move | ~np.isnan(unexplained_wh) | impossible)
    symptom = impossible | (frozen & must_move) | crosscheck
    return Symptom(symptom, evaluable, {"power_w": power_w, "unexplained_wh": unexplained_wh})


def stuck_since(
    frozen: BoolArray, hit: BoolArray, times_s: FloatArray, carry_s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """When the device's current frozen run was first shown stuck [s], per ``(site, slot)``.

    ``hit`` is the device's stuck symptom (only possible in a frozen slot); ``carry_s`` the first
    hit of the run still frozen at the end of the previous chunk (NaN: none). The result is the
    time of the run's first hit, NaN while the run has no hit yet or in a slot that moved. Also
    returns the carry for the next chunk.

    A frozen battery and a frozen BEC at zero flow explain each other (the battery may balance
    the house, or the BEC may be the one hiding the flow); which of the two is stuck is told by
    the first slot that only one of them explains. The frozen SoC of a stuck battery is stale, so
    once the battery is shown stuck, the BEC must not be blamed later in the same frozen run
    because that stale SoC reads "full" (and the other way round).
    """
    sites = frozen.shape[0]
    has = ~np.isnan(carry_s)
    t = np.concatenate(
        [np.where(has, carry_s, -1e18)[:, None], np.broadcast_to(times_s, frozen.shape)], axis=1
    )
    still = np.concatenate([has[:, None], frozen], axis=1)
    struck = np.concatenate([has[:, None], hit & frozen], axis=1)
    none = np.full((sites, 1), -np.inf)
    last_reset = np.maximum.accumulate(np.where(still, -np.inf, t), axis=1)
    last_hit = np.maximum.accumulate(np.where(struck, t, -np.inf), axis=1)
    prev_hit = np.concatenate([none, last_hit[:, :-1]], axis=1)
    first_mark = struck & (prev_hit <= last_reset)
    first_hit = np.maximum.accumulate(np.where(first_mark, t, -np.inf), axis=1)
    since = np.where(still & (last_hit > last_reset), first_hit, np.nan)[:, 1:]
    return since, since[:, -1].copy() if since.shape[1] else carry_s


def _stuck_explain(channel: str, e: Evidence) -> str:
    return (
        f"The {channel} meter keeps sending the same values although energy flows "
        f"({e.get('unexplained_wh', 0):.0f} Wh per slot that the other meters see). Its "
        "readings are stale: restart the meter or its gateway; if it stays frozen, have it "
        "replaced. Until then its energy is not counted correctly."
    )


def _offline_explain(channel: str, e: Evidence) -> str:
    return (
        f"The {channel} meter has sent no reading for {e.get('gap_min', 0):.0f} minutes. Check "
        "that it has power and that its network connection (Wi-Fi, gateway, SIM) works; "
        "its registers keep counting, so nothing is lost once it reconnects."
    )


def _clock_explain(channel: str, e: Evidence) -> str:
    return (
        f"The {channel} meter's clock is {e.get('offset_s', 0):+.0f} s off the other meters of "
        "the site. Its readings land in the wrong slot and may be refused as from the future; "
        "enable time synchronisation (NTP) on the device or its gateway."
    )


STUCK_RULES = {
    channel: Rule(
        FaultKind.STUCK_REGISTER,
        channel,
        need=STUCK_NEED,
        clear_need=2,
        severity=lambda e: Severity.MAJOR,
        explain=functools.partial(_stuck_explain, channel),
    )
    for channel in ("pv", "battery", "load", "bec")
}


def offline(present: BoolArray, gap_min: FloatArray) -> Symptom:
    """No reading in the slot; ``gap_min`` the minutes since the last reading (evidence)."""
    evaluable = np.ones_like(present)
    return Symptom(~present, evaluable, {"gap_min": gap_min})


OFFLINE_RULES = {
    channel: Rule(
        FaultKind.OFFLINE_DEVICE,
        channel,
        need=OFFLINE_NEED,
        clear_need=1,
        severity=lambda e: Severity.MAJOR if e.get("gap_min", 0) >= 360 else Severity.MINOR,
        explain=functools.partial(_offline_explain, channel),
    )
    for channel in ("pv", "battery", "load", "bec")
}


def clock_drift(offsets_s: FloatArray, channel: int) -> Symptom:
    """A device's clock far from the median clock of its site's devices.

    ``offsets_s`` is ``(channels, sites, slots)``: each device's reading timestamp minus the slot
    start [s], NaN where no reading; ``channel`` the device judged.
    """
    own = offsets_s[channel]
    others = np.delete(offsets_s, channel, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a slot where no other device reported
        reference = np.nanmedian(others, axis=0)
    count = np.sum(~np.isnan(others), axis=0)
    evaluable = ~np.isnan(own) & (count >= 2)
    drift = own - reference
    with np.errstate(invalid="ignore"):
        symptom = np.abs(drift) > CLOCK_MAX_OFFSET_S
    return Symptom(symptom, evaluable, {"offset_s": drift})


CLOCK_RULES = {
    channel: Rule(
        FaultKind.CLOCK_DRIFT,
        channel,
        need=CLOCK_NEED,
        clear_need=4,
        severity=lambda e: Severity.MINOR,
        explain=functools.partial(_clock_explain, channel),
    )
    for channel in ("pv", "battery", "load", "bec")
}
