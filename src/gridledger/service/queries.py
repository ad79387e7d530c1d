"""Every read and write of the store the service and the API make, in one place.

The store's row classes are being unified with the market's (``Order``/``Trade``) and
``Reading`` becomes ``ReadingRow``: only this module names them, and it hands the rest of the
service its own plain records (:class:`TradeRecord`, :class:`SettlementRecord`), so a change of
the store's rows is adapted here alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from gridledger.identity import checksum
from gridledger.store import Device, Reading, Region, Site, Store


@dataclass(frozen=True)
class TradeRecord:
    """A stored trade of a settled slot (Wh, micro-units, micro-units/kWh)."""

    region: str
    slot_start_s: int
    index: int
    bid_id: bytes
    ask_id: bytes
    buyer: bytes
    seller: bytes
    energy_wh: int
    price_micro_per_kwh: int
    amount_micro: int
    fee_micro: int


@dataclass(frozen=True)
class LastReading:
    """A device's newest stored reading: what a restarted device continues from (Wh, 0.1 %)."""

    sequence: int
    ts_ms: int
    import_wh: int
    export_wh: int
    soc_permille: int | None


@dataclass(frozen=True)
class SettlementRecord:
    region: str
    slot_start_s: int
    result_hash: bytes
    orders_root: bytes
    readings_root: bytes
    tx_hashes: tuple[bytes, ...]
    block_number: int
    settled_at_ms: int


@dataclass(frozen=True)
class OrderRecord:
    """A stored (settled) order: the fields the archive and the order list show."""

    order_id: bytes
    region: str
    slot_start_s: int
    side: int
    energy_wh: int
    price_micro_per_kwh: int
    owner: bytes
    nonce: int
    target: bytes | None


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

    def latest(self, site_id: str | None = None) -> dict[str, Reading]:
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

    def settlements(self, region: str) -> list[SettlementRecord]:
        return [
            SettlementRecord(
                s.region,
                s.slot_start_s,
                s.result_hash,
                s.orders_root,
                s.readings_root,
                tuple(s.tx_hashes),
                s.block_number,
                s.settled_at_ms,
            )
            for s in self.store.list_settlements(region)
        ]

    def settlement(self, region: str, slot_start_s: int) -> SettlementRecord | None:
        s = self.store.get_settlement(region, slot_start_s)
        if s is None:
            return None
        return SettlementRecord(
            s.region,
            s.slot_start_s,
            s.result_hash,
            s.orders_root,
            s.readings_root,
            tuple(s.tx_hashes),
            s.block_number,
            s.settled_at_ms,
        )

    def record_delivery(
        self,
        region: str,
        slot_start_s: int,
        readings_root: bytes,
        tx_hashes: tuple[bytes, ...],
        block_number: int,
    ) -> None:
        """Write a delivery the chain settled into the slot's stored settlement (its receipt)."""
        s = self.store.get_settlement(region, slot_start_s)
        if s is None:
            return
        extra = tuple(h for h in tx_hashes if h not in s.tx_hashes)
        self.store.update_settlement(
            replace(
                s,
                readings_root=readings_root,
                tx_hashes=tuple(s.tx_hashes) + extra,
                block_number=max(block_number, s.block_number),
            )
        )

    def trades(self, region: str, slot_start_s: int | None = None) -> list[TradeRecord]:
        return _trades(self.store.list_trades(region, slot_start_s))

    def trades_of(self, regions: Iterable[str], account: bytes) -> list[TradeRecord]:
        out: list[TradeRecord] = []
        for region in regions:
            out += [t for t in self.trades(region) if t.buyer == account or t.seller == account]
        return out

    def orders(self, region: str, slot_start_s: int | None = None) -> list[OrderRecord]:
        return [
            OrderRecord(
                o.order_id,
                o.region,
                o.slot_start_s,
                o.side,
                o.energy_wh,
                o.price_micro_per_kwh,
                bytes(o.owner),
                o.nonce,
                None if o.target is None else bytes(o.target),
            )
            for o in self.store.list_orders(region, slot_start_s)
        ]

    def max_nonce(self, region: str, owner: bytes) -> int:
        return max((o.nonce for o in self.orders(region) if o.owner == owner), default=-1)


def _trades(rows: Iterable[Any]) -> list[TradeRecord]:
    return [
        TradeRecord(
            t.region,
            t.slot_start_s,
            t.index,
            t.bid_id,
            t.ask_id,
            bytes(t.buyer),
            bytes(t.seller),
            t.energy_wh,
            t.price_micro_per_kwh,
            t.amount_micro,
            t.fee_micro,
        )
        for t in rows
    ]


def account(address: bytes) -> str:
    return checksum(address)
