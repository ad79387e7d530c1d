"""Meter detector: the BEC's import and export against the site's own devices.

At the grid connection, ``import - export`` (OBIS 1.8.0 - 2.8.0) must equal what the devices
behind it metered: ``load + charged - discharged - produced``. A persistent positive residual is
consumption no device meters (a load wired around the load meter, an unregistered heat pump or
charger); a negative one is production no device meters. This is a site energy balance, not a
series check, so pvanalytics has nothing for it.

Slots in which a device repeats itself (a stuck register, judged by
:mod:`gridledger.monitor.faults.registers`) or the load meter reports no consumption at all do not
enter the balance, so one broken meter is reported once, as what it is.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridledger.monitor.faults.model import FaultKind, Severity
from gridledger.monitor.faults.rules import Rule, Symptom

FloatArray = NDArray[np.float64]

#: Window of the balance [slots] (a day of 15-min slots) and the least unexplained energy [Wh].
BALANCE_WINDOW = 96
UNEXPLAINED_MIN_WH = 600.0
#: Share of the window's slots that must enter the balance.
MIN_COVERAGE = 0.5


def site_residual_wh(
    bec_import_wh: FloatArray,
    bec_export_wh: FloatArray,
    load_wh: FloatArray,
    charged_wh: FloatArray,
    discharged_wh: FloatArray,
    pv_wh: FloatArray,
) -> FloatArray:
    """Per slot, grid energy the devices do not explain [Wh]: positive = unmetered consumption."""
    devices = load_wh + charged_wh - discharged_wh - pv_wh
    out: FloatArray = (bec_import_wh - bec_export_wh) - devices
    return out


#: Share of the window's slots in which the BEC registers moved: a BEC that never moves is stuck
#: (judged by the stuck-register rule), not evidence of a hidden load.
MIN_BEC_MOVING = 0.3


def bypassed_load(
    window_residual_wh: FloatArray, coverage: FloatArray, bec_moving: FloatArray
) -> Symptom:
    """The day's unexplained grid energy beyond :data:`UNEXPLAINED_MIN_WH` either way."""
    evaluable = (coverage >= MIN_COVERAGE) & (bec_moving >= MIN_BEC_MOVING)
    return Symptom(
        np.abs(window_residual_wh) >= UNEXPLAINED_MIN_WH,
        evaluable,
        {"unexplained_wh_per_day": window_residual_wh},
    )


def _explain(e: dict[str, float] | object) -> str:
    value = e.get("unexplained_wh_per_day", 0.0) if isinstance(e, dict) else 0.0
    if value >= 0:
        return (
            f"The grid meter (BEC) counted {value:.0f} Wh more consumption over the last day than "
            "the site's own meters. A load is bypassing the load meter or is not registered (a "
            "heat pump, a charger on its own circuit); have the wiring checked and register it."
        )
    return (
        f"The grid meter (BEC) counted {-value:.0f} Wh more production over the last day than "
        "the site's own meters: a generator is not metered. Register it, or have the meters "
        "checked."
    )


BYPASS_RULE = Rule(
    FaultKind.BYPASSED_LOAD,
    "bec",
    need=4,
    clear_need=16,
    severity=lambda e: Severity.MINOR,
    explain=lambda e: _explain(dict(e)),
)
