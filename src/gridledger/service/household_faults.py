"""A household's faults through the API: listed to whoever may read the site, acknowledged by
its owner only (:func:`~gridledger.service.access.authorize`, action ``acknowledge_fault``).

The faults come from the store (:mod:`gridledger.service.plant_faults` writes them as the live
detectors raise, extend and close them), so they outlive a restart. Acknowledging says the owner
has seen an open fault; it stays ``acknowledged`` until its symptom goes away and it closes. A
closed fault cannot be acknowledged (409), an unknown id is not found (404).
"""

from __future__ import annotations

from gridledger.monitor import Fault, FaultStatus, fault_from_row
from gridledger.service.access import Action, ConflictError, NotFoundError, Principal
from gridledger.service.monitor import site_for
from gridledger.service.plant_faults import acknowledge_fault
from gridledger.service.platform import Platform


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
        assert platform.store is not None
        found = acknowledge_fault(
            platform.store, platform.bus, site_id, fault_id, principal.address,
            platform.clock.now_ms(),
        )  # fmt: skip
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
