"""Replay the store against the chain: ``gridledger verify``.

:func:`verify_store` walks every settlement the store recorded, region by region and slot by
slot, and re-derives from the **stored rows** what the chain must say:

* each stored order: its id recomputed from its stored fields (EIP-712 struct hash) must equal the
  stored ``order_id`` (the store checks that as it reads the row), and its stored signature must
  recover to its stored owner under the market's EIP-712 domain (chain id and market contract);
* each stored trade (the market's :class:`~gridledger.market.Trade`) is compared with its
  ``TradeSettled`` event (ids, parties, energy, price, amount, fee) in index order, and must name
  two of the slot's stored orders;
* the stored settlement's roots must equal the slot's record on chain;
* once delivery is settled: each stored reading of the slot must decode from its stored payload
  to the stored columns, and its stored signature must recover to its device's registered
  address; the leaves of the stored payloads must give the chain's readings root;
* then :func:`~gridledger.ledger.verify.verify_slot` checks roots, counts and every event;
* last, every slot the chain opened must be in the store.

The walk stops at the first mismatch; the :class:`AuditReport` says what was checked up to there
and names the region, slot and record that differ.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from eth_abi.exceptions import DecodingError

from gridledger.chain.backend import LedgerBackend
from gridledger.devices.messages import decode_reading, reading_digest
from gridledger.errors import GridLedgerError, StoreError, VerificationError
from gridledger.identity import ORDER, Domain, address_bytes, recover_digest, region_id
from gridledger.ledger import merkle
from gridledger.ledger.registry import RegistryClient
from gridledger.ledger.settlement import MarketClient, SettledTrade, SlotState, SlotStatus
from gridledger.ledger.verify import verify_slot
from gridledger.market import Order, Trade
from gridledger.operator.audit_checks import (
    check_delivery,
    check_reading_rows,
    check_receipts,
    check_registry,
    check_result,
    check_state,
    orders_lost,
)
from gridledger.operator.deployment import DeploymentRecord, load_deployments
from gridledger.store import ReadingRow, Settlement, Store


@dataclass
class AuditReport:
    """What :func:`verify_store` checked, and the first mismatch (``None`` when all agree)."""

    regions: int = 0
    slots: int = 0
    orders: int = 0
    trades: int = 0
    readings: int = 0
    delivered_slots: int = 0
    results: int = 0
    receipts: int = 0
    registry_checks: int = 0
    chain_blocks: int = 0
    unprovable: list[str] = field(default_factory=list)
    mismatch: str | None = None
    region: str | None = None
    slot_start_s: int | None = None
    checked_regions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.mismatch is None

    def summary(self) -> str:
        text = (
            f"{self.regions} regions, {self.slots} settled slots ({self.delivered_slots} "
            f"delivered, {self.results} re-cleared), {self.orders} orders, {self.trades} trades, "
            f"{self.readings} readings, {self.receipts} transactions, {self.registry_checks} "
            "registry entries"
        )
        if self.chain_blocks:
            text += f", chain file: {self.chain_blocks} blocks replayed"
        if self.unprovable:
            text += f"; {len(self.unprovable)} slot(s) unprovable (gridledger repair lists them)"
        return text


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _check_order(order: Order, domain: Domain, region: str, slot: int) -> None:
    if order.region != region or order.slot_start_s != slot:
        raise VerificationError(f"order {_hex(order.order_id)} is filed under another slot")
    try:
        signer = recover_digest(domain.digest(ORDER, order.message), order.signature)
    except GridLedgerError as exc:
        raise VerificationError(f"order {_hex(order.order_id)}: bad signature: {exc}") from exc
    if signer != address_bytes(order.owner):
        raise VerificationError(
            f"order {_hex(order.order_id)}: its stored signature recovers to {_hex(signer)}, "
            f"not to its owner {order.owner}"
        )


def _check_trades(trades: Sequence[Trade], order_ids: set[bytes]) -> None:
    for i, t in enumerate(trades):
        for name, oid in (("bid_id", t.bid_id), ("ask_id", t.ask_id)):
            if oid not in order_ids:
                raise VerificationError(
                    f"trade {i}: its {name} {_hex(oid)} is not among the slot's stored orders"
                )


def _reading_leaves(
    store: Store, readings: Sequence[ReadingRow], domain: Domain, region: str
) -> list[bytes]:
    addresses: dict[str, bytes | None] = {}
    kinds: dict[str, str] = {}
    leaves = []
    for r in readings:
        where = f"reading {r.device_id}#{r.sequence}"
        if r.device_id not in addresses:
            device = store.get_device(r.device_id)
            addresses[r.device_id] = device.address if device else None
            kinds[r.device_id] = device.kind if device else ""
        address = addresses[r.device_id]
        if address is None:
            raise VerificationError(f"{where}: its device is not in the store")
        try:
            decoded, _ = decode_reading(bytes(r.payload) + bytes(r.signature))
        except GridLedgerError as exc:
            raise VerificationError(f"{where}: stored payload does not decode: {exc}") from exc
        if decoded.region != region:
            raise VerificationError(f"{where}: its payload is signed for region {decoded.region!r}")
        check_reading_rows([r], {r.device_id: address})
        if decoded.kind.store_name != kinds[r.device_id]:
            raise VerificationError(
                f"{where}: its payload is signed by a {decoded.kind.store_name}, the store "
                f"records device {r.device_id} as a {kinds[r.device_id]}"
            )
        try:
            signer = recover_digest(reading_digest(domain, bytes(r.payload)), bytes(r.signature))
        except GridLedgerError as exc:
            raise VerificationError(f"{where}: bad signature: {exc}") from exc
        if signer != address:
            raise VerificationError(
                f"{where}: its signature recovers to {_hex(signer)}, not to its device's "
                f"registered key {_hex(address)} (payload or signature altered)"
            )
        leaves.append(merkle.reading_leaf(bytes(r.payload)))
    return leaves


def _check_record(settlement: Settlement, state: SlotState) -> None:
    if settlement.orders_root != state.orders_root:
        raise VerificationError(
            f"the stored settlement's orders root {_hex(settlement.orders_root)} differs from "
            f"the chain's {_hex(state.orders_root)}"
        )
    if state.status >= SlotStatus.DELIVERING and settlement.readings_root != state.readings_root:
        raise VerificationError(
            f"the stored settlement's readings root {_hex(settlement.readings_root)} differs "
            f"from the chain's {_hex(state.readings_root)}"
        )


def verify_region(
    store: Store,
    market: MarketClient,
    record: DeploymentRecord,
    report: AuditReport,
    registry: RegistryClient | None = None,
    on_slot: Callable[[int], None] | None = None,
) -> None:
    """Check every stored settlement of one region; raise at the first mismatch."""
    region = record.region
    # orders are signed for this market contract; meter readings for the chain alone
    order_domain = Domain.of_contract(record.chain_id, record.market)
    reading_domain = Domain(record.chain_id)
    try:
        onchain_region = market.region()
    except (GridLedgerError, DecodingError) as exc:
        raise VerificationError(
            f"no market contract answers at {_hex(market.address)} on this chain ({exc}); is "
            "ledger_url the chain the region was deployed on?"
        ) from exc
    if onchain_region != region_id(region):
        raise VerificationError(f"the contract at {_hex(market.address)} is another region's")
    if not any(r.region == region for r in store.list_regions()):
        raise VerificationError(f"the store has no region {region!r} for its settlements")
    deliveries: dict[int, dict[bytes, int]] = defaultdict(dict)
    for e in market.events("DeliverySettled"):
        deliveries[int(e.args["slot"])][bytes(e.args["account"])] = int(e.args["imbalance_wh"])
    events: dict[int, list[SettledTrade]] = defaultdict(list)
    for trade in market.settled_trades():  # one log query for the whole region
        events[trade.slot].append(trade)
    settled: set[int] = set()
    for settlement in store.list_settlements(region):
        slot = settlement.slot_start_s
        report.slot_start_s = slot
        settled.add(slot)
        try:
            # the store refuses a row whose id is not the hash of its fields
            orders = store.list_orders(region, slot)
            trades = store.list_trades(region, slot)
        except StoreError as exc:
            raise VerificationError(str(exc)) from exc
        for order in orders:
            _check_order(order, order_domain, region, slot)
        state = market.slot(slot)
        if state.status == SlotStatus.NONE:
            raise VerificationError("the store records this slot as settled, the chain does not")
        check_state(settlement, state)
        _check_record(settlement, state)
        check_receipts(market.backend, market, settlement, state)
        report.receipts += len(settlement.tx_hashes)
        if orders_lost(settlement, orders):
            # rebuilt from the chain by gridledger repair: its orders are gone for good
            report.unprovable.append(f"{region} slot {slot}: orders lost")
            verify_slot(
                market, slot, order_ids=[], trades=trades, state=state,
                events=events.get(slot, []), check_orders=False,
            )  # fmt: skip
            report.slots += 1
            report.trades += len(trades)
            if on_slot is not None:
                on_slot(1)
            continue
        _check_trades(trades, {o.order_id for o in orders})
        leaves = None
        if state.status >= SlotStatus.DELIVERING:
            start_ms = slot * 1000
            readings = store.region_readings(
                region, start_ms, start_ms + record.slot_seconds * 1000
            )
            leaves = _reading_leaves(store, readings, reading_domain, region)
        verify_slot(
            market,
            slot,
            order_ids=[o.order_id for o in orders],
            trades=trades,
            reading_leaves=leaves,
            state=state,
            events=events.get(slot, []),
        )
        # the trades match the chain; now they must also be what the stored orders clear to
        check_result(settlement, orders, trades, record, state)
        report.results += 1
        if state.status == SlotStatus.DELIVERED:
            check_delivery(store, market, registry, record, slot, deliveries.get(slot, {}))
        report.slots += 1
        report.orders += len(orders)
        report.trades += len(trades)
        if leaves is not None:
            report.readings += len(leaves)
            report.delivered_slots += 1
        if on_slot is not None:
            on_slot(1)
    report.slot_start_s = None
    if registry is not None:
        report.registry_checks += check_registry(store, registry, market, record)
    for event in market.events("SlotOpened"):
        slot = int(event.args["slot"])
        if slot not in settled:
            report.slot_start_s = slot
            raise VerificationError("the chain settled this slot, the store has no settlement")


def verify_store(
    store: Store,
    backend: LedgerBackend,
    data_dir: Path | str | None = None,
    *,
    deployments: Sequence[DeploymentRecord] | None = None,
    on_slot: Callable[[int], None] | None = None,
) -> AuditReport:
    """Replay ``store`` against the chain for every region deployed in ``data_dir``.

    ``deployments`` may be given instead of ``data_dir``; ``on_slot(1)`` is called per slot
    checked (a progress bar). Returns the report; ``report.ok`` is
    false and ``report.mismatch`` names the first difference when there is one. Regions of the
    store that have settlements but no deployment record are reported as a mismatch too.
    """
    if deployments is None:
        deployments = load_deployments(data_dir) if data_dir is not None else []
    report = AuditReport()
    known = {d.region for d in deployments}
    orphans = sorted({s.region for s in store.list_settlements()} - known)
    if orphans:
        report.region = orphans[0]
        report.mismatch = (
            f"region {orphans[0]}: the store has settlements but no deployment record "
            "(deployment-<region>.json) says where its contracts are"
        )
        return report
    for record in deployments:
        report.region = record.region
        try:
            deployment = record.attach(backend)
            verify_region(store, deployment.market, record, report, deployment.registry, on_slot)
        except VerificationError as exc:
            where, text = f"region {record.region}", str(exc)
            slot = report.slot_start_s
            if slot is not None:
                when = datetime.fromtimestamp(slot, UTC).strftime("%Y-%m-%dT%H:%MZ")
                where += f", slot {slot} ({when})"
                text = text.removeprefix(f"slot {slot}: ").removeprefix(f"slot {slot}, ")
            report.mismatch = f"{where}: {text}"
            return report
        report.regions += 1
        report.checked_regions.append(record.region)
    report.region = None
    return report
