"""Clearing rules on hand-computed books (tariff: retail 300k, feed-in 80k, fee 20k micro/kWh).

A bid's limit includes the 20k fee, so a bid at 250k competes at 230k (its effective price).
"""

from __future__ import annotations

import numpy as np
import pytest
from market.books import BID_RULES, RULES, TARIFF, ask, bid, clear, company, make_book, trade_table

from gridledger.errors import MarketError
from gridledger.market import BookArrays, RuleSet, clear_book, uniform_price
from gridledger.market.tariff import GridTariff
from gridledger.units import cost_micro


@pytest.mark.parametrize("rules", [RULES, BID_RULES], ids=["pay_as_clear", "pay_as_bid"])
def test_empty_book(rules: RuleSet) -> None:
    result = clear([], rules)
    assert len(result) == 0
    assert result.clearing_price_micro_per_kwh is None
    assert (result.unmatched_demand_wh, result.unmatched_supply_wh) == (0, 0)
    assert len(result.hash) == 32
    assert result.hash == clear([], rules).hash


def test_bids_only_fall_back_to_retail() -> None:
    result = clear([bid("b1", 1000, 250_000), bid("b2", 1500, 400_000)])
    assert len(result) == 0
    assert result.clearing_price_micro_per_kwh is None
    assert result.unmatched_demand_wh == 2500
    assert result.grid_import_micro == 2500 * 300_000 // 1000 == 750_000
    assert result.unmatched_supply_wh == 0


def test_asks_only_fall_back_to_feed_in() -> None:
    result = clear([ask("a1", 700, 10_000), ask("a2", 300, 500_000)])
    assert len(result) == 0
    assert result.unmatched_supply_wh == 1000
    assert result.grid_export_micro == 80_000
    assert result.unmatched_demand_wh == 0


def test_no_crossing_trades_nothing() -> None:
    # effective bid 180k < ask 200k
    result = clear([bid("b", 1000, 200_000), ask("a", 1000, 200_000)])
    assert len(result) == 0
    assert result.unmatched_demand_wh == result.unmatched_supply_wh == 1000


def test_pay_as_clear_marginal_ask_sets_price() -> None:
    rows = [
        bid("b1", 1000, 250_000),  # effective 230k
        bid("b2", 500, 180_000),  # effective 160k: priced out
        ask("a1", 600, 100_000),
        ask("a2", 600, 200_000),  # marginal, 400 of 600 filled
    ]
    result = clear(rows)
    # interval: low = max(marginal ask 200k, first rejected bid 160k) = 200k,
    #           high = min(marginal bid 230k, first rejected ask 200k) = 200k
    assert result.clearing_price_micro_per_kwh == 200_000
    assert trade_table(result, rows) == [("b1", "a1", 600, 200_000), ("b1", "a2", 400, 200_000)]
    assert result.amount_micro.tolist() == [120_000, 80_000]
    assert result.fee_micro.tolist() == [12_000, 8_000]
    assert result.unmatched_demand_wh == 500
    assert result.unmatched_supply_wh == 200
    assert result.grid_import_micro == 150_000
    assert result.grid_export_micro == 16_000
    assert result.residual_wh.tolist() == [0, 500, 0, 200]


def test_pay_as_clear_takes_midpoint_of_interval() -> None:
    rows = [bid("b", 1000, 300_000), ask("a", 1000, 100_000)]
    result = clear(rows)
    # interval [100k, 280k] lies inside the band [80k, 280k]: midpoint 190k
    assert result.clearing_price_micro_per_kwh == 190_000
    assert trade_table(result, rows) == [("b", "a", 1000, 190_000)]
    trade = result.trades[0]
    assert (trade.amount_micro, trade.fee_micro, trade.buyer_pays_micro) == (
        190_000,
        20_000,
        210_000,
    )
    assert trade.buyer_pays_micro <= cost_micro(1000, 300_000)


def test_midpoint_rounds_down() -> None:
    assert uniform_price(100_000, 100_003, TARIFF) == 100_001


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (100_000, 280_000, 190_000),  # inside the band [80k, 280k]
        (50_000, 200_000, 140_000),  # clipped to [80k, 200k]
        (250_000, 500_000, 265_000),  # clipped to [250k, 280k]
        (400_000, 480_000, 400_000),  # wholly above the band: nearest end
        (10_000, 50_000, 50_000),  # wholly below the band: nearest end
        (123_456, 123_456, 123_456),  # one point
    ],
)
def test_uniform_price_against_grid_band(low: int, high: int, expected: int) -> None:
    assert uniform_price(low, high, TARIFF) == expected


def test_price_above_band_still_respects_limits() -> None:
    rows = [bid("b", 1000, 500_000), ask("a", 1000, 400_000)]
    result = clear(rows)
    assert result.clearing_price_micro_per_kwh == 400_000
    assert result.trades[0].amount_micro == 400_000


