"""EV charging sessions: when each car is plugged in at home, and how much energy it needs.

Neither pvlib nor demandlib models home EV charging, and the open models that do (emobpy,
RAMP-mobility) are heavy agent simulations; this is a small seeded model of the kind used in
distribution-grid studies (evening arrival, morning departure, energy from the distance driven):

* each EV is plugged in on a local day with probability ``plug_probability``;
* arrival ~ N(``arrival_mean_h``, ``arrival_sd_h``) local time, clipped to 14:00..23:30; departure
  the next morning ~ N(``departure_mean_h``, ``departure_sd_h``), clipped to 05:00..11:00;
* energy needed [Wh] = daily distance [km] (log-normal, median ``daily_km_median``) x
  ``kwh_per_km``, capped by ``usable_kwh`` and by what the charger can deliver while plugged in.

A session is drawn from a generator seeded with (seed, local day of arrival), one row per EV, so a
session never depends on the window it is asked for: :meth:`EVFleet.sessions` returns every session
overlapping the window, with absolute slot numbers, identical in any chunking. Times are in slots:
the car is plugged for ``[arrival_slot, departure_slot)`` (whole slots only: arrival rounds up,
departure down); slot ``k`` starts at ``k * slot_s`` Unix seconds.

:func:`immediate_charging_wh` gives the "charge as soon as plugged in" energy per slot, the
baseline a controller can improve on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridledger.errors import ValidationError
from gridledger.slots import Slot

IntArray = npt.NDArray[np.int64]

_EV_STREAM = 0xE7C4A26E
_DAY_S = 86_400


@dataclass(frozen=True, eq=False)
class EVSessions:
    """Charging sessions as columns (one row per session), ordered by arrival then household.

    ``household``: column of the household; ``arrival_slot`` and ``departure_slot``: absolute slot
    numbers (``start_s // slot_s``), plugged in for ``[arrival, departure)``; ``energy_wh``: energy
    the car needs [Wh]; ``max_power_w``: the charger's power limit [W]; ``slot_s``: slot length [s].
    """

    household: IntArray
    arrival_slot: IntArray
    departure_slot: IntArray
    energy_wh: IntArray
    max_power_w: IntArray
    slot_s: int

    def __len__(self) -> int:
        return int(self.household.shape[0])


@dataclass(frozen=True, eq=False)
class EVFleet:
    """The EVs of one region. Build with :meth:`create`.

    ``households``: the household column of each EV; ``max_power_w``: charger limit per EV [W].
    """

    households: IntArray
    max_power_w: IntArray
    tz: str = "UTC"
    seed: int = 0
    plug_probability: float = 0.8
    arrival_mean_h: float = 18.0
    arrival_sd_h: float = 1.5
    departure_mean_h: float = 7.5
    departure_sd_h: float = 1.0
    daily_km_median: float = 30.0
    daily_km_sigma: float = 0.6
    kwh_per_km: float = 0.18
    usable_kwh: float = 50.0

    @classmethod
    def create(
        cls,
        households: Iterable[int] | npt.ArrayLike,
        max_power_w: npt.ArrayLike = 11_000,
        *,
        tz: str = "UTC",
        seed: int = 0,
        plug_probability: float = 0.8,
        daily_km_median: float = 30.0,
        kwh_per_km: float = 0.18,
        usable_kwh: float = 50.0,
    ) -> EVFleet:
        """Validate; ``max_power_w`` is one value for all EVs or one per EV [W]."""
        hh = np.atleast_1d(np.asarray(households, dtype=np.int64))
        if hh.ndim != 1 or (hh < 0).any() or len(np.unique(hh)) != len(hh):
            raise ValidationError("households must be distinct household columns >= 0, one per EV")
        power = np.asarray(max_power_w, dtype=np.int64)
        try:
            power = np.array(np.broadcast_to(power, hh.shape), dtype=np.int64)
        except ValueError:
            raise ValidationError(
                f"max_power_w has shape {power.shape}; give one value or one per EV ({len(hh)})"
            ) from None
        if (power <= 0).any():
            raise ValidationError("max_power_w must be > 0 [W] for every EV")
        if not 0.0 <= plug_probability <= 1.0:
            raise ValidationError(f"plug_probability {plug_probability} must be within 0..1")
        if daily_km_median <= 0 or kwh_per_km <= 0 or usable_kwh <= 0:
            raise ValidationError("daily_km_median, kwh_per_km and usable_kwh must be > 0")
        try:
            pd.Timestamp("2025-01-01", tz=tz)
        except Exception as exc:  # pandas raises several types for unknown zones
            raise ValidationError(
                f"unknown time zone {tz!r}; use an IANA name such as 'Europe/Berlin'"
            ) from exc
        return cls(
            hh,
            power,
            tz,
            seed,
            plug_probability,
            daily_km_median=daily_km_median,
            kwh_per_km=kwh_per_km,
            usable_kwh=usable_kwh,
        )

    def __len__(self) -> int:
        return int(self.households.shape[0])

    def _utc_offset_s(self, days: IntArray) -> IntArray:
        """UTC offset [s] of the region at local noon of each local day (days since 1970-01-01)."""
        noon = pd.DatetimeIndex(pd.to_datetime(days * _DAY_S + 43_200, unit="s"))
        aware = noon.tz_localize(self.tz)
        utc_s = aware.tz_convert("UTC").tz_localize(None).as_unit("s").asi8
        return np.asarray(noon.as_unit("s").asi8 - utc_s, dtype=np.int64)

    def _day(self, day: int, slot_s: int) -> tuple[IntArray, ...]:
        """Sessions arriving on local ``day``: (ev rows, arrival slot, departure slot, energy)."""
        rng = np.random.default_rng([self.seed % 2**64, _EV_STREAM, day + 2**31])
        # One row of four normals per EV: row j never depends on how many EVs follow it.
        draws = rng.standard_normal((len(self), 4))
        plugged = draws[:, 0] < _plug_threshold(self.plug_probability)
        z = draws[:, 1:]
        arrive_h = np.clip(self.arrival_mean_h + self.arrival_sd_h * z[:, 0], 14.0, 23.5)
        depart_h = np.clip(self.departure_mean_h + self.departure_sd_h * z[:, 1], 5.0, 11.0)
        km = self.daily_km_median * np.exp(self.daily_km_sigma * z[:, 2])
        offsets = self._utc_offset_s(np.array([day, day + 1], dtype=np.int64))
        arrive_s = day * _DAY_S + np.round(arrive_h * 3600).astype(np.int64) - offsets[0]
        depart_s = (day + 1) * _DAY_S + np.round(depart_h * 3600).astype(np.int64) - offsets[1]
        arrival = -(-arrive_s // slot_s)
        departure = depart_s // slot_s
        per_slot = self.max_power_w * slot_s // 3600
        need = np.round(np.minimum(km * self.kwh_per_km, self.usable_kwh) * 1000).astype(np.int64)
        energy = np.minimum(need, per_slot * np.maximum(departure - arrival, 0))
        rows = np.flatnonzero(plugged & (energy > 0))
        return rows, arrival[rows], departure[rows], energy[rows]

    def sessions(self, first: Slot, count: int) -> EVSessions:
        """Every session plugged in during any of ``count`` slots from ``first``."""
        if count < 0:
            raise ValidationError(f"count {count} must be >= 0 slots")
        slot_s = first.length_s
        lo, hi = first.start_s // slot_s, first.start_s // slot_s + count
        # Local days whose sessions can touch the window: a session lasts less than a day.
        first_day = (first.start_s - 2 * _DAY_S) // _DAY_S
        last_day = (first.start_s + count * slot_s + _DAY_S) // _DAY_S
        parts: list[tuple[IntArray, ...]] = []
        for day in range(first_day, last_day + 1):
            rows, arrival, departure, energy = self._day(day, slot_s)
            hit = (arrival < hi) & (departure > lo)
            parts.append((rows[hit], arrival[hit], departure[hit], energy[hit]))
        rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        arrival = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        departure = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
        energy = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, np.int64)
        order = np.lexsort((self.households[rows], arrival))
        return EVSessions(
            household=np.asarray(self.households[rows][order], dtype=np.int64),
            arrival_slot=np.asarray(arrival[order], dtype=np.int64),
            departure_slot=np.asarray(departure[order], dtype=np.int64),
            energy_wh=np.asarray(energy[order], dtype=np.int64),
            max_power_w=np.asarray(self.max_power_w[rows][order], dtype=np.int64),
            slot_s=slot_s,
        )


def _plug_threshold(probability: float) -> float:
    """The standard normal quantile below which a day has a session."""
    if probability >= 1.0:
        return math.inf
    if probability <= 0.0:
        return -math.inf
    return NormalDist().inv_cdf(probability)


def immediate_charging_wh(
    sessions: EVSessions, first: Slot, count: int, households: int
) -> IntArray:
    """Energy [Wh] each household's EV draws per slot when it charges at full power from arrival
    until the need is met, shape (count, households). Slots outside the window are left out."""
    if first.length_s != sessions.slot_s:
        raise ValidationError(
            f"sessions use {sessions.slot_s} s slots but the window uses {first.length_s} s"
        )
    out = np.zeros((count, households), dtype=np.int64)
    if len(sessions) == 0 or count == 0:
        return out
    if int(sessions.household.max()) >= households:
        raise ValidationError(
            f"a session belongs to household {int(sessions.household.max())} but the window has "
            f"only {households} households"
        )
    per_slot = sessions.max_power_w * sessions.slot_s // 3600
    n = -(-sessions.energy_wh // per_slot)
    idx = np.repeat(np.arange(len(sessions)), n)
    step = np.arange(len(idx)) - np.repeat(np.cumsum(n) - n, n)
    slot = sessions.arrival_slot[idx] + step
    last = step == n[idx] - 1
    wh = np.where(last, sessions.energy_wh[idx] - step * per_slot[idx], per_slot[idx])
    row = slot - first.start_s // first.length_s
    inside = (row >= 0) & (row < count)
    np.add.at(out, (row[inside], sessions.household[idx][inside]), wh[inside])
    return out
