"""PV detectors that judge one slot at a time: outage and inverter clipping.

Both compare the measured AC power with the expected power of
:mod:`gridledger.monitor.expected` (clear sky x the region's clear-sky index from the neighbours).

Why not pvanalytics here: ``pvanalytics.features.daytime.power_or_irradiance`` infers day and
night from the power series itself (it needs days of history and cannot tell "night" from "an
inverter that is off"), while pvlib's solar position says it exactly; ``pvanalytics`` clipping
functions (``geometric``, ``levels``, ``threshold``) look at one site's whole history as a pandas
series and have no incremental state. The checks below are the same ideas (a flat top while the
sky would give more; zero output while the sun is up) vectorised over sites, usable slot by slot,
and with the neighbours' sky as the reference. The benchmark runs ``pvanalytics.features.clipping
.geometric`` beside the clipping rule.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridledger.monitor.faults.model import FaultKind, Severity
from gridledger.monitor.faults.rules import Evidence, Rule, Symptom

FloatArray = NDArray[np.float64]

#: Expected power [fraction of peak] above which a slot can show an outage.
OUTAGE_MIN_EXPECTED = 0.03
#: Without neighbours: clear-sky power [fraction of peak] above which even an overcast sky gives
#: a few percent of peak (diffuse light), so zero output means the system is off.
OUTAGE_MIN_CLEAR_ALONE = 0.3
#: Measured power at most this fraction of peak and of expected counts as "nothing".
OUTAGE_MAX_POWER = 0.01
OUTAGE_MAX_RATIO = 0.1
#: Slots of daylight with nothing produced before an outage is raised (30 min of 15-min slots).
OUTAGE_NEED = 2


def outage(
    measured_w: FloatArray,
    expected_w: FloatArray,
    clear_w: FloatArray,
    peak_w: FloatArray,
    hidden_pv_wh: FloatArray,
    expected_wh: FloatArray,
) -> Symptom:
    """Production near zero while the region produces (or, alone, while the sun is high).

    ``hidden_pv_wh`` is the production the BEC sees that the PV meter does not report (minus the
    site balance residual, NaN if unknown): if the BEC sees the production, the *meter* is stuck,
    not the inverter, and :func:`gridledger.monitor.faults.registers.stuck_register` reports it.
    """
    peak = peak_w[:, None]
    alone = np.isnan(expected_w)
    evaluable = np.where(
        alone, clear_w >= OUTAGE_MIN_CLEAR_ALONE * peak, expected_w >= OUTAGE_MIN_EXPECTED * peak
    )
    evaluable &= ~np.isnan(measured_w) & (peak > 0)
    reference = np.where(alone, OUTAGE_MIN_CLEAR_ALONE * clear_w, expected_w)
    nothing = (measured_w <= OUTAGE_MAX_POWER * peak) & (measured_w <= OUTAGE_MAX_RATIO * reference)
    seen_by_bec = hidden_pv_wh > 0.5 * expected_wh  # NaN compares False: no BEC, no veto
    return Symptom(
        nothing & ~seen_by_bec,
        evaluable,
        {"measured_w": measured_w, "expected_w": expected_w, "clear_sky_w": clear_w},
    )


def _outage_explain(e: Evidence) -> str:
    expected = e.get("expected_w")
    ref = f"about {expected:.0f} W" if expected is not None else "power (the sun was high)"
    return (
        f"The solar system produced {e.get('measured_w', 0):.0f} W while it should have produced "
        f"{ref}, judging from the neighbours. Check the inverter display and the PV breaker or "
        "isolator; if the inverter shows an error, call the installer."
    )


OUTAGE_RULE = Rule(
    FaultKind.OUTAGE,
    "pv",
    need=OUTAGE_NEED,
    clear_need=2,
    severity=lambda e: Severity.MAJOR,
    explain=_outage_explain,
)

#: Clipping window [slots]: the measured power stays within ``CLIP_FLAT`` of peak while the
#: clear-sky power changes by at least ``CLIP_SKY_CHANGE`` over the window, under a clear sky.
CLIP_WINDOW = 8
CLIP_FLAT = 0.008
CLIP_SKY_CHANGE = 0.06
CLIP_MIN_INDEX = 0.8


def clipping(
    measured_w: FloatArray,
    clear_w: FloatArray,
    index: FloatArray,
    peak_w: FloatArray,
    carry_measured: FloatArray,
    carry_clear: FloatArray,
    carry_index: FloatArray,
) -> Symptom:
    """A flat top at a fixed power while a clear sky would give a changing, higher power.

    ``carry_*`` are the last ``CLIP_WINDOW - 1`` slots of the previous chunk ``(sites, w - 1)``.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    def windows(carry: FloatArray, values: FloatArray) -> FloatArray:
        full = np.concatenate([carry, values], axis=1)
        view: FloatArray = sliding_window_view(full, CLIP_WINDOW, axis=1)
        return view

    peak = peak_w[:, None]
    m = windows(carry_measured, measured_w)
    c = windows(carry_clear, clear_w)
    k = windows(carry_index, index)
    with np.errstate(invalid="ignore"):
        m_range = np.max(m, axis=2) - np.min(m, axis=2)
        c_range = np.max(c, axis=2) - np.min(c, axis=2)
        level = np.min(m, axis=2)
        sunny = np.min(k, axis=2) >= CLIP_MIN_INDEX
    evaluable = sunny & (level >= 0.4 * peak) & (c_range >= CLIP_SKY_CHANGE * peak)
    evaluable &= ~np.isnan(m_range)
    flat = m_range <= CLIP_FLAT * peak
    limit = np.max(m, axis=2)
    with np.errstate(invalid="ignore"):
        lost = np.maximum(np.max(c, axis=2) * np.min(k, axis=2) - limit, 0.0)
    return Symptom(
        flat, evaluable, {"limit_w": limit, "clear_sky_w": np.max(c, axis=2), "lost_w": lost}
    )


CLIPPING_RULE = Rule(
    FaultKind.CLIPPING,
    "pv",
    need=2,
    clear_need=40,
    severity=lambda e: Severity.INFO,
    explain=lambda e: (
        f"On clear middays the output stays flat at about {e.get('limit_w', 0):.0f} W: the "
        "inverter limits the power (clipping). Nothing is broken; if it happens often, a larger "
        "inverter or a battery charging at midday would use the energy that is cut."
    ),
)
