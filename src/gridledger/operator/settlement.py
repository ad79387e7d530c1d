"""The settlement protocol: one slot's trades and delivery, written so store and chain never part.

Every write that spans the store and the chain goes through the same four steps:

1. **check** everything that can be checked before writing anything: the slot's orders belong to
   it and are signed for this market, the trades name them and charge what the contract charges,
   and whatever the store or the chain already holds of the slot is the *same* (same orders root,
   same readings root); a conflict is refused here, with nothing written;
2. **intent**: record what is about to be sent, in one store transaction (the slot's orders,
   trades and a ``pending`` settlement; or the delivery's readings root, ``delivering``);
3. **send** to the chain, which resumes a half-sent slot by itself (its record says how many
   trades or entries it holds);
4. **receipt**: record the transactions and the block, taken from the receipts or, after a crash,
   from the chain's own events (``traded`` / ``delivered``).

A crash or error between any two steps leaves a state the next run, or ``gridledger repair``,
completes (:func:`complete_slot`): the chain's record of the slot is the truth of what settled.
The states and their transitions are drawn in ``docs/architecture.md`` ("Store and chain: one
record"); :mod:`gridledger.operator.faultpoints` names the points between the steps.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gridledger.chain.backend import Receipt
from gridledger.errors import LedgerError, SignatureError, StoreError
from gridledger.identity import ORDER, address_bytes, checksum
from gridledger.ledger import merkle
from gridledger.ledger.registry import Role
from gridledger.ledger.settlement import MarketClient, SlotStatus
from gridledger.ledger.trades import Delivery, SignedTrade, contract_charges, order_leaf
from gridledger.market import ClearingResult, Order
from gridledger.operator import faultpoints
from gridledger.operator.delivery import delivery_positions
from gridledger.store import Settlement

if TYPE_CHECKING:
    from gridledger.operator.region import RegionOperator

#: The result hash of a settlement rebuilt from the chain alone (the result is not on chain).
REBUILT_RESULT_HASH = bytes(32)


@dataclass(frozen=True)
class SlotSettlement:
    """What settling one slot took: counts, transactions, gas, and the block it ended in."""

    region: str
    slot_start_s: int
    trades: int
    orders: int
    transactions: int
    gas_used: int
    block_number: int
    root: bytes


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _last_block(receipts: Iterable[Receipt]) -> int:
    return max((r.block_number for r in receipts), default=0)


def slot_receipts(market: MarketClient, slot: int, names: Sequence[str]) -> tuple[list[bytes], int]:
    """The transactions (in chain order, each once) and the last block of a slot's events named
    ``names``: the chain's own receipt of what settled, read back after a crash."""
    hashes: dict[bytes, None] = {}
    block = 0
    found = []
    for name in names:
        found += [e for e in market.events(name) if int(e.args["slot"]) == slot]
    for e in sorted(found, key=lambda e: (e.block_number, e.log_index)):
        hashes.setdefault(e.tx_hash)
        block = max(block, e.block_number)
    return list(hashes), block


def _signed_trades(
    op: RegionOperator, result: ClearingResult, orders: Sequence[Order]
) -> list[SignedTrade]:
    slot = result.slot_start_s
    if result.region != op.region:
        raise LedgerError(f"a result of region {result.region!r} given to {op.region!r}")
    if any(o.region != op.region or o.slot_start_s != slot for o in orders):
        raise LedgerError(f"orders of another region or slot given for {op.region} {slot}")
    by_id = {o.order_id: o for o in orders}
    fee_rate = op.market.grid_prices()[2]
    trades: list[SignedTrade] = []
    for i, t in enumerate(result.trades):
        bid, ask = by_id.get(t.bid_id), by_id.get(t.ask_id)
        if bid is None or ask is None:
            raise LedgerError(
                f"slot {slot} trade {i} names an order that is not among the slot's signed "
                "orders (company standing offers cannot be settled on chain)"
            )
        amount, fee = contract_charges(t, fee_rate)
        if (t.amount_micro, t.fee_micro) != (amount, fee):
            raise LedgerError(
                f"slot {slot} trade {i}: the market charged amount {t.amount_micro} and fee "
                f"{t.fee_micro}, the contract would charge {amount} and {fee} (its fee rate is "
                f"{fee_rate}/kWh); deploy the region with the market's tariff"
            )
        trades.append(SignedTrade(t, bid, ask))
    _check_signed_for_market(op, trades)
    return trades


