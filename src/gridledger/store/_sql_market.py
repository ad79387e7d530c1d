"""The market part of :class:`~gridledger.store._sql.SqlStore`: orders, trades and settlements.

Units as in :mod:`gridledger.store.base`: a market slot is its start in integer seconds
(``slot_start_s``), energy integer watt-hours, money integer micro-units, prices micro-units per
kWh, receipt and settlement times integer milliseconds since the Unix epoch (UTC). A settlement's
transaction hashes (32 bytes each) are stored concatenated in one column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gridledger.errors import StoreError
from gridledger.store._sql_base import SqlBase, _opt_bytes
from gridledger.store.base import Order, Settlement, Trade

_ORDER_COLUMNS = (
    "order_id, region, slot_start_s, side, energy_wh, price_micro_per_kwh, owner, nonce, target, "
    "signature, received_at_ms, status"
)
_TRADE_COLUMNS = (
    "region, slot_start_s, idx, bid_id, ask_id, buyer, seller, energy_wh, price_micro_per_kwh, "
    "amount_micro, fee_micro"
)
_SETTLEMENT_COLUMNS = (
    "region, slot_start_s, result_hash, orders_root, readings_root, tx_hashes, block_number, "
    "settled_at_ms"
)


def _order(row: Sequence[Any]) -> Order:
    return Order(
        bytes(row[0]), row[1], row[2], row[3], row[4], row[5], bytes(row[6]), row[7],
        _opt_bytes(row[8]), bytes(row[9]), row[10], row[11],
    )  # fmt: skip


def _trade(row: Sequence[Any]) -> Trade:
    return Trade(
        row[0], row[1], row[2], bytes(row[3]), bytes(row[4]), bytes(row[5]), bytes(row[6]),
        row[7], row[8], row[9], row[10],
    )  # fmt: skip


def _settlement(row: Sequence[Any]) -> Settlement:
    hashes = bytes(row[5])
    return Settlement(
        row[0], row[1], bytes(row[2]), bytes(row[3]), bytes(row[4]),
        tuple(hashes[i : i + 32] for i in range(0, len(hashes), 32)), row[6], row[7],
    )  # fmt: skip


class MarketSql(SqlBase):
    """The :class:`~gridledger.store.base.Store` methods on orders, trades and settlements."""

    def add_orders(self, batch: Iterable[Order]) -> int:
        with self._lock, self._tx() as cur:
            rows = [
                (o.order_id, o.region, o.slot_start_s, o.side, o.energy_wh,
                 o.price_micro_per_kwh, o.owner, o.nonce, o.target, o.signature,
                 o.received_at_ms, o.status)
                for o in batch
            ]  # fmt: skip
            return self._many(
                cur,
                f"INSERT INTO orders ({_ORDER_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING",
                rows,
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

    def set_order_status(self, order_id: bytes, status: str) -> None:
        with self._lock, self._tx() as cur:
            self._exec(cur, "UPDATE orders SET status = ? WHERE order_id = ?", (status, order_id))
            if cur.rowcount != 1:
                raise StoreError(f"no order 0x{order_id.hex()} in the store; store it first")

    def add_trades(self, batch: Iterable[Trade]) -> int:
        with self._lock, self._tx() as cur:
            rows = [
                (t.region, t.slot_start_s, t.index, t.bid_id, t.ask_id, t.buyer, t.seller,
                 t.energy_wh, t.price_micro_per_kwh, t.amount_micro, t.fee_micro)
                for t in batch
            ]  # fmt: skip
            return self._many(
                cur,
                f"INSERT INTO trades ({_TRADE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (region, slot_start_s, idx) DO NOTHING",
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
        return [_trade(r) for r in rows]

    def add_settlement(self, settlement: Settlement) -> None:
        s = settlement
        if any(len(h) != 32 for h in s.tx_hashes):
            raise StoreError("every settlement tx hash must be 32 bytes")
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                f"INSERT INTO settlements ({_SETTLEMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (s.region, s.slot_start_s, s.result_hash, s.orders_root, s.readings_root,
                 b"".join(s.tx_hashes), s.block_number, s.settled_at_ms),
            )  # fmt: skip

    def update_settlement(self, settlement: Settlement) -> None:
        s = settlement
        if any(len(h) != 32 for h in s.tx_hashes):
            raise StoreError("every settlement tx hash must be 32 bytes")
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                "UPDATE settlements SET result_hash = ?, orders_root = ?, readings_root = ?, "
                "tx_hashes = ?, block_number = ?, settled_at_ms = ? "
                "WHERE region = ? AND slot_start_s = ?",
                (s.result_hash, s.orders_root, s.readings_root, b"".join(s.tx_hashes),
                 s.block_number, s.settled_at_ms, s.region, s.slot_start_s),
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
