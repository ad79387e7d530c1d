"""The checks ``gridledger verify`` runs on one settled slot and one region, beyond the roots.

Each check re-derives a stored value from what a signature, a root or the chain covers and raises
:class:`~gridledger.errors.VerificationError` naming the record and the field that differ:

* :func:`check_reading_rows`: every column of a stored reading is a field of its signed payload
  (registers, power, state of charge, state of health, state, alarms, time, sequence, device);
* :func:`check_result`: the slot re-cleared from its stored orders under the region's recorded
  rules (clearing rule and gate closure from the deployment record, slot length, grid prices the
  slot recorded on chain) gives the stored result hash and the stored trades;
* :func:`check_receipts`: every transaction hash of the stored settlement has a receipt on the
  chain carrying an event of this market for this slot, and the stored block is the last of them;
* :func:`check_registry`: the stored region's operator and every stored site owner are what the
  registry and the market say on chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gridledger.chain.backend import LedgerBackend
from gridledger.devices.messages import decode_reading
from gridledger.errors import GridLedgerError, VerificationError
from gridledger.identity import address_bytes, checksum, region_id
from gridledger.ledger import merkle
from gridledger.ledger.registry import RegistryClient, Role
from gridledger.ledger.settlement import MarketClient, SlotState, SlotStatus
from gridledger.market import GridTariff, Order, RuleSet, Side, Trade, clear_slot
from gridledger.operator.delivery import delivery_positions
from gridledger.operator.deployment import DeploymentRecord
from gridledger.operator.settlement import REBUILT_RESULT_HASH
from gridledger.store import ReadingRow, Settlement, Store


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def check_reading_rows(rows: Sequence[ReadingRow], devices: dict[str, bytes]) -> None:
    """Every stored column of each reading equals the field its signed payload carries."""
    for r in rows:
        where = f"reading {r.device_id}#{r.sequence}"
        decoded, _ = decode_reading(bytes(r.payload) + bytes(r.signature))
        expected = ReadingRow.of(r.device_id, decoded, bytes(r.payload), bytes(r.signature))
        if decoded.device != devices.get(r.device_id):
            raise VerificationError(f"{where}: its payload is signed for another device")
        for name in ("sequence", "ts_ms", "import_wh", "export_wh", "power_w", "soc_permille"):
            stored, signed = getattr(r, name), getattr(expected, name)
            if stored != signed:
                raise VerificationError(
                    f"{where}: column {name} is {stored!r} in the store, {signed!r} in its "
                    "signed payload"
                )
        if _plain(r.extra) != _plain(expected.extra):
            raise VerificationError(
                f"{where}: column extra is {r.extra!r} in the store, {expected.extra!r} in its "
                "signed payload"
            )


def _plain(extra: object) -> object:
    """A stored JSON ``extra`` as comparable data (an empty mapping counts as none)."""
    if isinstance(extra, Mapping):
        return dict(extra) or None
    return extra


def check_result(
    settlement: Settlement,
    orders: Sequence[Order],
    trades: Sequence[Trade],
    record: DeploymentRecord,
    state: SlotState,
) -> None:
    """Re-clear the slot from its stored orders; compare the result hash and the trades."""
    targeted = {address_bytes(o.target) for o in orders if o.side == Side.ASK}
    offers = [o for o in orders if o.side == Side.BID and address_bytes(o.owner) in targeted]
    book = [o for o in orders if o not in offers]
    rules = RuleSet(
        clearing_rule=record.clearing_rule,
        slot_minutes=record.slot_seconds // 60,
        gate_closure_s=record.gate_closure_s,
        tariff=GridTariff(
            retail_price_micro_per_kwh=state.retail_micro_per_kwh,
            feed_in_price_micro_per_kwh=state.feed_in_micro_per_kwh,
            grid_fee_micro_per_kwh=state.fee_micro_per_kwh,
        ),
    )
    try:
        result = clear_slot(
            book, offers, rules, region=record.region, slot_start_s=settlement.slot_start_s
        )
    except GridLedgerError as exc:
        raise VerificationError(f"its stored orders do not clear: {exc}") from exc
    _compare_trades(trades, list(result.trades))
    if result.hash != settlement.result_hash:
        raise VerificationError(
            f"the stored orders re-clear to result {_hex(result.hash)} under the region's rules, "
            f"the stored settlement says {_hex(settlement.result_hash)} (a stored order, the "
            "result hash or the region's recorded rules were altered)"
        )


def _compare_trades(trades: Sequence[Trade], cleared: Sequence[Trade]) -> None:
    if len(cleared) != len(trades):
        raise VerificationError(
            f"its stored orders clear to {len(cleared)} trades, the store holds {len(trades)}"
        )
    for i, (mine, theirs) in enumerate(zip(trades, cleared, strict=True)):
        for name in ("bid_id", "ask_id", "buyer", "seller", "energy_wh", "price_micro_per_kwh",
                     "amount_micro", "fee_micro", "company"):  # fmt: skip
            if getattr(mine, name) != getattr(theirs, name):
                raise VerificationError(
                    f"trade {i}: {name} is {getattr(mine, name)!r} in the store, "
                    f"{getattr(theirs, name)!r} when its orders are re-cleared"
                )


def check_receipts(
    backend: LedgerBackend, market: MarketClient, settlement: Settlement, state: SlotState
) -> None:
    """Each stored tx hash has a receipt with this market's event for this slot; block matches."""
    slot = settlement.slot_start_s
    if not settlement.tx_hashes and state.status != SlotStatus.NONE:
        raise VerificationError("the stored settlement names no transaction")
    last = 0
    for tx in settlement.tx_hashes:
        receipt = backend.receipt(tx)
        if receipt is None:
            raise VerificationError(f"stored tx_hash {_hex(tx)} is not on the chain")
        events = [
            e
            for e in market.abi.decode_logs(list(receipt.logs), market.address)
            if "slot" in e.args and int(e.args["slot"]) == slot
        ]
        if not events:
            raise VerificationError(f"stored tx_hash {_hex(tx)} settled nothing of this slot")
        last = max(last, receipt.block_number)
    if settlement.block_number != last:
        raise VerificationError(
            f"stored block_number {settlement.block_number} is not the block of its last "
            f"transaction ({last})"
        )


