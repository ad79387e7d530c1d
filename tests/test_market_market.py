"""The regional market: the edge (region, gate, nonce, company), books, cancels, clear, re-clear."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from gridledger.errors import MarketError, OrderError, SignatureError, SlotError
from gridledger.identity import Domain, Signer
from gridledger.market import (
    STANDING_SLOT,
    Cancel,
    GridTariff,
    Order,
    OrderBook,
    RegionalMarket,
    RuleSchedule,
    RuleSet,
    Side,
    reclear,
)
from gridledger.slots import Slot

CHAIN = 1337
DOMAIN = Domain(CHAIN)
ALICE, BOB, CAROL, UTILITY = (Signer(bytes([i]) * 32) for i in (1, 2, 3, 4))
SLOT = Slot(1_800_000_000)
BEFORE = SLOT.start - timedelta(minutes=30)
AFTER = SLOT.start
RULES = RuleSet(tariff=GridTariff(300_000, 80_000, 20_000))


def order(
    signer: Signer,
    side: Side,
    energy_wh: int,
    price: int,
    nonce: int,
    *,
    slot: int = SLOT.start_s,
    target: str | None = None,
    region: str = "north",
) -> Order:
    return Order.create(
        signer,
        DOMAIN,
        region=region,
        slot_start_s=slot,
        side=side,
        energy_wh=energy_wh,
        price_micro_per_kwh=price,
        nonce=nonce,
        **({"target": target} if target else {}),
    )


@pytest.fixture
def market() -> RegionalMarket:
    m = RegionalMarket("north", chain_id=CHAIN, rules=RULES)
    m.companies.register(UTILITY.address, "City Utility")
    m.post_company_offer(order(UTILITY, Side.BID, 2000, 120_000, 1, slot=STANDING_SLOT))
    return m


def test_submit_list_and_clear(market: RegionalMarket) -> None:
    b = order(ALICE, Side.BID, 1000, 300_000, 1)
    a = order(BOB, Side.ASK, 1000, 100_000, 1)
    for o in (a, b):
        market.submit(o, BEFORE)
    book = market.book(SLOT)
    assert [o.order_id for o in book.orders()] == sorted([a.order_id, b.order_id])
    assert book.bids() == [b] and book.asks() == [a]
    assert book.orders(owner=BOB.address) == [a]
    result = market.clear(SLOT, AFTER)
    assert result.clearing_price_micro_per_kwh == 190_000
    (trade,) = result.trades
    assert (trade.buyer, trade.seller) == (ALICE.address, BOB.address)
    assert (trade.bid_id, trade.ask_id) == (b.order_id, a.order_id)
    assert market.result(SLOT) is result
    assert market.clear(SLOT, AFTER + timedelta(hours=1)) is result


def test_clear_before_gate_closure_is_refused(market: RegionalMarket) -> None:
    with pytest.raises(MarketError, match="gate closure"):
        market.clear(SLOT, BEFORE)


def test_wrong_region(market: RegionalMarket) -> None:
    with pytest.raises(OrderError, match="region 'south'"):
        market.submit(order(ALICE, Side.BID, 1000, 1, 1, region="south"), BEFORE)


def test_slot_past_gate_closure(market: RegionalMarket) -> None:
    late = SLOT.start - timedelta(seconds=30)  # gate closes 60 s before the start
    with pytest.raises(SlotError, match="gate closure"):
        market.submit(order(ALICE, Side.BID, 1000, 1, 1), late)


def test_misaligned_slot(market: RegionalMarket) -> None:
    with pytest.raises(OrderError, match="not a slot"):
        market.submit(order(ALICE, Side.BID, 1000, 1, 1, slot=SLOT.start_s + 60), BEFORE)


def test_bad_signature(market: RegionalMarket) -> None:
    forged = Order.create(
        BOB,
        DOMAIN,
        region="north",
        slot_start_s=SLOT.start_s,
        side=Side.BID,
        energy_wh=1000,
        price_micro_per_kwh=1,
        nonce=1,
    )
    with pytest.raises(SignatureError):
        market.submit(replace(forged, owner=ALICE.address), BEFORE)


def test_reused_nonce(market: RegionalMarket) -> None:
    market.submit(order(ALICE, Side.BID, 1000, 250_000, 5), BEFORE)
    with pytest.raises(OrderError, match="nonce 5"):
        market.submit(order(ALICE, Side.ASK, 400, 90_000, 5), BEFORE)
    # the same nonce of another owner is fine
    market.submit(order(BOB, Side.ASK, 400, 90_000, 5), BEFORE)


def test_same_order_twice(market: RegionalMarket) -> None:
    o = order(ALICE, Side.BID, 1000, 250_000, 5)
    market.submit(o, BEFORE)
    with pytest.raises(OrderError, match="already"):
        market.submit(o, BEFORE)


@pytest.mark.parametrize(("energy", "price"), [(0, 1), (10**9, 1), (1, 10**10)])
def test_absurd_quantities(market: RegionalMarket, energy: int, price: int) -> None:
    with pytest.raises(OrderError):
        market.submit(order(ALICE, Side.ASK, energy, price, 1), BEFORE)


def test_unknown_company(market: RegionalMarket) -> None:
    with pytest.raises(OrderError, match="not a registered energy company"):
        market.submit(order(ALICE, Side.ASK, 500, 50_000, 1, target=CAROL.address), BEFORE)


def test_registered_company_without_offer() -> None:
    m = RegionalMarket("north", chain_id=CHAIN, rules=RULES)
    m.companies.register(UTILITY.address)
    with pytest.raises(OrderError, match="no offer"):
        m.submit(order(ALICE, Side.ASK, 500, 50_000, 1, target=UTILITY.address), BEFORE)


def test_only_registered_companies_post_offers(market: RegionalMarket) -> None:
    with pytest.raises(OrderError, match="not a registered energy company"):
        market.post_company_offer(order(CAROL, Side.BID, 1000, 100_000, 1, slot=STANDING_SLOT))
    with pytest.raises(OrderError, match="is a bid"):
        market.post_company_offer(order(UTILITY, Side.ASK, 1000, 100_000, 2, slot=STANDING_SLOT))


def test_company_sale_clears_at_company_price(market: RegionalMarket) -> None:
    sale = order(ALICE, Side.ASK, 2500, 50_000, 1, target=UTILITY.address)
    market.submit(sale, BEFORE)
    result = market.clear(SLOT, AFTER)
    (trade,) = result.trades
    assert trade.company and trade.buyer == UTILITY.address and trade.seller == ALICE.address
    assert (trade.energy_wh, trade.price_micro_per_kwh) == (2000, 100_000)
    assert result.unmatched_supply_wh == 500
    assert result.company_wh == 2000


def test_slot_offer_replaces_standing_offer(market: RegionalMarket) -> None:
    market.post_company_offer(order(UTILITY, Side.BID, 300, 90_000, 2), BEFORE)
    market.submit(order(ALICE, Side.ASK, 2500, 50_000, 1, target=UTILITY.address), BEFORE)
    (trade,) = market.clear(SLOT, AFTER).trades
    assert (trade.energy_wh, trade.price_micro_per_kwh) == (300, 70_000)


def test_cancel(market: RegionalMarket) -> None:
    o = order(ALICE, Side.BID, 1000, 250_000, 1)
    market.submit(o, BEFORE)
    with pytest.raises(OrderError, match="owner"):
        market.cancel(Cancel.create(BOB, DOMAIN, o, nonce=1), BEFORE)
    with pytest.raises(OrderError, match="nonce 1"):
        market.cancel(Cancel.create(ALICE, DOMAIN, o, nonce=1), BEFORE)
    assert market.cancel(Cancel.create(ALICE, DOMAIN, o, nonce=2), BEFORE) == o
    assert len(market.book(SLOT)) == 0
    with pytest.raises(OrderError, match="nothing to cancel"):
        market.cancel(Cancel.create(ALICE, DOMAIN, o, nonce=3), BEFORE)


def test_cancel_after_gate_closure(market: RegionalMarket) -> None:
    o = order(ALICE, Side.BID, 1000, 250_000, 1)
    market.submit(o, BEFORE)
    with pytest.raises(SlotError):
        market.cancel(Cancel.create(ALICE, DOMAIN, o, nonce=2), AFTER)


def test_frozen_book_refuses_changes(market: RegionalMarket) -> None:
    o = order(ALICE, Side.BID, 1000, 250_000, 1)
    market.submit(o, BEFORE)
    market.clear(SLOT, AFTER)
    book = market.book(SLOT)
    assert book.frozen
    with pytest.raises(MarketError, match="frozen"):
        book.add(order(BOB, Side.ASK, 1000, 250_000, 1))
    with pytest.raises(MarketError, match="frozen"):
        book.remove(o.order_id)


def test_book_refuses_foreign_orders() -> None:
    book = OrderBook("north", SLOT)
    with pytest.raises(OrderError, match="does not belong"):
        book.add(order(ALICE, Side.BID, 1, 1, 1, slot=SLOT.next().start_s))
    with pytest.raises(OrderError, match="never accepted"):
        book.remove(b"\0" * 32)


def test_reclear_reproduces_the_hash(market: RegionalMarket) -> None:
    orders = [
        order(ALICE, Side.BID, 1000, 300_000, 1),
        order(BOB, Side.ASK, 600, 100_000, 1),
        order(CAROL, Side.ASK, 900, 120_000, 1),
        order(CAROL, Side.ASK, 700, 60_000, 2, target=UTILITY.address),
    ]
    for o in orders:
        market.submit(o, BEFORE)
    result = market.clear(SLOT, AFTER)
    offers = market.companies.offers_for(SLOT.start_s)
    again = reclear(
        orders[::-1],
        offers,
        result.rules,
        region="north",
        slot_start_s=SLOT.start_s,
        expected_hash=result.hash,
    )
    assert again.encoding == result.encoding
    with pytest.raises(MarketError, match="re-clearing"):
        reclear(
            orders,
            offers,
            RuleSet("pay_as_bid", tariff=RULES.tariff),
            region="north",
            slot_start_s=SLOT.start_s,
            expected_hash=result.hash,
        )
    with pytest.raises(MarketError, match="re-clearing"):
        reclear(
            orders[1:],
            offers,
            result.rules,
            region="north",
            slot_start_s=SLOT.start_s,
            expected_hash=result.hash,
        )


def test_rule_schedule_picks_rules_by_slot() -> None:
    later = SLOT.next(4)
    new_rules = RuleSet("pay_as_bid", tariff=RULES.tariff)
    schedule = RuleSchedule(((0, RULES), (later.start_s, new_rules)))
    m = RegionalMarket("north", chain_id=CHAIN, rules=schedule)
    assert m.rules_for(SLOT) == RULES
    assert m.rules_for(later) == new_rules
    assert m.rules_for(later.next()) == new_rules
    for o in (order(ALICE, Side.BID, 1000, 300_000, 1), order(BOB, Side.ASK, 1000, 100_000, 1)):
        m.submit(o, BEFORE)
    assert m.clear(SLOT, AFTER).rules == RULES
    with pytest.raises(MarketError, match="strictly"):
        RuleSchedule(((10, RULES), (10, new_rules)))
    with pytest.raises(MarketError, match="no rule set"):
        RuleSchedule(((later.start_s, RULES),)).rules_at(SLOT.start_s)


def test_rule_set_values() -> None:
    assert RuleSet.from_dict(RULES.to_dict()) == RULES
    assert RuleSet.from_dict(RULES.to_dict()).hash == RULES.hash
    with pytest.raises(MarketError, match="unknown clearing rule"):
        RuleSet("pay_as_wish")
    with pytest.raises(MarketError, match="unknown rule-set keys"):
        RuleSet.from_dict({"fees": 1})
    with pytest.raises(MarketError, match="feed-in"):
        GridTariff(100, 200, 0)
    config = {
        "slot_minutes": 30,
        "gate_closure_s": 120,
        "retail_price_micro_per_kwh": 1,
        "feed_in_price_micro_per_kwh": 0,
        "grid_fee_micro_per_kwh": 0,
    }
    assert RuleSet.from_config(config).slot_minutes == 30


def test_naive_now_is_refused(market: RegionalMarket) -> None:
    with pytest.raises(SlotError, match="timezone"):
        market.submit(order(ALICE, Side.BID, 1, 1, 1), datetime(2027, 1, 1))


def test_a_market_bound_to_its_contract_accepts_only_orders_signed_for_it() -> None:
    contract = "0x" + "5a" * 20
    m = RegionalMarket("north", chain_id=CHAIN, rules=RULES, verifying_contract=contract)
    assert m.domain == Domain.of_contract(CHAIN, contract)

    def bid(domain: Domain, nonce: int) -> Order:
        return Order.create(ALICE, domain, region="north", slot_start_s=SLOT.start_s,
                            side=Side.BID, energy_wh=500, price_micro_per_kwh=250_000,
                            nonce=nonce)  # fmt: skip

    for nonce, other in enumerate((DOMAIN, Domain.of_contract(CHAIN, "0x" + "5b" * 20)), 1):
        with pytest.raises(SignatureError):
            m.submit(bid(other, nonce), BEFORE)
    good = bid(m.domain, 9)
    m.submit(good, BEFORE)
    assert m.book(SLOT).orders() == [good]


def test_evict_before_bounds_memory_and_refuses_evicted_slots(market: RegionalMarket) -> None:
    later = Slot(SLOT.start_s + 900)
    market.submit(order(ALICE, Side.BID, 1000, 300_000, 10), BEFORE)
    market.submit(order(BOB, Side.ASK, 1000, 100_000, 10), BEFORE)
    market.post_company_offer(order(UTILITY, Side.BID, 500, 130_000, 11))  # this slot only
    market.submit(order(CAROL, Side.BID, 700, 300_000, 10, slot=later.start_s), BEFORE)
    assert market.clear(SLOT, AFTER).traded_wh == 1000
    assert market.evict_before(later.start_s) == 1
    for read in (lambda: market.book(SLOT), lambda: market.result(SLOT)):
        with pytest.raises(MarketError, match="evicted"):
            read()
    with pytest.raises(MarketError, match="evicted"):
        market.clear(SLOT, AFTER)
    with pytest.raises(MarketError, match="evicted"):
        market.post_company_offer(order(UTILITY, Side.BID, 500, 130_000, 12))
    # the later slot is untouched, its nonces still count; closed slots' nonces are forgotten
    assert [o.owner for o in market.book(later).orders()] == [CAROL.address]
    with pytest.raises(OrderError, match="nonce 10"):
        market.submit(order(CAROL, Side.BID, 1, 300_000, 10, slot=later.start_s), BEFORE)
    market.submit(order(ALICE, Side.BID, 300, 300_000, 10, slot=later.start_s), BEFORE)
    # the standing offer stays (nonce 1 too); the per-slot one is gone
    (standing,) = market.companies.offers_for(later.start_s)
    assert standing.slot_start_s == STANDING_SLOT and standing.energy_wh == 2000
    assert market.companies.offer(UTILITY.address, SLOT.start_s) == standing
    with pytest.raises(OrderError, match="nonce 1 "):
        market.post_company_offer(order(UTILITY, Side.BID, 2000, 120_000, 1, slot=STANDING_SLOT))
    assert market.evict_before(SLOT.start_s) == 0  # never moves back
    with pytest.raises(MarketError, match="evicted"):
        market.book(SLOT)
