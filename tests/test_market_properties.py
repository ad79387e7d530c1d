"""Hypothesis properties of clearing over random books (DESIGN.md "Market rules").

Invariants checked on every book, for both rules:

* every trade pairs a bid with an ask; company trades pair an ask with the company it targets,
  open trades pair open-market orders only;
* no buyer pays above its limit: per trade ``price + fee <= bid limit``, and per bid the sum of
  ``amount + fee`` over its trades is at most ``cost_micro(filled, limit)``;
* no seller receives below its limit: per trade ``price >= ask limit`` and
  ``amount_micro >= cost_micro(energy_wh, ask limit)`` (amounts are per-trade floors);
* money is integer and conserved: each trade's amount and fee follow ``cost_micro`` and the sum
  paid by buyers equals the sum received by sellers plus fees;
* energy bought equals energy sold, and no order is filled beyond its quantity (nor below zero);
* the volume is maximal: it equals an independent greedy match, and no unfilled open bid could
  still trade with an unfilled open ask; company capacity is never exceeded and is only left
  unused when no eligible addressed ask is left;
* pay_as_clear trades at one price; the grid fallback volumes are the unfilled remainders;
* permuting the rows changes nothing: the canonical encoding (hence the hash) is byte-identical.

2,000 examples per core property by default; ``GRIDLEDGER_SOAK=1`` (or ``--soak`` where the
suite defines it) runs 20,000 and the slower signed-order property at full size.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from market.books import Row, ask, bid, company, make_book

from gridledger.identity import Domain, Signer
from gridledger.market import (
    BookArrays,
    ClearingResult,
    GridTariff,
    Order,
    RegionalMarket,
    RuleSet,
    Side,
    clear_book,
)
from gridledger.slots import Slot
from gridledger.units import MAX_ENERGY_WH, MAX_PRICE_MICRO_PER_KWH, cost_micro

# --soak is honoured once the suite registers that option; the variable works everywhere.
SOAK = os.environ.get("GRIDLEDGER_SOAK", "") not in ("", "0") or "--soak" in sys.argv
EXAMPLES = 20_000 if SOAK else 2_000
CORE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PRICES = st.one_of(
    st.sampled_from([0, 50_000, 100_000, 120_000, 150_000, 200_000, 220_000, 300_000]),
    st.integers(0, 500_000),
    st.just(MAX_PRICE_MICRO_PER_KWH),
)
ENERGIES = st.one_of(st.sampled_from([1, 500, 1000]), st.integers(1, 5000), st.just(MAX_ENERGY_WH))


@st.composite
def tariffs(draw: st.DrawFn) -> GridTariff:
    retail = draw(st.sampled_from([0, 100_000, 300_000, MAX_PRICE_MICRO_PER_KWH]))
    feed_in = draw(st.integers(0, retail))
    fee = draw(st.sampled_from([0, 1, 20_000, 250_000]))
    return GridTariff(retail, feed_in, fee)


@st.composite
def books(draw: st.DrawFn) -> list[Row]:
    salt = draw(st.integers(0, 2**32))
    companies = [
        company(f"{salt}c{i}", draw(ENERGIES), draw(PRICES)) for i in range(draw(st.integers(0, 2)))
    ]
    rows: list[Row] = list(companies)
    for i in range(draw(st.integers(0, 30))):
        label = f"{salt}o{i}"
        if draw(st.booleans()):
            rows.append(bid(label, draw(ENERGIES), draw(PRICES)))
        else:
            target = None
            if companies and draw(st.integers(0, 3)) == 0:
                target = draw(st.sampled_from(companies)).label
            rows.append(ask(label, draw(ENERGIES), draw(PRICES), target))
    return rows


def greedy_volume(rows: list[Row], fee: int) -> int:
    """Independent reference: walk sorted bids and asks Wh-block by block while they cross."""
    bids = sorted(
        ((r.price_micro_per_kwh - fee, r.order_id, r.energy_wh) for r in rows if r.side == "bid"),
        key=lambda t: (-t[0], t[1]),
    )
    asks = sorted(
        (r.price_micro_per_kwh, r.order_id, r.energy_wh)
        for r in rows
        if r.side == "ask" and r.target is None
    )
    volume, i, j = 0, 0, 0
    left_b = bids[0][2] if bids else 0
    left_a = asks[0][2] if asks else 0
    while i < len(bids) and j < len(asks) and bids[i][0] >= asks[j][0]:
        step = min(left_b, left_a)
        volume += step
        left_b -= step
        left_a -= step
        if left_b == 0:
            i += 1
            left_b = bids[i][2] if i < len(bids) else 0
        if left_a == 0:
            j += 1
            left_a = asks[j][2] if j < len(asks) else 0
    return volume


def check_invariants(rows: list[Row], book: BookArrays, result: ClearingResult) -> None:
    rules = result.rules
    fee = rules.grid_fee_micro_per_kwh
    limit = book.price_micro_per_kwh.tolist()
    energy = book.energy_wh.tolist()
    filled = [0] * len(rows)
    paid = [0] * len(rows)
    total_paid = total_received = total_fee = 0
    first_company = len(result) - result.company_trade_count
    trades = zip(
        result.bid_row.tolist(),
        result.ask_row.tolist(),
        result.energy_wh.tolist(),
        result.price_micro_per_kwh.tolist(),
        result.amount_micro.tolist(),
        result.fee_micro.tolist(),
        strict=True,
    )
    for k, (b, a, e, p, amount, fee_micro) in enumerate(trades):
        assert rows[b].side in ("bid", "company") and rows[a].side == "ask"
        if k >= first_company:
            assert rows[b].side == "company" and rows[a].target == rows[b].label
        else:
            assert rows[b].side == "bid" and rows[a].target is None
            if rules.clearing_rule == "pay_as_clear":
                assert p == result.clearing_price_micro_per_kwh
        assert e > 0
        assert p + fee <= limit[b], "buyer pays above its limit"
        assert p >= limit[a], "seller receives below its limit"
        assert amount == cost_micro(e, p) and fee_micro == cost_micro(e, fee)
        assert amount >= cost_micro(e, limit[a])
        filled[b] += e
        filled[a] += e
        paid[b] += amount + fee_micro
        total_paid += amount + fee_micro
        total_received += amount
        total_fee += fee_micro
    # money: integer and conserved
    assert total_paid == total_received + total_fee
    assert (total_received, total_fee) == (result.total_amount_micro, result.total_fee_micro)
    # energy: bought == sold, fills within quantities
    assert filled == result.filled_wh.tolist()
    bought = sum(f for f, r in zip(filled, rows, strict=True) if r.side != "ask")
    sold = sum(f for f, r in zip(filled, rows, strict=True) if r.side == "ask")
    assert bought == sold == result.traded_wh == result.market_wh + result.company_wh
    for i, row in enumerate(rows):
        assert 0 <= filled[i] <= energy[i]
        if row.side != "ask":
            assert paid[i] <= cost_micro(filled[i], limit[i])
    # maximal volume in the open market
    assert result.market_wh == greedy_volume(rows, fee)
    open_bids = [
        limit[i] - fee for i, r in enumerate(rows) if r.side == "bid" and filled[i] < energy[i]
    ]
    open_asks = [
        limit[i]
        for i, r in enumerate(rows)
        if r.side == "ask" and r.target is None and filled[i] < energy[i]
    ]
    if open_bids and open_asks:
        assert max(open_bids) < min(open_asks)
    # companies: capacity respected, unused only when nothing eligible is left
    for c, row in enumerate(rows):
        if row.side != "company":
            continue
        assert filled[c] <= energy[c]
        if filled[c] < energy[c]:
            assert not any(
                r.target == row.label and filled[i] < energy[i] and limit[i] <= limit[c] - fee
                for i, r in enumerate(rows)
            )
    # grid fallback
    assert result.unmatched_demand_wh == sum(
        energy[i] - filled[i] for i, r in enumerate(rows) if r.side == "bid"
    )
    assert result.unmatched_supply_wh == sum(
        energy[i] - filled[i] for i, r in enumerate(rows) if r.side == "ask"
    )


def permuted(rows: list[Row], perm: list[int]) -> list[Row]:
    return [rows[i] for i in perm]


@CORE
@given(rows=books(), tariff=tariffs(), rule=st.sampled_from(["pay_as_clear", "pay_as_bid"]))
def test_clearing_invariants(rows: list[Row], tariff: GridTariff, rule: str) -> None:
    rules = RuleSet(rule, tariff=tariff)
    book = make_book(rows)
    result = clear_book(book, rules, region="prop", slot_start_s=0)
    check_invariants(rows, book, result)


@CORE
@given(
    data=st.data(),
    rows=books(),
    tariff=tariffs(),
    rule=st.sampled_from(["pay_as_clear", "pay_as_bid"]),
)
def test_permuting_rows_changes_nothing(
    data: st.DataObject, rows: list[Row], tariff: GridTariff, rule: str
) -> None:
    rules = RuleSet(rule, tariff=tariff)
    reference = clear_book(make_book(rows), rules, region="prop", slot_start_s=0)
    perm = data.draw(st.permutations(range(len(rows))))
    shuffled = clear_book(make_book(permuted(rows, perm)), rules, region="prop", slot_start_s=0)
    assert shuffled.encoding == reference.encoding
    assert shuffled.hash == reference.hash


@pytest.mark.parametrize("n", [1_000, 20_000])
def test_large_random_book_invariants(n: int) -> None:
    """A vectorised check of the same invariants on bigger books (ties guaranteed)."""
    rng = np.random.default_rng(n)
    is_bid = rng.random(n) < 0.5
    book = BookArrays.build(
        order_ids=rng.integers(0, 256, (n, 32), dtype=np.uint8),
        owners=rng.integers(0, 256, (n, 20), dtype=np.uint8),
        is_bid=is_bid,
        energy_wh=rng.integers(1, 3000, n),
        price_micro_per_kwh=rng.integers(0, 40, n) * 10_000,
    )
    rules = RuleSet(tariff=GridTariff(300_000, 80_000, 20_000))
    result = clear_book(book, rules, region="prop", slot_start_s=0)
    fee = 20_000
    limit = book.price_micro_per_kwh
    assert (result.price_micro_per_kwh + fee <= limit[result.bid_row]).all()
    assert (result.price_micro_per_kwh >= limit[result.ask_row]).all()
    filled = result.filled_wh
    assert ((filled >= 0) & (filled <= book.energy_wh)).all()
    assert filled[is_bid].sum() == filled[~is_bid].sum() == result.traded_wh > 0
    left_bids = limit[is_bid & (filled < book.energy_wh)] - fee
    left_asks = limit[~is_bid & (filled < book.energy_wh)]
    assert left_bids.max() < left_asks.min()
    perm = rng.permutation(n)
    shuffled = BookArrays.build(
        order_ids=book.order_ids[perm],
        owners=book.owners[perm],
        is_bid=book.is_bid[perm],
        energy_wh=book.energy_wh[perm],
        price_micro_per_kwh=book.price_micro_per_kwh[perm],
    )
    assert clear_book(shuffled, rules, region="prop", slot_start_s=0).hash == result.hash


SIGNERS = [Signer(bytes([i + 1]) * 32) for i in range(6)]
SLOT = Slot(1_800_000_000)


@settings(max_examples=200 if SOAK else 25, deadline=None)
@given(
    specs=st.lists(
        st.tuples(st.integers(0, 5), st.integers(1, 3000), PRICES),
        max_size=12,
    ),
    data=st.data(),
)
def test_signed_orders_submitted_in_any_order_clear_identically(
    specs: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    # an account has orders on one side of a slot only (no trading with itself): even signers
    # bid, odd signers ask
    domain = Domain(1337)
    orders = [
        Order.create(
            SIGNERS[who],
            domain,
            region="prop",
            slot_start_s=SLOT.start_s,
            side=Side.BID if who % 2 == 0 else Side.ASK,
            energy_wh=energy,
            price_micro_per_kwh=price,
            nonce=k,
        )
        for k, (who, energy, price) in enumerate(specs)
    ]
    shuffled = data.draw(st.permutations(orders))
    hashes = set()
    for sequence in (orders, shuffled):
        market = RegionalMarket("prop", chain_id=1337)
        for o in sequence:
            market.submit(o, SLOT.start - SLOT.length)
        hashes.add(market.clear(SLOT, SLOT.start).hash)
    assert len(hashes) == 1