def check_state(settlement: Settlement, state: SlotState) -> None:
    """The stored protocol state is complete and agrees with the chain's slot status."""
    if settlement.state in ("pending", "delivering"):
        raise VerificationError(
            f"the slot is half-recorded ({settlement.state}): a run stopped between the store "
            "and the chain; run gridledger repair"
        )
    delivered = state.status == SlotStatus.DELIVERED
    if (settlement.state == "delivered") != delivered:
        raise VerificationError(
            f"the store records the slot as {settlement.state}, the chain as {state.status.name}"
        )


def check_registry(
    store: Store, registry: RegistryClient, market: MarketClient, record: DeploymentRecord
) -> int:
    """The region's operator and each site owner as the chain registers them; returns checks."""
    rid = region_id(record.region)
    onchain_operator = registry.call("operator_of", rid)
    if market.operator() != onchain_operator or checksum(onchain_operator) != record.operator:
        raise VerificationError(
            f"the registry names operator {checksum(onchain_operator)}, the market "
            f"{checksum(market.operator())}, the deployment record {record.operator}"
        )
    checked = 1
    for region in store.list_regions():
        if region.region == record.region and region.operator is not None:
            if region.operator != onchain_operator:
                raise VerificationError(
                    f"the stored region's operator {_hex(region.operator)} is not the one the "
                    f"registry names ({checksum(onchain_operator)})"
                )
            checked += 1
    for site in store.list_sites(record.region):
        role = registry.role_of(site.owner)
        if role == Role.NONE or registry.call("region_of", site.owner) != rid:
            raise VerificationError(
                f"site {site.site_id}: its stored owner {_hex(site.owner)} is not registered in "
                "this region on chain"
            )
        checked += 1
    return checked


def check_delivery(
    store: Store,
    market: MarketClient,
    registry: RegistryClient | None,
    record: DeploymentRecord,
    slot: int,
    onchain: dict[bytes, int],
) -> None:
    """Each account's position re-derived from the store (its sites' meters, its trades) gives
    the imbalance the chain settled for it (``DeliverySettled``)."""

    def unmetered(account: bytes) -> bool:
        return registry is not None and registry.role_of(account) == Role.COMPANY

    try:
        entries = delivery_positions(
            store, record.region, slot, record.slot_seconds, is_unmetered=unmetered
        )
    except GridLedgerError as exc:
        raise VerificationError(f"its delivery positions do not derive: {exc}") from exc
    mine = {e.account: e.imbalance_wh for e in entries}
    if mine != onchain:
        diff = sorted(set(mine) ^ set(onchain)) or sorted(
            a for a in mine if mine[a] != onchain.get(a)
        )
        a = diff[0]
        raise VerificationError(
            f"delivery of account {checksum(a)}: the store's meters and trades give imbalance "
            f"{mine.get(a)} Wh, the chain settled {onchain.get(a)} Wh (a site, device or "
            "register of the store was altered)"
        )


def orders_lost(settlement: Settlement, orders: Sequence[Order]) -> bool:
    """A slot rebuilt from the chain whose orders the store no longer holds (unprovable)."""
    return settlement.result_hash == REBUILT_RESULT_HASH and (
        merkle.merkle_root(merkle.order_leaf(o.order_id) for o in orders) != settlement.orders_root
    )
