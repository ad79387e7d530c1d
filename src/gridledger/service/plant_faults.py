"""Fault detection in the live service: one :class:`~gridledger.monitor.FaultMonitor` per region,
advanced slot by slot as the readings of each slot are in the store.

The region loop calls :meth:`PlantFaults.tick` on every step; once the clock has passed a slot's
end by ``grace_s`` (so the slot's last readings are ingested), the slots not yet judged are read
from the store (:func:`~gridledger.monitor.telemetry_from_store`) as one chunk and fed to the
region's monitor. Every fault that opens, extends or closes is written to the store's ``faults``
table (:meth:`~gridledger.store.Store.save_faults`, keyed by site, device, kind and first slot),
and one that opens or closes is published on the event bus as a ``fault`` event of its site (the
stream gives it to the site's owner, the region's operator and the admin).
:meth:`PlantFaults.faults_of` gives a site's faults from the store; :meth:`PlantFaults.acknowledge`
records that the owner has seen an open one (authorisation is the caller's:
:mod:`gridledger.service.household_faults`).

The monitors start at the first whole slot after the platform opened. After a restart the store's
open and acknowledged faults go back into the region's monitor before it judges its first slot:
a symptom that persists extends the same fault (no second one, no second ``opened`` event), one
that is gone closes it after the rule's clearing time; closed faults stay closed. The detectors'
other memory (run lengths, baselines) starts afresh, as the store keeps the readings and not the
detectors' state. Sites registered after the start are not watched until the next start.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from gridledger.errors import StoreError
from gridledger.monitor import (
    Fault,
    FaultBook,
    FaultMonitor,
    FaultStatus,
    fault_from_row,
    fault_row,
    fleet_from_store,
    telemetry_from_store,
)
from gridledger.service.events import Event, EventBus
from gridledger.store import Store, from_ms, to_ms

#: The states of a fault the monitor still judges.
ACTIVE_STATES = ("open", "acknowledged")

log = logging.getLogger(__name__)


def fault_id(fault: Fault) -> str:
    """A fault's stable id: device, kind and first slot [ms] (one active fault per key)."""
    return f"{fault.device}:{fault.kind}:{to_ms(fault.first_seen)}"


def fault_event_data(fault: Fault, change: str) -> dict[str, object]:
    """The ``fault`` event's data: ``change`` (``opened``/``acknowledged``/``closed``), the
    fault's JSON, its id and ``site_id`` (what the stream filter and the app match on)."""
    return {"change": change, "id": fault_id(fault), "site_id": fault.site, **fault.to_json()}


@dataclass
class _Region:
    monitor: FaultMonitor
    next_ms: int  # start of the first slot not judged yet [ms]
    #: faults the store could not take yet (it was down), by key and first slot: saved next tick
    unsaved: dict[tuple[str, str, str, int], Fault] = field(default_factory=dict)


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
        monitor = FaultMonitor(fleet, self.slot_s)
        watched = set(fleet.site_ids)
        for row in self.store.list_faults(states=ACTIVE_STATES):
            if row["site_id"] in watched:
                # an empty book takes the stored fault as it is (status, first_seen, evidence)
                monitor.book.raise_or_extend(fault_from_row(row))
        self._regions[region] = _Region(monitor, first)

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
            chunk_start = end - slots * slot_ms
            with self._lock:
                book = state.monitor.book
                before = {f.key: f for f in book.active()}
                state.monitor.advance(chunk)
                after = {f.key: f for f in book.active()}
                closed = [
                    f
                    for f in book.all()
                    if f.key in before
                    and f.key not in after
                    and f.closed_at is not None
                    and to_ms(f.closed_at) >= chunk_start
                ]
                state.next_ms = end  # judged: the monitor must not see these slots again
                self._save(state, [*after.values(), *closed])
            judged += slots
            for key, fault in after.items():
                if key not in before:
                    self._publish(region, fault, "opened")
            for fault in closed:
                self._publish(region, fault, "closed")
        return judged

    def _save(self, state: _Region, faults: list[Fault]) -> None:
        """Write ``faults`` (and what an earlier tick could not) to the store; if the store is
        down, keep them for the next tick (the store's upsert makes a late write harmless)."""
        for f in faults:
            state.unsaved[(f.site, f.device, str(f.kind), to_ms(f.first_seen))] = f
        try:
            self.store.save_faults(fault_row(f) for f in state.unsaved.values())
        except StoreError as exc:
            log.warning(
                "faults not stored yet (%d, retried next slot): %s", len(state.unsaved), exc
            )
            return
        state.unsaved.clear()

    def _publish(self, region: str, fault: Fault, change: str) -> None:
        log.info("fault %s: %s %s of %s", change, fault.kind, fault.device, fault.site)
        self.bus.publish(Event("fault", region, fault_event_data(fault, change), site=fault.site))

    def faults_of(self, site_id: str, states: tuple[str, ...] | None = None) -> list[Fault]:
        """The site's faults from the store (open, acknowledged and closed, or only ``states``),
        oldest first."""
        return [fault_from_row(r) for r in self.store.list_faults(site_id, states)]

    def acknowledge(self, site_id: str, fault_id_: str, by: str, at_ms: int) -> Fault | None:
        """:func:`acknowledge_fault` with the watching monitor's book (if the site is watched),
        so the monitor extends and closes the acknowledged fault."""
        name, state = next(
            ((n, r) for n, r in self._regions.items() if site_id in r.monitor.fleet.site_ids),
            ("", None),
        )
        with self._lock:
            book = state.monitor.book if state is not None else None
            return acknowledge_fault(
                self.store, self.bus, site_id, fault_id_, by, at_ms, book=book, region=name
            )


def acknowledge_fault(
    store: Store,
    bus: EventBus,
    site_id: str,
    fault_id_: str,
    by: str,
    at_ms: int,
    *,
    book: FaultBook | None = None,
    region: str = "",
) -> Fault | None:
    """The owner ``by`` (address) has seen the stored fault ``fault_id_`` of ``site_id`` at
    ``at_ms``: it stays ``acknowledged`` until it closes (in ``book`` too, when a monitor holds
    it), and a ``fault`` event with change ``acknowledged`` goes to the stream. Returns the fault
    as it is now (unchanged if it was acknowledged already or is closed: the caller refuses the
    closed one), ``None`` if the site has no such fault."""
    rows = store.list_faults(site_id)
    found = next((f for f in map(fault_from_row, rows) if fault_id(f) == fault_id_), None)
    if found is None or found.status is not FaultStatus.OPEN:
        return found
    at = from_ms(at_ms)
    acked = found.acknowledge(at, by)
    if book is not None:
        current = next((f for f in book.active(site_id) if f.key == found.key), None)
        if current is not None and current.first_seen == found.first_seen:
            acked = book.acknowledge(found.key, at, by)
    store.save_faults([fault_row(acked)])
    if not region:
        site = store.get_site(site_id)
        region = site.region if site is not None else ""
    log.info("fault acknowledged: %s %s of %s", acked.kind, acked.device, site_id)
    bus.publish(Event("fault", region, fault_event_data(acked, "acknowledged"), site=site_id))
    return acked


__all__ = ["ACTIVE_STATES", "PlantFaults", "acknowledge_fault", "fault_event_data", "fault_id"]