def _check_signed_for_market(op: RegionOperator, trades: Sequence[SignedTrade]) -> None:
    # the contract would revert the whole batch on one such order; say which and why first
    domain = op.domain
    # an order filled by several trades is recovered once
    orders = {o.order_id: o for t in trades for o in (t.bid, t.ask)}
    for order in orders.values():
        try:
            domain.verify(ORDER, order.message, order.signature, address_bytes(order.owner))
        except SignatureError:
            raise LedgerError(
                f"order 0x{order.order_id.hex()} of {order.owner} is not signed for this "
                f"region's market {checksum(op.market.address)} on chain {op.backend.chain_id}; "
                "sign orders with that market's domain (RegionOperator.domain); nothing was "
                "stored or settled"
            ) from None


def _conflict(op: RegionOperator, slot: int, what: str) -> LedgerError:
    return LedgerError(
        f"slot {slot} of {op.region!r} is already {what} with other orders than this run "
        "cleared: the data dir was settled with other settings (seed, households, start, slot "
        "length or clearing rule). Re-run with the settings it was made with, or use another "
        "data_dir; nothing was written"
    )


def settle_slot(
    op: RegionOperator, result: ClearingResult, orders: Sequence[Order]
) -> SlotSettlement:
    """Check, record the intent, settle on chain and record the receipt of one cleared slot."""
    slot = result.slot_start_s
    trades = _signed_trades(op, result, orders)
    orders_root = merkle.merkle_root(order_leaf(o) for o in orders)
    recorded = op.store.get_settlement(op.region, slot)
    state = op.market.slot(slot)
    if recorded is not None and recorded.orders_root != orders_root:
        raise _conflict(op, slot, "recorded in the store")
    if state.status != SlotStatus.NONE and state.orders_root != orders_root:
        raise _conflict(op, slot, "settled on chain")
    if recorded is None:
        recorded = Settlement(
            op.region, slot, result.hash, orders_root, merkle.EMPTY_ROOT, (), 0, now_ms(),
            state="pending",
        )  # fmt: skip
        op.store.record_slot(recorded, orders, [t.trade for t in trades], now_ms())
        faultpoints.reached("settle:after_intent")
    elif recorded.state != "pending":
        if recorded.result_hash == REBUILT_RESULT_HASH:
            # rebuilt from the chain after the store was lost: these orders give the chain's
            # root, so they are the lost ones; store them again with the result they clear to
            op.store.add_orders(orders, now_ms())
            op.store.update_settlement(replace(recorded, result_hash=result.hash))
        # recorded and confirmed before: nothing to send
        return SlotSettlement(
            op.region, slot, len(trades), len(orders), 0, 0, recorded.block_number, orders_root
        )
    receipts: tuple[Receipt, ...] = ()
    if state.status < SlotStatus.TRADED:
        batch = op.market.settle_trades(op.operator, slot, trades, orders_root=orders_root)
        receipts = batch.receipts
        faultpoints.reached("settle:after_send")
    _record_traded(op, recorded, receipts, resumed=state.status != SlotStatus.NONE)
    return SlotSettlement(
        op.region, slot, len(trades), len(orders), len(receipts),
        sum(r.gas_used for r in receipts), _last_block(receipts), orders_root,
    )  # fmt: skip


def _record_traded(
    op: RegionOperator, recorded: Settlement, receipts: Sequence[Receipt], *, resumed: bool
) -> None:
    if resumed or not receipts:
        # part or all of it went out before a crash: the chain's events are the receipt
        hashes, block = slot_receipts(
            op.market, recorded.slot_start_s, ("SlotOpened", "TradeSettled", "SlotSettled")
        )
    else:
        hashes, block = [r.tx_hash for r in receipts], _last_block(receipts)
    op.store.update_settlement(
        replace(recorded, tx_hashes=tuple(hashes), block_number=block, state="traded")
    )


def slot_readings_root(op: RegionOperator, slot: int) -> bytes:
    """Merkle root of the region's stored readings of a slot (their signed payloads)."""
    return merkle.merkle_root(merkle.reading_leaf(r.payload) for r in op.slot_readings(slot))