def test_all_equal_prices_share_pro_rata_by_hash() -> None:
    rows = [
        bid("b1", 1000, 220_000),
        bid("b2", 1000, 220_000),
        bid("b3", 1000, 220_000),
        ask("a1", 1000, 200_000),
        ask("a2", 1000, 200_000),
    ]
    result = clear(rows)
    assert result.clearing_price_micro_per_kwh == 200_000
    fills = result.filled_wh[:3].tolist()
    # 2000 Wh over three equal bids: 666 each, the two leftover Wh to the two lowest hashes
    assert sorted(fills) == [666, 667, 667]
    highest_hash = max(range(3), key=lambda i: rows[i].order_id)
    assert fills[highest_hash] == 666
    assert result.filled_wh[3:].tolist() == [1000, 1000]
    assert result.unmatched_demand_wh == 1000


def test_pay_as_bid_prices_each_trade_at_its_bid() -> None:
    rows = [
        bid("b1", 1000, 300_000),  # effective 280k
        bid("b2", 500, 250_000),  # effective 230k
        ask("a1", 800, 100_000),
        ask("a2", 800, 150_000),
    ]
    assert trade_table(clear(rows, BID_RULES), rows) == [
        ("b1", "a1", 800, 280_000),
        ("b1", "a2", 200, 280_000),
        ("b2", "a2", 500, 230_000),
    ]
    as_clear = clear(rows)
    # demand is short: the marginal ask a2 (150k) is also the first rejected ask
    assert as_clear.clearing_price_micro_per_kwh == 150_000
    assert trade_table(as_clear, rows) == [
        ("b1", "a1", 800, 150_000),
        ("b1", "a2", 200, 150_000),
        ("b2", "a2", 500, 150_000),
    ]
    assert clear(rows, BID_RULES).clearing_price_micro_per_kwh is None


def test_bid_below_the_fee_never_trades() -> None:
    result = clear([bid("b", 1000, 10_000), ask("a", 1000, 0)])
    assert len(result) == 0


def test_zero_price_ask_and_zero_fee() -> None:
    rules = RuleSet(tariff=GridTariff(300_000, 0, 0))
    rows = [bid("b", 1000, 0), ask("a", 1000, 0)]
    result = clear(rows, rules)
    assert trade_table(result, rows) == [("b", "a", 1000, 0)]
    assert result.total_amount_micro == result.total_fee_micro == 0


def test_company_with_too_little_capacity() -> None:
    rows = [
        company("utility", 1000, 120_000),  # pays 120k - 20k fee = 100k to sellers
        ask("s1", 800, 90_000, target="utility"),
        ask("s2", 800, 90_000, target="utility"),
        ask("s3", 500, 50_000, target="utility"),  # cheapest: served first
        ask("s4", 300, 110_000, target="utility"),  # above the company's price: not served
        bid("open", 1000, 400_000),  # open-market demand never sees company-addressed asks
    ]
    result = clear(rows)
    assert result.company_trade_count == 3
    assert result.market_wh == 0
    assert result.company_wh == 1000
    table = trade_table(result, rows)
    assert table[0] == ("utility", "s3", 500, 100_000)
    # s1 and s2 tie at 90k and share the remaining 500 Wh pro rata
    assert sorted(table[1:]) == [("utility", "s1", 250, 100_000), ("utility", "s2", 250, 100_000)]
    assert result.fee_micro.tolist() == [10_000, 5_000, 5_000]
    assert result.unmatched_supply_wh == 550 + 550 + 300
    assert result.unmatched_demand_wh == 1000
    assert result.clearing_price_micro_per_kwh is None


def test_company_with_enough_capacity_and_open_market_side_by_side() -> None:
    rows = [
        company("utility", 10_000, 120_000),
        ask("s1", 800, 90_000, target="utility"),
        bid("b", 500, 300_000),
        ask("a", 500, 100_000),
    ]
    result = clear(rows)
    assert trade_table(result, rows) == [
        ("b", "a", 500, 190_000),
        ("utility", "s1", 800, 100_000),
    ]
    assert result.residual_wh[0] == 9_200  # unused company capacity is not demand
    assert result.unmatched_demand_wh == 0


def test_two_companies_are_matched_separately() -> None:
    rows = [
        company("c1", 500, 200_000),
        company("c2", 500, 150_000),
        ask("s1", 1000, 100_000, target="c1"),
        ask("s2", 1000, 100_000, target="c2"),
    ]
    table = sorted(trade_table(clear(rows), rows))
    assert table == [("c1", "s1", 500, 180_000), ("c2", "s2", 500, 130_000)]


def test_result_hash_does_not_depend_on_row_order() -> None:
    rows = [
        company("utility", 1000, 120_000),
        ask("s1", 800, 90_000, target="utility"),
        bid("b1", 1000, 250_000),
        bid("b2", 700, 250_000),
        ask("a1", 600, 100_000),
        ask("a2", 600, 100_000),
    ]
    reference = clear(rows)
    for perm in ([5, 4, 3, 2, 1, 0], [2, 0, 4, 1, 5, 3]):
        shuffled = clear([rows[i] for i in perm])
        assert shuffled.encoding == reference.encoding
        assert shuffled.hash == reference.hash


