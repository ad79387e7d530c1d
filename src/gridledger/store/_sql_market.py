"""The market part of :class:`~gridledger.store._sql.SqlStore`: orders, trades and settlements.

Units as in :mod:`gridledger.store.base`: a market slot is its start in integer seconds
(``slot_start_s``), energy integer watt-hours, money integer micro-units, prices micro-units per
kWh, receipt and settlement times integer milliseconds since the Unix epoch (UTC). A settlement's
transaction hashes (32 bytes each) are stored concatenated in one column.

Orders and trades are the market's own values (:class:`gridledger.market.Order`,
:class:`gridledger.market.Trade`); this module only encodes them into columns (addresses as 20
raw bytes, the open market's zero target as NULL) and back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gridledger.errors import StoreError
from gridledger.identity import ZERO_ADDRESS, address_bytes, checksum
from gridledger.market import Order, Side, Trade
from gridledger.store._sql_base import SqlBase
from gridledger.store.base import SETTLEMENT_STATES, Settlement

_ORDER_COLUMNS = (
    "order_id, region, slot_start_s, side, energy_wh, price_micro_per_kwh, owner, nonce, target, "
    "signature, received_at_ms, status"
)
_TRADE_COLUMNS = (
    "region, slot_start_s, idx, bid_id, ask_id, buyer, seller, energy_wh, price_micro_per_kwh, "
    "amount_micro, fee_micro, company"
)
_SETTLEMENT_COLUMNS = (
    "region, slot_start_s, result_hash, orders_root, readings_root, tx_hashes, block_number, "
    "settled_at_ms, state"
)


def _order(row: Sequence[Any]) -> Order:
    order = Order(
        region=row[1],
        slot_start_s=row[2],
        side=Side(row[3]),
        energy_wh=row[4],
        price_micro_per_kwh=row[5],
        owner=checksum(bytes(row[6])),
        nonce=row[7],
        target=ZERO_ADDRESS if row[8] is None else checksum(bytes(row[8])),
        signature=bytes(row[9]),
    )
    if order.order_id != bytes(row[0]):
        raise StoreError(
            f"stored order 0x{bytes(row[0]).hex()} is damaged: its fields hash to "
            f"0x{order.order_id.hex()}; restore the store from a backup (gridledger verify names "
            "the slot)"
        )
    return order


def _order_row(o: Order, received_at_ms: int) -> tuple[Any, ...]:
    target = address_bytes(o.target)
    return (
        o.order_id, o.region, o.slot_start_s, int(o.side), o.energy_wh, o.price_micro_per_kwh,
        address_bytes(o.owner), o.nonce, None if target == bytes(20) else target, o.signature,
        received_at_ms, "open",
    )  # fmt: skip


def _trade(row: Sequence[Any]) -> Trade:
    return Trade(
        bytes(row[3]), bytes(row[4]), checksum(bytes(row[5])), checksum(bytes(row[6])), row[7],
        row[8], row[9], row[10], bool(row[11]),
    )  # fmt: skip


def _settlement(row: Sequence[Any]) -> Settlement:
    hashes = bytes(row[5])
    return Settlement(
        row[0], row[1], bytes(row[2]), bytes(row[3]), bytes(row[4]),
        tuple(hashes[i : i + 32] for i in range(0, len(hashes), 32)), row[6], row[7], row[8],
    )  # fmt: skip


def _check_settlement(s: Settlement) -> None:
    if any(len(h) != 32 for h in s.tx_hashes):
        raise StoreError("every settlement tx hash must be 32 bytes")
    if s.state not in SETTLEMENT_STATES:
        raise StoreError(f"settlement state {s.state!r} is not one of {SETTLEMENT_STATES}")


class MarketSql(SqlBase):
    """The :class:`~gridledger.store.base.Store` methods on orders, trades and settlements."""

    def add_orders(self, batch: Iterable[Order], received_at_ms: int = 0) -> int:
        with self._lock, self._tx() as cur:
            return self._insert_orders(cur, batch, received_at_ms)

    def _insert_orders(self, cur: Any, batch: Iterable[Order], received_at_ms: int) -> int:
        return self._many(
            cur,
            f"INSERT INTO orders ({_ORDER_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING",
            [_order_row(o, received_at_ms) for o in batch],
        )

    def get_order(self, order_id: bytes) -> Order | None:
        rows = self._query(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_id = ?", (order_id,))
        return _order(rows[0]) if rows else None

    def list_orders(self, region: str, slot_start_s: int | None = None) -> list[Order]:
        where: str = "region = ?"
        params: list[Any] = [region]
        if slot_start_s is not None:
            where, params = where + " AND slot_start_s = ?", [region, slot_start_s]
        rows = self._query(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {where} ORDER BY slot_start_s, order_id",
            params,
        )
        return [_order(r) for r in rows]

    def order_status(self, order_id: bytes) -> str | None:
        rows = self._query("SELECT status FROM orders WHERE order_id = ?", (order_id,))
        return str(rows[0][0]) if rows else None

    def set_order_status(self, order_id: bytes, status: str) -> None:
        with self._lock, self._tx() as cur:
            self._exec(cur, "UPDATE orders SET status = ? WHERE order_id = ?", (status, order_id))
            if cur.rowcount != 1:
                raise StoreError(f"no order 0x{order_id.hex()} in the store; store it first")

    def add_trades(self, region: str, slot_start_s: int, trades: Sequence[Trade]) -> int:
        with self._lock, self._tx() as cur:
            return self._insert_trades(cur, region, slot_start_s, trades, "DO NOTHING")

    def _insert_trades(
        self, cur: Any, region: str, slot_start_s: int, trades: Sequence[Trade], on_conflict: str
    ) -> int:
        rows = [
            (region, slot_start_s, i, t.bid_id, t.ask_id, address_bytes(t.buyer),
             address_bytes(t.seller), t.energy_wh, t.price_micro_per_kwh, t.amount_micro,
             t.fee_micro, int(t.company))
            for i, t in enumerate(trades)
        ]  # fmt: skip
        conflict = (
            ""
            if on_conflict == "FAIL"
            else f" ON CONFLICT (region, slot_start_s, idx) {on_conflict}"
        )
        return self._many(
            cur,
            f"INSERT INTO trades ({_TRADE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            + conflict,
            rows,
        )

    def list_trades(self, region: str, slot_start_s: int | None = None) -> list[Trade]:
        where: str = "region = ?"
        params: list[Any] = [region]
        if slot_start_s is not None:
            where, params = where + " AND slot_start_s = ?", [region, slot_start_s]
        rows = self._query(
            f"SELECT {_TRADE_COLUMNS} FROM trades WHERE {where} ORDER BY slot_start_s, idx", params
        )
        # a trade's index is its position in the slot's result: a gap means a damaged row
        expected: dict[int, int] = {}
        for r in rows:
            index = expected.get(r[1], 0)
            if r[2] != index:
                raise StoreError(
                    f"stored trades of region {region!r} slot {r[1]} are damaged: index {r[2]} "
                    f"where {index} belongs; restore the store from a backup or run gridledger "
                    "repair on a copy without them"
                )
            expected[r[1]] = index + 1
        return [_trade(r) for r in rows]

    def add_settlement(self, settlement: Settlement) -> None:
        with self._lock, self._tx() as cur:
            self._insert_settlement(cur, settlement)

    def _insert_settlement(self, cur: Any, s: Settlement) -> None:
        _check_settlement(s)
        self._exec(
            cur,
            f"INSERT INTO settlements ({_SETTLEMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (s.region, s.slot_start_s, s.result_hash, s.orders_root, s.readings_root,
             b"".join(s.tx_hashes), s.block_number, s.settled_at_ms, s.state),
        )  # fmt: skip

    def record_slot(
        self,
        settlement: Settlement,
        orders: Sequence[Order],
        trades: Sequence[Trade],
        received_at_ms: int,
    ) -> None:
        s = settlement
        with self._lock, self._tx() as cur:
            self._insert_orders(cur, orders, received_at_ms)
            self._insert_trades(cur, s.region, s.slot_start_s, trades, "FAIL")
            self._insert_settlement(cur, s)

    def update_settlement(self, settlement: Settlement) -> None:
        s = settlement
        _check_settlement(s)
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                "UPDATE settlements SET result_hash = ?, orders_root = ?, readings_root = ?, "
                "tx_hashes = ?, block_number = ?, settled_at_ms = ?, state = ? "
                "WHERE region = ? AND slot_start_s = ?",
                (s.result_hash, s.orders_root, s.readings_root, b"".join(s.tx_hashes),
                 s.block_number, s.settled_at_ms, s.state, s.region, s.slot_start_s),
            )  # fmt: skip
            if cur.rowcount != 1:
                raise StoreError(
                    f"no settlement of region {s.region!r} slot {s.slot_start_s} in the store; "
                    "record it with add_settlement first"
                )

    def get_settlement(self, region: str, slot_start_s: int) -> Settlement | None:
        rows = self._query(
            f"SELECT {_SETTLEMENT_COLUMNS} FROM settlements WHERE region = ? AND slot_start_s = ?",
            (region, slot_start_s),
        )
        return _settlement(rows[0]) if rows else None

    def list_settlements(self, region: str | None = None) -> list[Settlement]:
        where = "" if region is None else "WHERE region = ?"
        rows = self._query(
            f"SELECT {_SETTLEMENT_COLUMNS} FROM settlements {where} ORDER BY region, slot_start_s",
            () if region is None else (region,),
        )
        return [_settlement(r) for r in rows]
