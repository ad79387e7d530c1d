"""Recurring shading: a dip at the same solar positions, day after day.

Each day, every well-lit, mostly-direct-light slot of a site gets its ratio measured / expected
divided by the site's index of that day (so the site's overall level does not matter); a value
below :data:`DIP_RATIO` is a dip. A tree, a chimney or a new building takes the beam away at the
same sun positions every day, which over a week are the same slots of the day (the sun's path at a
given clock time moves by about one degree a day at most), so the state keeps the last
:data:`DAYS` days of dips per site and slot of the day. A slot of the day dipping on at least
:data:`MIN_DIPS` of the days it could be judged, at least :data:`MIN_SHARE` of them, recurs; a
site with :data:`MIN_SLOTS` recurring slots is shaded. A passing cloud over one house dips at
random times and does not recur.

Why not ``pvanalytics.features.shading.fixed``: it finds fixed shadows as lines in an image of a
year of one site's data (scikit-image, not installed here) and needs many clear days; it has no
incremental state and does not use the neighbours' sky.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridledger.monitor.faults.model import FaultKind, Severity
from gridledger.monitor.faults.rules import Rule, Symptom

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

DAYS = 7
DIP_RATIO = 0.85
MIN_DIPS = 3
MIN_SHARE = 0.6
MIN_SLOTS = 2
#: Slots judged: the region's clear-sky index and the beam share of plane-of-array light.
MIN_INDEX = 0.5
MIN_BEAM = 0.15
#: Low sun counts too (trees and neighbours shade mornings and evenings): from this elevation
#: [deg] and expected power [fraction of peak].
MIN_ELEVATION = 5.0
MIN_EXPECTED = 0.03


class ShadingState:
    """Dips of the last :data:`DAYS` days per site and slot of the day."""

    def __init__(self, n_sites: int, slots_per_day: int) -> None:
        self.dips = np.zeros((n_sites, DAYS, slots_per_day), dtype=np.bool_)
        self.judged = np.zeros((n_sites, DAYS, slots_per_day), dtype=np.bool_)

    def advance(self, ratio: FloatArray, day_index: FloatArray, judged: BoolArray) -> Symptom:
        """Take one day ``(sites, slots_per_day)``; return the day's symptom ``(sites, 1)``.

        ``ratio`` measured / expected per slot; ``day_index`` the day's performance index per
        site; ``judged`` the slots that can show a dip (good light, no other fault).
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = ratio / day_index[:, None]
        judged = judged & ~np.isnan(relative)
        dip = judged & (relative < DIP_RATIO)
        self.dips = np.concatenate([self.dips[:, 1:], dip[:, None]], axis=1)
        self.judged = np.concatenate([self.judged[:, 1:], judged[:, None]], axis=1)
        dips = self.dips.sum(axis=1)
        seen = self.judged.sum(axis=1)
        recurring = (dips >= MIN_DIPS) & (dips >= MIN_SHARE * np.maximum(seen, 1))
        count = recurring.sum(axis=1)
        symptom = count >= MIN_SLOTS
        evaluable = judged.sum(axis=1) >= 4
        with np.errstate(invalid="ignore", divide="ignore"):
            depth = np.where(dip & recurring, 1.0 - relative, np.nan)
            valid = np.sum(~np.isnan(depth), axis=1)
            mean_depth = np.where(valid > 0, np.nansum(depth, axis=1) / np.maximum(valid, 1), 0.0)
        slots = recurring.shape[1]
        first = np.where(count > 0, np.argmax(recurring, axis=1), -1).astype(np.float64)
        hour = np.where(first >= 0, first * 24.0 / slots, np.nan)
        return Symptom(
            symptom[:, None],
            evaluable[:, None],
            {
                "shaded_slots": count.astype(np.float64)[:, None],
                "shaded_min": (count * 1440.0 / slots)[:, None],
                "dip_pct": (100 * mean_depth)[:, None],
                "from_hour_utc": hour[:, None],
            },
        )


SHADING_RULE = Rule(
    FaultKind.SHADING,
    "pv",
    need=1,
    clear_need=3,
    severity=lambda e: Severity.MINOR,
    explain=lambda e: (
        f"Every sunny day, from about {e.get('from_hour_utc', 0):.1f} h UTC, the output drops "
        f"by {e.get('dip_pct', 0):.0f} % for {e.get('shaded_min', 0):.0f} minutes, at the "
        "same sun position: something casts a shadow on the modules (a tree, a chimney, a new "
        "building, scaffolding). Trim or remove it if you can; otherwise module optimisers limit "
        "the loss."
    ),
)
