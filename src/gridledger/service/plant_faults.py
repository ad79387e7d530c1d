"""Fault detection in the live service: one :class:`~gridledger.monitor.FaultMonitor` per region,
advanced slot by slot as the readings of each slot are in the store.

The region loop calls :meth:`PlantFaults.tick` on every step; once the clock has passed a slot's
end by ``grace_s`` (so the slot's last readings are ingested), the slots not yet judged are read
from the store (:func:`~gridledger.monitor.telemetry_from_store`) as one chunk and fed to the
region's monitor. A fault that opens or closes is published on the event bus as a ``fault`` event
of its site (the stream gives it to the site's owner, the region's operator and the admin), and
:meth:`PlantFaults.faults_of` gives a site's open and closed faults to the API.

The monitors start at the first whole slot after the platform opened and keep their faults in
memory: a restart judges again from its own start (the store keeps the readings, so
``gridledger faults --site S`` still sees the history). Sites registered after the start are not
watched until the next start.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from gridledger.monitor import Fault, FaultMonitor, fleet_from_store, telemetry_from_store
from gridledger.service.events import Event, EventBus
from gridledger.store import Store, from_ms, to_ms

log = logging.getLogger(__name__)


def fault_id(fault: Fault) -> str:
    """A fault's stable id: device, kind and first slot [ms] (one active fault per key)."""
    return f"{fault.device}:{fault.kind}:{to_ms(fault.first_seen)}"


def fault_event_data(fault: Fault, change: str) -> dict[str, object]:
    """The ``fault`` event's data: ``change`` (``opened``/``closed``), the fault's JSON, its id
    and ``site_id`` (what the stream filter and the app match on)."""
    return {"change": change, "id": fault_id(fault), "site_id": fault.site, **fault.to_json()}


@dataclass
class _Region:
    monitor: FaultMonitor
    next_ms: int  # start of the first slot not judged yet [ms]


class PlantFaults:
    """The live fault detection of every watched region (module docstring).

    ``slot_s`` the monitor's slot [s]; ``grace_s`` how long after a slot's end its readings are
    taken as complete [clock s]; ``latitude``/``longitude`` [deg] of PV arrays that do not
    register their own."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        *,
        slot_s: int,
        grace_s: int,
        latitude: float,
        longitude: float,
    ) -> None:
        self.store = store
        self.bus = bus
        self.slot_s = slot_s
        self.grace_s = grace_s
        self.latitude = latitude
        self.longitude = longitude
        self._regions: dict[str, _Region] = {}
        self._lock = threading.Lock()

    def watch(self, region: str, start_ms: int) -> None:
        """Judge ``region``'s sites that have devices from the first slot at or after
        ``start_ms`` on."""
        sites = [
            s.site_id for s in self.store.list_sites(region) if self.store.list_devices(s.site_id)
        ]
        if not sites:
            return
        fleet = fleet_from_store(
            self.store, sites, latitude=self.latitude, longitude=self.longitude
        )
        slot_ms = self.slot_s * 1000
        first = -(-start_ms // slot_ms) * slot_ms
        self._regions[region] = _Region(FaultMonitor(fleet, self.slot_s), first)

    def tick(self, now_ms: int) -> int:
        """Judge every slot that ended ``grace_s`` before ``now_ms``; publish what opened or
        closed. Returns the number of slots judged (over all regions)."""
        slot_ms = self.slot_s * 1000
        end = (now_ms - self.grace_s * 1000) // slot_ms * slot_ms
        judged = 0
        for region, state in self._regions.items():
            if end <= state.next_ms:
                continue
            slots = (end - state.next_ms) // slot_ms
            fleet = state.monitor.fleet
            chunk = telemetry_from_store(
                self.store, fleet, from_ms(state.next_ms), slots, self.slot_s
            )
            with self._lock:
                book = state.monitor.book
                before = {f.key: f for f in book.active()}
                state.monitor.advance(chunk)
                after = {f.key: f for f in book.active()}
                closed = [f for f in book.all() if f.key in before and f.key not in after]
            state.next_ms = end
            judged += slots
            for key, fault in after.items():
                if key not in before:
                    self._publish(region, fault, "opened")
            for fault in closed:
                if fault.closed_at is not None and to_ms(fault.closed_at) >= end - slots * slot_ms:
                    self._publish(region, fault, "closed")
        return judged

    def _publish(self, region: str, fault: Fault, change: str) -> None:
        log.info("fault %s: %s %s of %s", change, fault.kind, fault.device, fault.site)
        self.bus.publish(Event("fault", region, fault_event_data(fault, change), site=fault.site))

    def faults_of(self, site_id: str) -> list[Fault]:
        """The site's open, acknowledged and closed faults, oldest first."""
        with self._lock:
            for state in self._regions.values():
                if site_id in state.monitor.fleet.site_ids:
                    return state.monitor.book.all(site_id)
        return []


__all__ = ["PlantFaults", "fault_event_data", "fault_id"]
