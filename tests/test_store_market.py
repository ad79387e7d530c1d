"""Orders, trades and settlements, against both backends.

The store persists the market's own :class:`Order` and :class:`Trade`: what goes in comes back
equal, and a row whose id no longer matches its fields is refused as damaged.
"""

from __future__ import annotations

import pytest
from test_store_open import raw_execute

from gridledger.errors import StoreError
from gridledger.identity import Domain, Signer, checksum
from gridledger.market import Order, Side, Trade
from gridledger.store import Settlement, Store
from gridledger.units import cost_micro

SLOT = 1_780_000_200
OWNER = Signer(b"\x11" * 32)
A, B = checksum(b"\xaa" * 20), checksum(b"\xbb" * 20)
DOMAIN = Domain(1337)


def order(n: int, side: Side = Side.BID, slot: int = SLOT, target: str | None = None) -> Order:
    return Order.create(
        OWNER, DOMAIN, region="central", slot_start_s=slot, side=side, energy_wh=1000 + n,
        price_micro_per_kwh=250_000, nonce=n, **({"target": target} if target else {}),
    )  # fmt: skip


def test_orders_round_trip(store: Store) -> None:
    orders = [order(1), order(2, Side.ASK, target=B), order(3, slot=SLOT + 900)]
    assert store.add_orders(orders, received_at_ms=5) == 3
    assert store.add_orders(orders[:2]) == 0
    assert store.add_orders([]) == 0
    assert store.get_order(orders[1].order_id) == orders[1]
    assert store.get_order(bytes(32)) is None
    by_id = sorted(orders[:2], key=lambda o: o.order_id)
    assert store.list_orders("central") == [*by_id, orders[2]]
    assert store.list_orders("central", SLOT) == by_id
    assert store.list_orders("north") == []
    assert store.order_status(orders[0].order_id) == "open"
    store.set_order_status(orders[0].order_id, "cancelled")
    assert store.order_status(orders[0].order_id) == "cancelled"
    assert store.order_status(bytes(32)) is None
    with pytest.raises(StoreError, match="no order"):
        store.set_order_status(bytes(32), "cancelled")


def test_a_stored_order_whose_fields_were_edited_is_refused(store: Store) -> None:
    store.add_orders([order(1)])
    raw_execute(store.url, "UPDATE orders SET energy_wh = energy_wh + 1")
    with pytest.raises(StoreError, match="is damaged"):
        store.list_orders("central")


def test_bad_order_rolls_back_the_batch(store: Store) -> None:
    bad = Order("central", SLOT, Side.BID, 0, 1, A, 0, signature=b"\x01" * 65)  # 0 Wh
    with pytest.raises(StoreError):
        store.add_orders([order(1), bad])
    assert store.list_orders("central") == []


def trade(i: int, company: bool = False) -> Trade:
    energy, price = 1500 + i, 123_456
    return Trade(
        order(1).order_id, order(2).order_id, A, B, energy, price, cost_micro(energy, price), 7,
        company,
    )  # fmt: skip


def test_trades_round_trip(store: Store) -> None:
    first, second = [trade(0), trade(1, company=True)], [trade(2)]
    assert store.add_trades("central", SLOT, first) == 2
    assert store.add_trades("central", SLOT + 900, second) == 1
    assert store.add_trades("central", SLOT, first) == 0
    assert store.list_trades("central") == first + second
    assert store.list_trades("central", SLOT + 900) == second
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
    t = Trade(b"a" * 32, b"b" * 32, A, B, 10**8, 10**9, big // 1000, big)
    store.add_trades("central", SLOT, [t])
    (got,) = store.list_trades("central")
    assert got == t
    assert all(type(v) is int for v in (got.energy_wh, got.amount_micro, got.fee_micro))
