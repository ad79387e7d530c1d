"""The households' side of OpenADR 3 (each household controller a VEN), vectorised over a
region: read the operator's events, turn them into the planner's signals, honour opt-outs, and
report each household's baseline and actual response.

A VEN is named by its household index in the region (``"0"``, ``"1"``, ...) in event targets,
or by the name given in ``names`` (the live service names VENs by their site id).
A household may opt out of the whole program (it then follows no event at all: no price, no
shed, no limit, and its devices run as they would without demand response) or out of one event
(it ignores that event only). An opted-out household is never curtailed: :meth:`VenFleet.signals`
gives it no shed and no limit, which is what the tests check end to end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from gridledger.control.flex_planner import UNLIMITED_WH, Signals
from gridledger.errors import ValidationError
from gridledger.operator.openadr import (
    IMPORT_CAPACITY_LIMIT,
    PRICE,
    SIMPLE,
    Event,
    IntervalPeriod,
    Report,
)

I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class VenFleet:
    """The VENs of one region's ``households`` in ``program_id``; run slots of ``slot_s``
    seconds from ``start_s`` (UTC epoch seconds)."""

    def __init__(
        self,
        households: int,
        program_id: str,
        start_s: int,
        slot_s: int,
        names: Sequence[str] = (),
    ) -> None:
        if names and len(names) != households:
            raise ValidationError(f"{len(names)} VEN names for {households} households")
        self.n = households
        self.index = {name: i for i, name in enumerate(names)}
        self.program_id = program_id
        self.start_s = start_s
        self.slot_s = slot_s
        self.program_opt_out = np.zeros(households, bool)
        self.event_opt_out: dict[str, BoolArray] = {}

    def opt_out(self, household: int, event_id: str | None = None) -> None:
        """Opt ``household`` out of the program, or out of one event."""
        if not 0 <= household < self.n:
            raise ValidationError(f"no household {household}; the region has {self.n}")
        if event_id is None:
            self.program_opt_out[household] = True
        else:
            self.event_opt_out.setdefault(event_id, np.zeros(self.n, bool))[household] = True

    def following(self, event: Event) -> BoolArray:
        """Households that follow ``event``: targeted, in the program, not opted out."""
        if event.program_id != self.program_id:
            return np.zeros(self.n, bool)
        if event.targets:
            targeted = np.zeros(self.n, bool)
            idx = [self.index[t] for t in event.targets if t in self.index]
            idx += [int(t) for t in event.targets if t.isdigit() and int(t) < self.n]
            targeted[idx] = True
        else:
            targeted = np.ones(self.n, bool)
        out = targeted & ~self.program_opt_out
        opted = self.event_opt_out.get(event.id)
        return out & ~opted if opted is not None else out

    def _slots(self, event: Event, index: int) -> tuple[int, int]:
        window = event.window(index)
        a = (int(window.start.timestamp()) - self.start_s) // self.slot_s
        b = -(-(int(window.end.timestamp()) - self.start_s) // self.slot_s)
        return a, b

    def signals(
        self, events: Sequence[Event], first: int, count: int, default_price: I64
    ) -> Signals:
        """The signals of slots ``first .. first + count`` from ``events``.

        ``default_price`` (count,) [micro-units/kWh] is the price a household assumes where no
        ``PRICE`` event says otherwise (the published tariff)."""
        price = np.asarray(default_price, np.int64).copy()
        shed = np.zeros((self.n, count), bool)
        limit = np.full((self.n, count), UNLIMITED_WH, np.int64)
        for event in events:
            who = self.following(event)
            if not who.any():
                continue
            for i, value in enumerate(event.values()):
                a, b = self._slots(event, i)
                lo, hi = max(a - first, 0), min(b - first, count)
                if lo >= hi:
                    continue
                if event.payload_type == PRICE:
                    # prices are public; a household following the program plans with them
                    price[lo:hi] = round(float(value) * 1e6)
                elif event.payload_type == SIMPLE and int(value) >= 1:
                    shed[who, lo:hi] = True
                elif event.payload_type == IMPORT_CAPACITY_LIMIT:
                    wh = int(float(value) * 1000 * self.slot_s // 3600)
                    limit[who, lo:hi] = np.minimum(limit[who, lo:hi], wh)
        return Signals(first, price, shed, limit)

    def report(
        self, event: Event, household: int, baseline_wh: I64, usage_wh: I64, created: datetime
    ) -> Report:
        """A household's report on ``event``: per event slot its baseline (what it would have
        drawn without the event) and its usage [Wh]."""
        a = self._slots(event, 0)[0]
        b2 = self._slots(event, len(event.intervals) - 1)[1]
        if len(baseline_wh) != b2 - a or len(usage_wh) != b2 - a:
            raise ValidationError(f"report needs {b2 - a} values per series, one per slot")
        start = datetime.fromtimestamp(self.start_s + a * self.slot_s, UTC)
        return Report(
            f"{event.id}-{household}", self.program_id, event.id, str(household),
            IntervalPeriod(start, self.slot_s),
            tuple(int(v) for v in baseline_wh), tuple(int(v) for v in usage_wh), created,
        )  # fmt: skip
