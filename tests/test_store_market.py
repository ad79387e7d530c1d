"""Orders, trades and settlements, against both backends."""

from __future__ import annotations

import pytest

from gridledger.errors import StoreError
from gridledger.store import ASK, BID, Order, Settlement, Store, Trade

SLOT = 1_780_000_200
A, B = b"\xaa" * 20, b"\xbb" * 20


def order(n: int, side: int = BID, slot: int = SLOT, target: bytes | None = None) -> Order:
    return Order(
        n.to_bytes(32, "big"), "central", slot, side, 1000 + n, 250_000, A, n, target,
        b"\x01" * 65, 5,
    )  # fmt: skip


def test_orders_round_trip(store: Store) -> None:
    orders = [order(1), order(2, ASK, target=B), order(3, slot=SLOT + 900)]
    assert store.add_orders(orders) == 3
    assert store.add_orders(orders[:2]) == 0
    assert store.add_orders([]) == 0
    assert store.get_order(orders[1].order_id) == orders[1]
    assert store.get_order(bytes(32)) is None
    assert store.list_orders("central") == orders
    assert store.list_orders("central", SLOT) == orders[:2]
    assert store.list_orders("north") == []
    store.set_order_status(orders[0].order_id, "cancelled")
    got = store.get_order(orders[0].order_id)
    assert got is not None and got.status == "cancelled"
    with pytest.raises(StoreError, match="no order"):
        store.set_order_status(bytes(32), "cancelled")


def test_bad_order_rolls_back_the_batch(store: Store) -> None:
    bad = Order(b"\x09" * 32, "central", SLOT, 7, 10, 1, A, 0, None, b"", 0)  # side 7
    with pytest.raises(StoreError):
        store.add_orders([order(1), bad])
    assert store.list_orders("central") == []


def trade(i: int, slot: int = SLOT) -> Trade:
    energy, price = 1500 + i, 123_456
    return Trade(
        "central", slot, i, order(1).order_id, order(2).order_id, A, B, energy, price,
        energy * price // 1000, 7,
    )  # fmt: skip


def test_trades_round_trip(store: Store) -> None:
    trades = [trade(0), trade(1), trade(0, SLOT + 900)]
    assert store.add_trades(trades) == 3
    assert store.add_trades(trades) == 0
    assert store.list_trades("central") == trades
    assert store.list_trades("central", SLOT + 900) == trades[2:]
    assert store.integrity_check() == []


def test_settlements_round_trip(store: Store) -> None:
    s = Settlement(
        "central", SLOT, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, (b"\x04" * 32, b"\x05" * 32),
        17, 99,
    )  # fmt: skip
    store.add_settlement(s)
    assert store.get_settlement("central", SLOT) == s
    assert store.get_settlement("central", SLOT + 900) is None
    assert store.list_settlements() == [s]
    assert store.list_settlements("north") == []
    with pytest.raises(StoreError):
        store.add_settlement(s)  # a slot is settled once
    with pytest.raises(StoreError, match="32 bytes"):
        store.add_settlement(Settlement("c", 0, b"", b"", b"", (b"\x01",), 0))


def test_money_and_energy_stay_exact_integers(store: Store) -> None:
    big = 10**17  # energy_wh * price_micro_per_kwh at their maxima
    t = Trade("central", SLOT, 0, b"a", b"b", A, B, 10**8, 10**9, big // 1000, big)
    store.add_trades([t])
    (got,) = store.list_trades("central")
    assert got == t
    assert all(type(v) is int for v in (got.energy_wh, got.amount_micro, got.fee_micro))
