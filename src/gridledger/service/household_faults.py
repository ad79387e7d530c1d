"""A household's faults through the API: listed to whoever may read the site, acknowledged by
its owner only (:func:`~gridledger.service.access.authorize`, action ``acknowledge_fault``).

The faults come from the store (:mod:`gridledger.service.plant_faults` writes them as the live
detectors raise, extend and close them), so they outlive a restart. Acknowledging says the owner
has seen an open fault; it stays ``acknowledged`` until its symptom goes away and it closes. A
closed fault cannot be acknowledged (409), an unknown id is not found (404).
"""

from __future__ import annotations

from gridledger.monitor import Fault, FaultStatus, fault_from_row, fault_row
from gridledger.service.access import Action, ConflictError, NotFoundError, Principal
from gridledger.service.events import Event
from gridledger.service.monitor import site_for
from gridledger.service.plant_faults import fault_event_data
from gridledger.service.plant_faults import fault_id as id_of
from gridledger.service.platform import Platform
from gridledger.store import from_ms


def faults_of(
    platform: Platform,
    principal: Principal | None,
    site_id: str,
    states: tuple[str, ...] | None = None,
) -> list[Fault]:
    """The site's faults (open, acknowledged, closed; or only ``states``), oldest first."""
    site_for(platform, principal, site_id, Action.READ_SITE)
    if platform.faults is not None:
        return platform.faults.faults_of(site_id, states)
    assert platform.store is not None
    return [fault_from_row(r) for r in platform.store.list_faults(site_id, states)]


def _acknowledge_stored(platform: Platform, site_id: str, fault_id: str, by: str) -> Fault | None:
    assert platform.store is not None
    rows = platform.store.list_faults(site_id)
    found = next((f for f in map(fault_from_row, rows) if id_of(f) == fault_id), None)
    if found is None or found.status is not FaultStatus.OPEN:
        return found
    acked = found.acknowledge(from_ms(platform.clock.now_ms()), by)
    platform.store.save_faults([fault_row(acked)])
    site = platform.store.get_site(site_id)
    region = site.region if site is not None else ""
    platform.bus.publish(
        Event("fault", region, fault_event_data(acked, "acknowledged"), site=site_id)
    )
    return acked


def acknowledge(
    platform: Platform, principal: Principal | None, site_id: str, fault_id: str
) -> Fault:
    """The owner acknowledges the open fault ``fault_id`` of ``site_id``; acknowledging an
    acknowledged fault again changes nothing."""
    site_for(platform, principal, site_id, Action.ACKNOWLEDGE_FAULT)
    assert principal is not None  # site_for refused the anonymous
    if platform.faults is not None:
        found = platform.faults.acknowledge(
            site_id, fault_id, principal.address, platform.clock.now_ms()
        )
    else:  # no region is watched live (no simulated households): the store's faults only
        found = _acknowledge_stored(platform, site_id, fault_id, principal.address)
    if found is None:
        raise NotFoundError(
            f"site {site_id!r} has no fault {fault_id!r}; list them with "
            f"GET /api/v1/sites/{site_id}/faults"
        )
    if found.status is FaultStatus.CLOSED:
        raise ConflictError(
            f"fault {fault_id!r} closed at {found.closed_at:%Y-%m-%d %H:%M} UTC: its symptom went "
            "away, there is nothing left to acknowledge"
        )
    return found