def settle_delivery(
    op: RegionOperator, slot: int, entries: Sequence[Delivery] | None = None
) -> SlotSettlement:
    """Check, record the intent, settle on chain and record the receipt of a slot's delivery."""
    recorded = op.store.get_settlement(op.region, slot)
    if recorded is None:
        raise LedgerError(
            f"slot {slot} of {op.region!r} has no recorded trade settlement; settle its trades "
            "first"
        )
    if recorded.state == "pending":
        recorded = complete_slot(op, slot) or recorded
    if recorded.state == "delivered":
        raise LedgerError(f"the delivery of slot {slot} of {op.region!r} is settled already")
    state = op.market.slot(slot)
    root = slot_readings_root(op, slot)
    if state.status >= SlotStatus.DELIVERING and state.readings_root != root:
        raise LedgerError(
            f"the chain settled the delivery of slot {slot} of {op.region!r} with other meter "
            "readings than the store holds; the store lost or gained readings of that slot "
            "(gridledger verify names them); nothing was written"
        )
    if state.status == SlotStatus.DELIVERED:
        return _record_delivered(op, replace(recorded, readings_root=root), ())
    if entries is None:
        registry = op.deployment.registry
        entries = delivery_positions(
            op.store, op.region, slot, op.slot_seconds,
            is_unmetered=lambda account: registry.role_of(account) == Role.COMPANY,
        )  # fmt: skip
    if recorded.state != "delivering" or recorded.readings_root != root:
        recorded = replace(recorded, readings_root=root, state="delivering")
        op.store.update_settlement(recorded)
        faultpoints.reached("deliver:after_intent")
    batch = op.market.settle_delivery(op.operator, slot, entries, readings_root=root)
    faultpoints.reached("deliver:after_send")
    return _record_delivered(op, recorded, batch.receipts, resumed=state.status > SlotStatus.TRADED)


def _record_delivered(
    op: RegionOperator,
    recorded: Settlement,
    receipts: Sequence[Receipt],
    *,
    resumed: bool = True,
) -> SlotSettlement:
    slot = recorded.slot_start_s
    if resumed or not receipts:
        hashes, block = slot_receipts(op.market, slot, ("DeliverySettled", "SlotDelivered"))
    else:
        hashes, block = [r.tx_hash for r in receipts], _last_block(receipts)
    traded = [h for h in recorded.tx_hashes if h not in hashes]
    op.store.update_settlement(
        replace(
            recorded,
            tx_hashes=tuple(traded + hashes),
            block_number=max(block, recorded.block_number),
            state="delivered",
        )
    )
    return SlotSettlement(
        op.region, slot, 0, 0, len(receipts), sum(r.gas_used for r in receipts), block,
        recorded.readings_root,
    )  # fmt: skip


def complete_slot(op: RegionOperator, slot: int) -> Settlement | None:
    """Finish what a crash left of a slot, from the chain's record; return the updated record.

    ``pending`` with the trades on chain becomes ``traded`` (a half-sent slot is resumed with
    the stored trades); ``delivering`` with the delivery on chain becomes ``delivered``. A
    ``pending`` slot the chain never saw is sent now. Returns ``None`` when nothing is recorded.
    """
    recorded = op.store.get_settlement(op.region, slot)
    if recorded is None:
        return None
    state = op.market.slot(slot)
    if recorded.state == "pending":
        if state.status < SlotStatus.TRADED:
            trades = _stored_trades(op, slot)
            op.market.settle_trades(op.operator, slot, trades, orders_root=recorded.orders_root)
        _record_traded(op, recorded, (), resumed=True)
    elif recorded.state == "delivering":
        if state.status == SlotStatus.DELIVERED:
            _record_delivered(op, recorded, ())
        else:  # the intent is recorded, the chain has none or part of it: resume
            settle_delivery(op, slot)
    return op.store.get_settlement(op.region, slot)


def _stored_trades(op: RegionOperator, slot: int) -> list[SignedTrade]:
    try:
        orders = {o.order_id: o for o in op.store.list_orders(op.region, slot)}
    except StoreError as exc:
        raise LedgerError(f"slot {slot} of {op.region!r}: {exc}") from exc
    return [
        SignedTrade(t, orders[t.bid_id], orders[t.ask_id])
        for t in op.store.list_trades(op.region, slot)
    ]