def test_hash_depends_on_rules() -> None:
    rows = [bid("b", 1000, 300_000), ask("a", 1000, 100_000)]
    assert clear(rows).hash != clear(rows, BID_RULES).hash
    assert clear(rows).hash != clear(rows, RuleSet(slot_minutes=30, tariff=TARIFF)).hash


def test_encoding_layout() -> None:
    rows = [bid("b", 1000, 300_000), ask("a", 1000, 100_000)]
    result = clear(rows)
    header = result.encode_header()
    assert header.startswith(b"GLCR\x00\x01")
    assert len(header) == 4 + 2 + 32 + 32 + 8 + 32 + 8 * 5 + 16 * 4 + 8
    record = result.encode_trades()
    assert len(record) == 136
    assert record[:32] == rows[0].order_id and record[32:64] == rows[1].order_id
    assert record[64:84] == rows[0].owner and record[84:104] == rows[1].owner
    assert int.from_bytes(record[104:112]) == 1000
    assert int.from_bytes(record[112:120]) == 190_000
    assert int.from_bytes(record[120:128]) == 190_000
    assert int.from_bytes(record[128:136]) == 20_000


def test_bad_arrays_are_refused() -> None:
    book = make_book([bid("b", 1000, 300_000), ask("a", 1000, 100_000)])
    broken = make_book([bid("b", 1000, 300_000), ask("a", 1000, 100_000)])
    broken.energy_wh[0] = 0
    with pytest.raises(MarketError, match="energy_wh"):
        clear_book(broken, RULES, region="test", slot_start_s=0)
    broken = make_book([bid("b", 1000, 300_000), ask("a", 1000, 100_000)])
    broken.target_row[1] = 0  # points at a plain bid, not a company
    with pytest.raises(MarketError, match="company"):
        clear_book(broken, RULES, region="test", slot_start_s=0)
    assert len(clear_book(book, RULES, region="test", slot_start_s=0)) == 1


def test_duplicate_ids_are_refused() -> None:
    rows = [bid("b", 1000, 300_000), bid("b", 1000, 300_000), ask("a", 1000, 100_000)]
    with pytest.raises(MarketError, match="twice"):
        clear(rows)


def test_hash_prefix_collisions_still_order_by_full_hash() -> None:
    # Three bids at one price whose ids share the first 8 bytes: the tie-break falls back to the
    # full 32-byte id, and the result does not depend on the row order.
    rows = [bid(f"b{i}", 1000, 220_000) for i in range(3)] + [ask("a", 1000, 200_000)]
    book = make_book(rows)
    book.order_ids[:3, :8] = 7
    order = np.argsort([bytes(book.order_ids[i]) for i in range(3)])
    result = clear_book(book, RULES, region="test", slot_start_s=0)
    assert sorted(result.filled_wh[:3].tolist()) == [333, 333, 334]
    assert result.filled_wh[order[0]] == 334
    reversed_book = make_book(rows[::-1])
    reversed_book.order_ids[1:, :8] = 7
    assert clear_book(reversed_book, RULES, region="test", slot_start_s=0).hash == result.hash


def test_grid_fallback_per_order() -> None:
    rows = [
        company("utility", 1000, 120_000),
        bid("b1", 1000, 250_000),
        bid("b2", 500, 180_000),
        ask("a1", 600, 100_000),
        ask("a2", 600, 200_000),
    ]
    result = clear(rows)
    fallback = {f.order_id: f for f in result.grid_fallback()}
    assert set(fallback) == {rows[2].order_id, rows[4].order_id}  # unused capacity left out
    b2, a2 = fallback[rows[2].order_id], fallback[rows[4].order_id]
    assert (b2.is_bid, b2.energy_wh, b2.amount_micro) == (True, 500, 150_000)
    assert (a2.is_bid, a2.energy_wh, a2.amount_micro) == (False, 200, 16_000)
    assert sum(f.energy_wh for f in fallback.values() if f.is_bid) == result.unmatched_demand_wh


def test_money_totals_never_wrap() -> None:
    # 100,000 trades of 1e8 Wh at ~1e9 micro/kWh: about 1e19 micro-units, beyond int64
    n = 100_000
    rng = np.random.default_rng(3)
    price = 10**9 - 20_000
    book = BookArrays.build(
        order_ids=rng.integers(0, 256, (2 * n, 32), dtype=np.uint8),
        owners=np.zeros((2 * n, 20), np.uint8),
        is_bid=np.arange(2 * n) < n,
        energy_wh=np.full(2 * n, 10**8, np.int64),
        price_micro_per_kwh=np.where(np.arange(2 * n) < n, 10**9, price).astype(np.int64),
    )
    result = clear_book(book, RULES, region="test", slot_start_s=0)
    assert result.traded_wh == n * 10**8
    assert result.total_amount_micro == n * 10**8 * price // 1000 > 2**63
    assert int.from_bytes(result.encode_header()[-40:-24]) == result.total_amount_micro
