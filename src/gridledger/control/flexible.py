"""Flexible loads with an energy deadline, for many households at once: EV charging and
shiftable loads (a heat-pump water heater, a dishwasher), vectorised with numpy.

Each household has at most one open *session* per device: it opens at run slot ``arrival``,
must have received ``needed_wh`` [Wh] before run slot ``departure`` (exclusive) and draws at most
``limit_wh`` per slot (its power limit [W] as energy per slot, floor). Comfort is a hard
constraint: :meth:`DeadlineLoads.bounds` gives, per household, the least energy this slot must
take so that the rest still fits before the deadline at full power (``must_wh``) and the most it
may take (``may_wh``); a controller choosing between them can never miss a deadline that was
reachable when the session opened. A session that closes short counts as a miss.

An EV (:func:`ev_charging`) plugs in at arrival and leaves at departure; a water heater
(:func:`shiftable_load`) has a window in which its tank must be reheated. Both are the same
mathematics, so they are one class with two constructors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridledger.errors import ValidationError

I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Slot index meaning "no session".
NO_SESSION = -1


@dataclass
class DeadlineLoads:
    """One kind of deadline-bound device in every household of a region (int64 arrays, one
    entry per household): ``limit_wh`` per slot, the open session's ``arrival``/``departure``
    [run slots], ``needed_wh``/``delivered_wh`` [Wh]; ``misses`` and ``short_wh`` count the
    sessions closed short and the energy missing [Wh]."""

    name: str
    limit_wh: I64
    arrival: I64
    departure: I64
    needed_wh: I64
    delivered_wh: I64
    misses: I64
    short_wh: I64

    @classmethod
    def of(cls, name: str, power_w: I64, slot_hours: float) -> DeadlineLoads:
        """No open sessions; ``power_w`` [W] per household (0: no such device)."""
        power = np.asarray(power_w, np.int64)
        n = len(power)
        if (power < 0).any():
            raise ValidationError(f"{name}: power limits must be >= 0 W")
        return cls(
            name, np.floor(power * slot_hours).astype(np.int64), np.full(n, NO_SESSION, np.int64),
            np.full(n, NO_SESSION, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64),
            np.zeros(n, np.int64), np.zeros(n, np.int64),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.limit_wh)

    def open(self, households: I64, arrival: I64, departure: I64, needed_wh: I64) -> None:
        """Open sessions for ``households`` (closing any still open, counted like a departure).

        A session needing more than ``limit_wh x (departure - arrival)`` is infeasible at any
        control and is refused: fix the profile or the power limit."""
        idx = np.asarray(households, np.int64)
        arr = np.asarray(arrival, np.int64)
        dep = np.asarray(departure, np.int64)
        need = np.asarray(needed_wh, np.int64)
        if (dep <= arr).any() or (need < 0).any():
            raise ValidationError(f"{self.name}: sessions need departure > arrival, energy >= 0")
        if (need > self.limit_wh[idx] * (dep - arr)).any():
            raise ValidationError(
                f"{self.name}: a session needs more energy than its power limit can deliver "
                "before its departure; lower the energy or raise the power limit"
            )
        self._close(idx)
        self.arrival[idx] = arr
        self.departure[idx] = dep
        self.needed_wh[idx] = need
        self.delivered_wh[idx] = 0

    def _close(self, idx: I64) -> None:
        open_ = self.arrival[idx] != NO_SESSION
        short = np.where(open_, np.maximum(self.needed_wh[idx] - self.delivered_wh[idx], 0), 0)
        self.misses[idx] += short > 0
        self.short_wh[idx] += short
        self.arrival[idx] = NO_SESSION
        self.departure[idx] = NO_SESSION
        self.needed_wh[idx] = 0
        self.delivered_wh[idx] = 0

    def close_due(self, slot: int) -> None:
        """Close the sessions whose departure is at or before ``slot``."""
        due = np.flatnonzero((self.departure != NO_SESSION) & (self.departure <= slot))
        if len(due):
            self._close(due)

    def remaining_wh(self) -> I64:
        """Energy still needed by each open session [Wh] (0 without one)."""
        return np.asarray(np.maximum(self.needed_wh - self.delivered_wh, 0), np.int64)

    def active(self, slot: int) -> BoolArray:
        """Households whose session is open in ``slot``."""
        open_ = (self.arrival != NO_SESSION) & (self.arrival <= slot) & (slot < self.departure)
        return np.asarray(open_, bool)

    def bounds(self, slot: int) -> tuple[I64, I64]:
        """``(must_wh, may_wh)`` of every household in ``slot`` (see the module docstring)."""
        act = self.active(slot)
        rem = self.remaining_wh()
        left = np.maximum(self.departure - slot, 1)
        may = np.where(act, np.minimum(self.limit_wh, rem), 0)
        must = np.where(act, np.clip(rem - (left - 1) * self.limit_wh, 0, may), 0)
        return must, may

    def available(self, first: int, count: int) -> BoolArray:
        """``(households, count)``: whether the session is open in each of slots ``first..``."""
        slots = np.arange(first, first + count, dtype=np.int64)[None, :]
        open_ = (
            (self.arrival[:, None] != NO_SESSION)
            & (self.arrival[:, None] <= slots)
            & (slots < self.departure[:, None])
        )
        return np.asarray(open_, bool)

    def deliver(self, slot: int, energy_wh: I64) -> None:
        """Record this slot's energy [Wh]; it must lie within :meth:`bounds`."""
        must, may = self.bounds(slot)
        wh = np.asarray(energy_wh, np.int64)
        if (wh < must).any() or (wh > may).any():
            raise ValidationError(
                f"{self.name}: energy outside [must, may] of slot {slot}; plan within bounds()"
            )
        self.delivered_wh += wh


def ev_charging(power_w: I64, slot_hours: float) -> DeadlineLoads:
    """EV chargers with power limits ``power_w`` [W] (0: no EV)."""
    return DeadlineLoads.of("ev", power_w, slot_hours)


def shiftable_load(power_w: I64, slot_hours: float, name: str = "water_heater") -> DeadlineLoads:
    """A shiftable load (heat-pump water heater, appliance) of power ``power_w`` [W]."""
    return DeadlineLoads.of(name, power_w, slot_hours)
