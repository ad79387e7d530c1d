"""Excess-consumption alerts: a household is told when it draws well above its own usual for
that time of day.

``usual`` is the household's median consumption in the same slot of the day over its previous
``days`` days (the median, so one unusual evening does not move it); a slot is *excess* when its
consumption exceeds ``usual x ratio_permille / 1000 + margin_wh``. The margin keeps near-zero
usual values (a night slot) from alerting on every kettle. Slots of the first day have no
history and never alert. Everything is integer Wh over arrays ``(slots, households)``; the
operator turns an alert into an OpenADR ``ALERT_OTHER`` notice
(:func:`gridledger.operator.openadr.excess_notice`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gridledger.errors import ValidationError

I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Default threshold: half again the usual [per mille].
RATIO_PERMILLE = 1500
#: Default margin above the scaled usual [Wh per slot].
MARGIN_WH = 100
#: Days of history the usual is taken over.
HISTORY_DAYS = 7


def usual_consumption(consumption_wh: I64, slots_per_day: int, days: int = HISTORY_DAYS) -> I64:
    """Each slot's usual consumption [Wh]: the (lower) median of the same slot of the day over
    the previous ``days`` days; -1 where there is no previous day.

    ``consumption_wh`` is ``(slots, households)`` from the start of a day; ``slots`` must be a
    whole number of days."""
    c = np.asarray(consumption_wh, np.int64)
    if c.ndim != 2 or c.shape[0] % slots_per_day:
        raise ValidationError(
            f"consumption of shape {c.shape}: give (slots, households) of whole days of "
            f"{slots_per_day} slots"
        )
    d = c.shape[0] // slots_per_day
    by_day = c.reshape(d, slots_per_day, c.shape[1])
    usual = np.full_like(by_day, -1)
    for day in range(1, d):
        past = np.sort(by_day[max(0, day - days) : day], axis=0)
        usual[day] = past[(len(past) - 1) // 2]
    return usual.reshape(c.shape)


def excess_consumption(
    consumption_wh: I64,
    slots_per_day: int,
    *,
    ratio_permille: int = RATIO_PERMILLE,
    margin_wh: int = MARGIN_WH,
    days: int = HISTORY_DAYS,
) -> BoolArray:
    """``(slots, households)``: whether each slot's consumption is an excess over the
    household's own usual (see the module docstring)."""
    if ratio_permille < 1000 or margin_wh < 0:
        raise ValidationError("excess needs ratio_permille >= 1000 and margin_wh >= 0")
    usual = usual_consumption(consumption_wh, slots_per_day, days)
    threshold = usual * ratio_permille // 1000 + margin_wh
    return (usual >= 0) & (np.asarray(consumption_wh, np.int64) > threshold)
