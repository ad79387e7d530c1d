"""Every read and write of the store the service and the API make, in one place.

The store persists the market's own :class:`~gridledger.market.Order` and
:class:`~gridledger.market.Trade` and its :class:`~gridledger.store.Settlement`; the service uses
them as they are. A trade listed across slots comes as a :class:`PlacedTrade`: the market's trade
and where it sits (region, slot, index), not a second model of a trade.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gridledger.identity import checksum
from gridledger.market import Order, Trade
from gridledger.store import Device, ReadingRow, Region, Settlement, Site, Store


@dataclass(frozen=True)
class PlacedTrade:
    """A stored trade and its place: region, slot start [Unix s] and index in the slot's result."""

    region: str
    slot_start_s: int
    index: int
    trade: Trade


@dataclass(frozen=True)
class LastReading:
    """A device's newest stored reading: what a restarted device continues from (Wh, 0.1 %)."""

    sequence: int
    ts_ms: int
    import_wh: int
    export_wh: int
    soc_permille: int | None


class Queries:
    """The store as the service sees it."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- registry -------------------------------------------------------------------------------

    def ensure_region(self, region: str, operator: bytes) -> None:
        self.store.add_region(Region(region, region, operator))

    def regions(self) -> list[str]:
        return [r.region for r in self.store.list_regions()]

    def add_site(self, site_id: str, region: str, owner: bytes, at_ms: int) -> None:
        self.store.add_site(Site(site_id, region, owner, at_ms))

    def add_device(
        self, device_id: str, site_id: str, kind: str, address: bytes, params: dict[str, Any]
    ) -> None:
        self.store.add_device(Device(device_id, site_id, kind, address, 0, params))

    def site(self, site_id: str) -> Site | None:
        return self.store.get_site(site_id)

    def sites(self, region: str | None = None) -> list[Site]:
        return self.store.list_sites(region)

    def sites_of(self, owner: bytes) -> list[Site]:
        return [s for s in self.store.list_sites() if bytes(s.owner) == owner]

    def device(self, device_id: str) -> Device | None:
        return self.store.get_device(device_id)

    def devices(self, site_id: str) -> list[Device]:
        return self.store.list_devices(site_id)

    def has_meter(self, region: str, owner: bytes) -> bool:
        """Whether ``owner`` has a bidirectional energy counter (BEC) on a site of ``region``."""
        return any(
            d.kind == "bec"
            for s in self.sites_of(owner)
            if s.region == region
            for d in self.store.list_devices(s.site_id)
        )

    def household_count(self, region: str) -> int:
        return len({bytes(s.owner) for s in self.store.list_sites(region)})

    # --- readings -------------------------------------------------------------------------------

    def latest(self, site_id: str | None = None) -> dict[str, ReadingRow]:
        return self.store.latest_state(site_id)

    def last_readings(self) -> dict[str, LastReading]:
        """Every device's newest stored reading, by device id."""
        return {
            device_id: LastReading(
                r.sequence, r.ts_ms, r.import_wh or 0, r.export_wh or 0, r.soc_permille
            )
            for device_id, r in self.store.latest_state().items()
        }

    def latest_reading_ms(self) -> int | None:
        latest = self.store.latest_state()
        return max((r.ts_ms for r in latest.values()), default=None)

    def site_energy(
        self, site_id: str, start_ms: int, end_ms: int, interval_s: int
    ) -> list[tuple[int, str, int, int]]:
        """``(interval start ms, device kind, import Wh, export Wh)`` rows."""
        return [
            (e.start_ms, e.kind, e.import_wh, e.export_wh)
            for e in self.store.energy_per_interval(site_id, start_ms, end_ms, interval_s)
        ]

    def region_energy(
        self, region: str, start_ms: int, end_ms: int, interval_s: int
    ) -> list[tuple[int, str, int, int]]:
        return [
            (e.start_ms, e.kind, e.import_wh, e.export_wh)
            for e in self.store.region_energy_per_interval(region, start_ms, end_ms, interval_s)
        ]

    def rejection_counts(self) -> dict[str, int]:
        return self.store.rejection_counts()

    # --- market ---------------------------------------------------------------------------------

    def settlements(self, region: str) -> list[Settlement]:
        return self.store.list_settlements(region)

    def settlement(self, region: str, slot_start_s: int) -> Settlement | None:
        return self.store.get_settlement(region, slot_start_s)

    def trades(self, region: str, slot_start_s: int | None = None) -> list[PlacedTrade]:
        slots = (
            [slot_start_s]
            if slot_start_s is not None
            else [s.slot_start_s for s in self.store.list_settlements(region)]
        )
        return [
            PlacedTrade(region, slot, i, trade)
            for slot in slots
            for i, trade in enumerate(self.store.list_trades(region, slot))
        ]

    def trades_of(self, regions: Iterable[str], account: bytes) -> list[PlacedTrade]:
        me = checksum(account)
        return [
            t
            for region in regions
            for t in self.trades(region)
            if me in (t.trade.buyer, t.trade.seller)
        ]

    def orders(self, region: str, slot_start_s: int | None = None) -> list[Order]:
        return self.store.list_orders(region, slot_start_s)

    def max_nonce(self, region: str, owner: bytes) -> int:
        me = checksum(owner)
        return max((o.nonce for o in self.orders(region) if o.owner == me), default=-1)


def account(address: bytes) -> str:
    return checksum(address)
