"""Check a slot's off-chain records (orders, trades, readings) against what the chain recorded.

The store keeps the orders, trades and meter readings themselves; the chain keeps, per slot, the
Merkle roots of orders and readings, the root of the trades, and one ``TradeSettled`` event per
trade. :func:`verify_slot` compares the two and raises :class:`~gridledger.errors.VerificationError`
at the first mismatch, so ``gridledger verify`` is a loop over the store's slots calling it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gridledger.errors import VerificationError
from gridledger.ledger import merkle
from gridledger.ledger.settlement import MarketClient, SettledTrade, SlotState, SlotStatus
from gridledger.market import Trade


@dataclass(frozen=True)
class SlotReport:
    """What :func:`verify_slot` checked."""

    slot: int
    status: SlotStatus
    trades: int
    orders: int
    readings: int


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _show(value: object) -> str:
    """A field value as a mismatch message shows it: ids and addresses in hex, numbers as is."""
    return _hex(value) if isinstance(value, bytes) else repr(value)


def verify_slot(
    market: MarketClient,
    slot: int,
    *,
    order_ids: Iterable[bytes],
    trades: Sequence[Trade],
    reading_leaves: Iterable[bytes] | None = None,
    state: SlotState | None = None,
    events: Sequence[SettledTrade] | None = None,
    check_orders: bool = True,
) -> SlotReport:
    """Compare a slot's stored orders, trades and readings with the chain; raise on a mismatch.

    Checked: the orders Merkle root (from ``order_ids``, the EIP-712 struct hashes), every trade
    against its ``TradeSettled`` event in order (ids, parties, energy, price, amount, fee), the
    trade count, running hash and trades root, and, once delivery is settled, the readings root
    (from ``reading_leaves``, see :func:`gridledger.ledger.merkle.reading_leaf`). ``state`` and
    ``events`` may be passed when the caller already read them (one ``get_logs`` for many slots).
    ``check_orders=False`` skips the orders root, for a slot whose orders are known to be lost.
    """
    state = state or market.slot(slot)
    if state.status == SlotStatus.NONE:
        raise VerificationError(f"slot {slot} has {len(trades)} trades in the store, none on chain")
    ids = list(order_ids)
    root = merkle.merkle_root(merkle.order_leaf(i) for i in ids)
    if check_orders and root != state.orders_root:
        raise VerificationError(
            f"slot {slot}: the store's {len(ids)} orders give root {_hex(root)}, the chain "
            f"recorded {_hex(state.orders_root)}"
        )
    onchain = list(events) if events is not None else market.settled_trades(slot)
    if len(onchain) != len(trades) or state.trade_count != len(trades):
        raise VerificationError(
            f"slot {slot}: {len(trades)} trades in the store, {len(onchain)} TradeSettled events, "
            f"{state.trade_count} recorded in the slot"
        )
    for i, (mine, theirs) in enumerate(zip(trades, onchain, strict=True)):
        fields = (
            "bid_id", "ask_id", "buyer", "seller", "energy_wh", "price_micro_per_kwh",
            "fee_micro", "amount_micro",
        )  # fmt: skip
        for name in fields:
            if getattr(mine, name) != getattr(theirs.trade, name):
                raise VerificationError(
                    f"slot {slot}, trade {i} (tx 0x{theirs.tx_hash.hex()}): {name} is "
                    f"{_show(getattr(mine, name))} in the store but "
                    f"{_show(getattr(theirs.trade, name))} on chain"
                )
    folded = merkle.fold_trades_hash(bytes(32), (t.trade_hash for t in onchain))
    if folded != state.trades_hash:
        raise VerificationError(f"slot {slot}: trade events do not fold to the slot's trades_hash")
    if state.status >= SlotStatus.TRADED:
        root = merkle.merkle_root(t.leaf for t in onchain)
        if root != state.trades_root:
            raise VerificationError(f"slot {slot}: trade events do not give its trades_root")
    readings = 0
    if reading_leaves is not None and state.status >= SlotStatus.DELIVERING:
        leaves = list(reading_leaves)
        readings = len(leaves)
        root = merkle.merkle_root(leaves)
        if root != state.readings_root:
            raise VerificationError(
                f"slot {slot}: the store's {readings} readings give root {_hex(root)}, the chain "
                f"recorded {_hex(state.readings_root)}"
            )
    return SlotReport(slot, state.status, len(trades), len(ids), readings)
