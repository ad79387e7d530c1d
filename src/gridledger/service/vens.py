"""The live VENs: each simulated household's home controller follows its region's OpenADR events
in process, reacts within the slot, reports its response, and raises the household's alerts.

Every step of the neighbourhood (:meth:`Neighbourhood.step`, one per reading interval) asks
:meth:`LiveVens.adjust`; every slot's orders ask :meth:`LiveVens.slot_response`. What a household
that follows an event does (one that opted out of the event or its program does nothing: its
load, battery and orders are exactly those without the event):

* **import limit** (``IMPORT_CAPACITY_LIMIT``) or **load shed** (``SIMPLE`` >= 1, a limit of
  0) for a window: before the window it pre-charges its battery from the grid with what the
  window will need (the forecast net load above the limit, at half the charge limit); in the
  window it shifts :data:`FLEXIBLE_PERMILLE` of its load out (paid back after the window, at most
  that share again), its battery covers the net load above the limit (no more, so its charge
  lasts the window; down to the owner's reserve), and its bid is capped at the limit;
* **price** (``PRICE``): its orders are planned with the event's price for the slot instead of
  the tariff;
* **notice** (``ALERT_OTHER``): passed on to the household as an alert.

After a window ends each following household's VEN posts a report to the VTN: per slot its
*baseline* (the grid import [Wh] a shadow copy of its battery would have drawn: a shallow copy
made when the event became known, run on the unshifted load; its state is plain integers) and
its *usage* (the import it drew).

Alerts (stream kind ``alert``, to the site's owner only): ``event`` when an event that applies to
the household is posted or changed, ``notice`` for an operator's notice, and ``excess`` when a
slot's consumption is well above the household's own usual for that slot of the day
(:func:`gridledger.control.excess.excess_consumption`, over the days the service has run).
Everything is per region, vectorised over households where the work is per step.
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from gridledger.control.excess import HISTORY_DAYS, excess_consumption
from gridledger.control.flex_planner import UNLIMITED_WH
from gridledger.control.ven import VenFleet
from gridledger.devices.models import Accumulator
from gridledger.operator.openadr import (
    ALERT_OTHER,
    IMPORT_CAPACITY_LIMIT,
    PRICE,
    SIMPLE,
    Event,
    IntervalPeriod,
    Report,
    format_time,
)
from gridledger.service.events import Event as BusEvent
from gridledger.service.events import EventBus
from gridledger.service.neighbourhood import Neighbourhood, SlotResponse
from gridledger.service.vtn import Vtn

log = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Share of a household's load it shifts out of an event window [per mille].
FLEXIBLE_PERMILLE = 300
#: How far ahead a household pre-charges for a window [s].
PRECHARGE_HORIZON_S = 2 * 3600
#: Alerts kept per household for the app.
ALERTS_KEPT = 50
_MS_PER_H = 3_600_000


@dataclass
class _Track:
    """One household's response to one event window: slot range, per-slot baseline and usage
    [W*ms], and the shadow battery that gives the baseline."""

    event: Event
    household: int
    first_slot: int
    baseline_wms: list[int]
    usage_wms: list[int]
    shadow: Accumulator | None


@dataclass
class _Window:
    """Per household, the window that applies at a time: curtailed now, its import limit [W]."""

    curtailed: BoolArray
    limit_w: I64
    #: (household, start [ms], end [ms], limit [W]) of the windows coming within the horizon
    upcoming: list[tuple[int, int, int, int]] = field(default_factory=list)


class LiveVens:
    """The VENs of ``hood``'s households in ``region`` (module docstring)."""

    def __init__(
        self, region: str, hood: Neighbourhood, vtn: Vtn, bus: EventBus, slot_s: int
    ) -> None:
        self.region = region
        self.hood = hood
        self.vtn = vtn
        self.bus = bus
        self.slot_s = slot_s
        self.names = [s.site_id for s in hood.sites]
        self.n = len(self.names)
        self.deferred_wms = np.zeros(self.n, np.int64)
        self.tracks: dict[tuple[str, int], _Track] = {}
        self.alerts: dict[str, deque[dict[str, Any]]] = {
            name: deque(maxlen=ALERTS_KEPT) for name in self.names
        }
        # consumption of the running slot [W*ms] and of past days per slot of the day [Wh]
        self._slot: int | None = None
        self._slot_wms = np.zeros(self.n, np.int64)
        self.history: dict[int, deque[I64]] = {}
        vtn.listeners.append(self.on_event)
        hood.responder = self

    # --- who follows what ------------------------------------------------------------------------

    def fleet(self, program_id: str) -> VenFleet:
        """The region's VENs in ``program_id`` with the opt-outs recorded in the VTN."""
        fleet = VenFleet(self.n, program_id, 0, self.slot_s, self.names)
        programs, events = self.vtn.opt_outs()
        for i, name in enumerate(self.names):
            if (program_id, name) in programs:
                fleet.opt_out(i)
        for event_id, name in events:
            if name in fleet.index:
                fleet.opt_out(fleet.index[name], event_id)
        return fleet

    def following(self, event: Event) -> BoolArray:
        return self.fleet(event.program_id).following(event)

    def _windows(self, t_ms: int) -> _Window:
        """Which households an import-limit or shed window curtails at ``t_ms``, their limit,
        and the windows starting within :data:`PRECHARGE_HORIZON_S`."""
        curtailed = np.zeros(self.n, bool)
        limit = np.full(self.n, UNLIMITED_WH, np.int64)
        out = _Window(curtailed, limit)
        for event in self.vtn.events_of_region(self.region):
            if event.payload_type not in (IMPORT_CAPACITY_LIMIT, SIMPLE) or _end_ms(event) <= t_ms:
                continue  # past events cost nothing per step
            who = self.following(event)
            if not who.any():
                continue
            for k, value in enumerate(event.values()):
                w = event.window(k)
                start, end = _ms(w.start), _ms(w.end)
                level_w = 0 if event.payload_type == SIMPLE else int(float(value) * 1000)
                if event.payload_type == SIMPLE and int(value) < 1:
                    continue
                if start <= t_ms < end:
                    curtailed |= who
                    limit[who] = np.minimum(limit[who], level_w)
                elif t_ms < start <= t_ms + PRECHARGE_HORIZON_S * 1000:
                    out.upcoming += [(int(i), start, end, level_w) for i in np.flatnonzero(who)]
        return out

    # --- each step -------------------------------------------------------------------------------

    def adjust(
        self, now_ms: int, dt_ms: int, pv_w: I64, load_w: I64
    ) -> tuple[I64, list[int | None]]:
        """The load each household runs after shifting, and its battery set-point [W]."""
        t = now_ms - 1  # the step covers (now - dt, now]
        win = self._windows(t)
        self._start_tracks(t)
        load = load_w.copy()
        shifted = load * FLEXIBLE_PERMILLE // 1000
        load[win.curtailed] -= shifted[win.curtailed]
        self.deferred_wms[win.curtailed] += shifted[win.curtailed] * dt_ms
        payback = np.where(
            win.curtailed, 0, np.minimum(self.deferred_wms // max(dt_ms, 1), shifted)
        )
        load += payback
        self.deferred_wms -= payback * dt_ms
        setpoints: list[int | None] = [None] * self.n
        # in a window the battery covers the net load above the limit, no more (what it holds
        # must last the window); with a surplus it charges as usual
        net = load - pv_w
        for h in np.flatnonzero(win.curtailed):
            if net[h] > win.limit_w[h]:
                setpoints[h] = -int(net[h] - win.limit_w[h])
            elif net[h] >= 0:
                setpoints[h] = 0
        for i, start, end, limit_w in win.upcoming:
            acc = self._battery(i)
            if acc is None or win.curtailed[i]:
                continue
            need_wh = self._window_need_wh(i, start, end, limit_w)
            target = min(
                acc.capacity_wh, acc.capacity_wh * acc.reserve_soc_permille // 1000 + need_wh
            )
            if acc.stored_wh < target:
                setpoints[i] = max(setpoints[i] or 0, acc.max_charge_w // 2)
        return load, setpoints

    def _window_need_wh(self, i: int, start_ms: int, end_ms: int, limit_w: int) -> int:
        """What household ``i``'s battery should cover over a window [Wh]: its forecast net
        load, the flexible share shifted out, above the window's import limit [W]."""
        pv, load = self.hood.power_w((start_ms + end_ms) // 2)
        net = int(load[i]) * (1000 - FLEXIBLE_PERMILLE) // 1000 - int(pv[i]) - limit_w
        net_w = max(0, net)
        return net_w * (end_ms - start_ms) // _MS_PER_H

    def _battery(self, i: int) -> Accumulator | None:
        acc = self.hood.sites[i].find(Accumulator)
        return acc if isinstance(acc, Accumulator) else None

    def _start_tracks(self, t_ms: int) -> None:
        """Begin the baseline of every household that follows a limit/shed event not ended."""
        live = {e.id: e for e in self.vtn.events_of_region(self.region)}
        for key in [k for k in self.tracks if k[0] not in live]:
            del self.tracks[key]  # the event was deleted: nothing to report
        for event in live.values():
            if event.payload_type not in (IMPORT_CAPACITY_LIMIT, SIMPLE):
                continue
            first, last = self._slot_range(event)
            if t_ms >= last * self.slot_s * 1000:
                continue
            for i in np.flatnonzero(self.following(event)):
                key = (event.id, int(i))
                if key not in self.tracks:
                    acc = self._battery(int(i))
                    self.tracks[key] = _Track(
                        event, int(i), first, [0] * (last - first), [0] * (last - first),
                        copy.copy(acc) if acc is not None else None,
                    )  # fmt: skip

    def _slot_range(self, event: Event) -> tuple[int, int]:
        start = _ms(event.window(0).start) // 1000
        end = _ms(event.window(len(event.intervals) - 1).end) // 1000
        return start // self.slot_s, -(-end // self.slot_s)

    def observed(self, now_ms: int, dt_ms: int, pv_w: I64, load_w: I64, grid_w: I64) -> None:
        """Account the step: baselines and usage of the tracked windows, consumption for the
        excess alerts, reports of windows that ended."""
        t = now_ms - 1
        slot = t // 1000 // self.slot_s
        for (event_id, i), track in list(self.tracks.items()):
            balance = int(pv_w[i]) - int(load_w[i])
            shadow_grid = -balance
            if track.shadow is not None:
                shadow_grid = -(balance - track.shadow.dispatch(balance, dt_ms))
            k = slot - track.first_slot
            if 0 <= k < len(track.usage_wms) and self._in_window(track.event, t):
                track.baseline_wms[k] += max(0, shadow_grid) * dt_ms
                track.usage_wms[k] += max(0, int(grid_w[i])) * dt_ms
            if slot >= track.first_slot + len(track.usage_wms):
                self._report(track)
                del self.tracks[(event_id, i)]
        self._account_consumption(slot, load_w, dt_ms)

    def _in_window(self, event: Event, t_ms: int) -> bool:
        return any(
            _ms(event.window(k).start) <= t_ms < _ms(event.window(k).end)
            for k in range(len(event.intervals))
        )

    def _report(self, track: _Track) -> None:
        if not self.following(track.event)[track.household]:
            return  # opted out meanwhile: it did not respond
        name = self.names[track.household]
        start = datetime.fromtimestamp(track.first_slot * self.slot_s, UTC)
        report = Report(
            "", track.event.program_id, track.event.id, name, IntervalPeriod(start, self.slot_s),
            tuple(v // _MS_PER_H for v in track.baseline_wms),
            tuple(v // _MS_PER_H for v in track.usage_wms), resource=name,
        )  # fmt: skip
        stored = self.vtn.record_report(report)
        self._alert(
            track.household, "report",
            f"your home's response to {track.event.name or track.event.id}: drew "
            f"{sum(report.usage_wh)} Wh against a baseline of {sum(report.baseline_wh)} Wh",
            event_id=track.event.id, report_id=stored.id,
        )  # fmt: skip

    # --- orders ----------------------------------------------------------------------------------

    def slot_response(self, slot_start_s: int, slot_seconds: int, retail: int) -> SlotResponse:
        """What the households' orders for the slot follow (module docstring)."""
        mid_ms = (slot_start_s * 2 + slot_seconds) * 500
        win = self._windows(mid_ms)
        price = np.full(self.n, retail, np.int64)
        for event in self.vtn.events_of_region(self.region):
            if event.payload_type != PRICE or _end_ms(event) <= mid_ms:
                continue
            who = self.following(event)
            for k, value in enumerate(event.values()):
                w = event.window(k)
                if _ms(w.start) <= mid_ms < _ms(w.end):
                    price[who] = round(float(value) * 1e6)
        hours_ms = slot_seconds * 1000
        cap = np.where(win.curtailed, win.limit_w * hours_ms // _MS_PER_H, UNLIMITED_WH)
        precharge = np.zeros(self.n, np.int64)
        for i, start, end, limit_w in win.upcoming:
            acc = self._battery(i)
            if acc is None or win.curtailed[i]:
                continue
            target = acc.capacity_wh * acc.reserve_soc_permille // 1000 + self._window_need_wh(
                i, start, end, limit_w
            )
            room = max(0, min(acc.capacity_wh, target) - acc.stored_wh)
            precharge[i] = min(room, acc.max_charge_w // 2 * hours_ms // _MS_PER_H)
        return SlotResponse(
            price, win.curtailed, cap.astype(np.int64), precharge, FLEXIBLE_PERMILLE
        )

    # --- alerts ----------------------------------------------------------------------------------

    def on_event(self, region: str, event: Event) -> None:
        """An event was posted or changed: tell every household it applies to."""
        if region != self.region:
            return
        who = self.following(event)
        for i in np.flatnonzero(who):
            if event.payload_type == ALERT_OTHER:
                self._alert(int(i), "notice", str(event.values()[0]), event_id=event.id)
                continue
            first = event.window(0)
            last = event.window(len(event.intervals) - 1)
            what = {
                PRICE: "prices", IMPORT_CAPACITY_LIMIT: "an import limit", SIMPLE: "a load shed",
            }[event.payload_type]  # fmt: skip
            self._alert(
                int(i), "event",
                f"{event.name or 'an event'} affects your home: {what} from "
                f"{format_time(first.start)} to {format_time(last.end)}",
                event_id=event.id, start=format_time(first.start), end=format_time(last.end),
            )  # fmt: skip

    def _account_consumption(self, slot: int, load_w: I64, dt_ms: int) -> None:
        if self._slot is not None and slot != self._slot:
            self._close_slot(self._slot)
        if self._slot != slot:
            self._slot = slot
            self._slot_wms = np.zeros(self.n, np.int64)
        self._slot_wms += load_w.astype(np.int64) * dt_ms

    def _close_slot(self, slot: int) -> None:
        """A slot's consumption is complete: alert the households well above their usual."""
        per_day = 86_400 // self.slot_s
        past = self.history.setdefault(slot % per_day, deque(maxlen=HISTORY_DAYS))
        used = self._slot_wms // _MS_PER_H
        if past:
            days = np.stack([*past, used])
            excess = excess_consumption(days, 1, days=HISTORY_DAYS)[-1]
            for i in np.flatnonzero(excess):
                usual = int(np.sort(np.stack(list(past))[:, i])[(len(past) - 1) // 2])
                self._alert(
                    int(i), "excess",
                    f"your home used {int(used[i])} Wh in the slot from "
                    f"{format_time(datetime.fromtimestamp(slot * self.slot_s, UTC))}, well above "
                    f"its usual {usual} Wh for that time of day",
                    slot_start_s=slot * self.slot_s, used_wh=int(used[i]), usual_wh=usual,
                )  # fmt: skip
        past.append(used)

    def _alert(self, i: int, kind: str, text: str, **data: Any) -> None:
        site = self.names[i]
        body = {"site_id": site, "alert": kind, "text": text, **data}
        self.alerts[site].append(body)
        self.bus.publish(BusEvent("alert", self.region, body, site=site))


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _end_ms(event: Event) -> int:
    """When the last interval of ``event`` ends [Unix ms]."""
    return max(_ms(event.window(k).end) for k in range(len(event.intervals)))
