"""Who is who: the roles of an address (admin, operator of regions, company, owner of sites) and
the households per region, looked up from the store and the regions and kept for a moment.

Every API request asks for its caller's principal and every market view for a region's household
count, so both are kept for :data:`PRINCIPAL_TTL_S` wall seconds and forgotten at once when an
account is registered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from gridledger.identity import Signer, checksum
from gridledger.service.access import Principal, Role
from gridledger.service.queries import Queries
from gridledger.service.region import RegionService

#: How long a principal and a household count are kept [wall seconds].
PRINCIPAL_TTL_S = 2.0


class Principals:
    """The roles of addresses, kept for :data:`PRINCIPAL_TTL_S` (module docstring)."""

    def __init__(
        self,
        admin: Signer,
        regions: Mapping[str, RegionService],
        queries: Callable[[], Queries],
    ) -> None:
        self._admin = admin
        self._regions = regions
        self._queries = queries  # the platform's, which exist only once it is open
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._counts: dict[str, tuple[float, int]] = {}

    def of(self, address: str) -> Principal:
        """The roles of ``address``: admin, operator of regions, company, owner of sites.

        Asked on every request: kept for :data:`PRINCIPAL_TTL_S` (wall seconds), and forgotten at
        once when an account is registered (:meth:`forget`)."""
        address = checksum(address)
        now = time.monotonic()
        cached = self._cache.get(address)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = self._look_up(address)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[address] = (now + PRINCIPAL_TTL_S, principal)
        return principal

    def forget(self) -> None:
        """A household, company or device was registered: roles are looked up again."""
        self._cache.clear()
        self._counts.clear()

    def household_count(self, region: str) -> int:
        """Households with a site in ``region`` (asked by every market view), kept like a
        principal; none is ever removed, so a kept count errs on the safe side of the >= 5 rule."""
        now = time.monotonic()
        cached = self._counts.get(region)
        if cached is not None and cached[0] > now:
            return cached[1]
        count = self._queries().household_count(region)
        self._counts[region] = (now + PRINCIPAL_TTL_S, count)
        return count

    def _look_up(self, address: str) -> Principal:
        raw = bytes.fromhex(address[2:])
        roles: set[Role] = set()
        operator_regions: set[str] = set()
        company_regions: set[str] = set()
        if raw == self._admin.address_bytes:
            roles.add(Role.ADMIN)
        for name, service in self._regions.items():
            if service.operator.operator.address_bytes == raw:
                operator_regions.add(name)
            if address in service.company_names:
                company_regions.add(name)
        owned = {s.site_id: s.region for s in self._queries().sites_of(raw)}  # site -> region
        if operator_regions:
            roles.add(Role.OPERATOR)
        if company_regions:
            roles.add(Role.COMPANY)
        if owned or not roles:
            roles.add(Role.HOUSEHOLD)
        return Principal(
            address,
            frozenset(roles),
            frozenset(owned),
            frozenset(company_regions),
            frozenset(operator_regions),
            frozenset(owned.values()),
        )


__all__ = ["PRINCIPAL_TTL_S", "Principals"]
