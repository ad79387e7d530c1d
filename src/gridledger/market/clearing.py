"""Clearing rules: named, pluggable functions from a book's arrays to matched trades.

A clearing rule is a :data:`ClearingRule`: ``rule(book, tariff) -> Matches`` over the open market
(bids that are not company offers, asks addressed to no company). :func:`clear_book` runs the rule
named in the :class:`~gridledger.market.rules.RuleSet`, adds the energy-company matches
(:func:`~gridledger.market.companies.match_company_offers`) and builds the
:class:`~gridledger.market.result.ClearingResult` with the grid fallback.

**Fees and limits (the gsy-e convention).** A bid's limit includes the network fee: a bid with
limit ``L`` competes with the *effective* price ``L - fee`` and every trade it makes satisfies
``price + fee <= L``, so the buyer's payment ``cost_micro(e, price) + cost_micro(e, fee)`` never
exceeds ``cost_micro(e, L)``. An ask with limit ``A`` only trades at ``price >= A``.

**Volume.** Both rules trade the same, maximal volume ``Q``: the number of Wh ``x`` (bids sorted by
effective price descending, asks by price ascending, ties by order hash) for which the ``x``-th Wh's
bid is at least the ``x``-th Wh's ask. Orders better than the marginal price level of their side
fill completely; the marginal level shares the rest pro rata (:func:`fill_by_priority`).

**pay_as_clear (uniform price).** Every trade is at one price ``p`` inside the crossing interval
``[lo, hi]``: ``lo = max(marginal ask, first rejected bid)``,
``hi = min(marginal bid, first rejected ask)`` (effective prices); any price in it clears the
same volume. We take the part of it inside the grid's band ``[feed-in, retail - fee]`` (where
neither side would rather trade with the grid) and pick its midpoint, rounded down: a k-double
auction with k = 1/2, which splits the marginal surplus evenly instead of handing all of it to one
side as either end would. If the interval lies wholly outside the band, ``p`` is the interval's
end nearest the band.

**pay_as_bid (discriminatory).** Same fills and pairing; each trade is at its bid's effective
price ``L - fee``, so each buyer pays exactly its limit all-in and sellers keep the whole surplus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridledger.errors import MarketError
from gridledger.market.book import BookArrays
from gridledger.market.companies import match_company_offers
from gridledger.market.matching import Matches, fill_by_priority, pair_fills, priority_order
from gridledger.market.result import ClearingResult
from gridledger.market.rules import RuleSet
from gridledger.market.tariff import GridTariff
from gridledger.units import MAX_ENERGY_WH, MAX_PRICE_MICRO_PER_KWH

I64 = npt.NDArray[np.int64]

#: A clearing rule: the open market's matches of a book under a tariff.
ClearingRule = Callable[[BookArrays, GridTariff], Matches]


@dataclass(frozen=True, eq=False)
class Crossing:
    """The open market's supply/demand crossing, shared by both rules.

    ``bid_rows``/``ask_rows`` are in priority order with ``bid_eff`` (limit - fee) and
    ``ask_price``; ``volume_wh`` is the traded volume; ``bid_fill``/``ask_fill`` the fills;
    ``low``/``high`` the crossing price interval (None when nothing trades).
    """

    bid_rows: I64
    bid_eff: I64
    ask_rows: I64
    ask_price: I64
    volume_wh: int
    bid_fill: I64
    ask_fill: I64
    low: int | None
    high: int | None


def _unit_price(cum: I64, prices: I64, unit: int) -> int:
    """Price of the order holding the ``unit``-th Wh (0-based) of a cumulative curve."""
    return int(prices[int(np.searchsorted(cum, unit, side="right"))])


def crossing(book: BookArrays, tariff: GridTariff) -> Crossing:
    """Sort the open market, find the traded volume, the fills and the crossing interval."""
    fee = tariff.grid_fee_micro_per_kwh
    open_bid = book.is_bid & ~book.is_company
    open_ask = ~book.is_bid & (book.target_row < 0)
    bid_rows_in = np.flatnonzero(open_bid)
    ask_rows_in = np.flatnonzero(open_ask)
    bid_rows = priority_order(book, bid_rows_in, fee - book.price_micro_per_kwh[bid_rows_in])
    ask_rows = priority_order(book, ask_rows_in, book.price_micro_per_kwh[ask_rows_in])
    bid_eff = book.price_micro_per_kwh[bid_rows] - fee
    ask_price = book.price_micro_per_kwh[ask_rows]
    bid_qty = book.energy_wh[bid_rows]
    ask_qty = book.energy_wh[ask_rows]
    bid_cum = np.cumsum(bid_qty)
    ask_cum = np.cumsum(ask_qty)
    demand = int(bid_cum[-1]) if len(bid_cum) else 0
    supply = int(ask_cum[-1]) if len(ask_cum) else 0

    # Binary search for the first Wh whose bid is below its ask; both curves are monotone.
    lo, hi = 0, min(demand, supply)
    while lo < hi:
        mid = (lo + hi) // 2
        if _unit_price(bid_cum, bid_eff, mid) >= _unit_price(ask_cum, ask_price, mid):
            lo = mid + 1
        else:
            hi = mid
    volume = lo
    bid_fill, _ = fill_by_priority(-bid_eff, bid_qty, volume)
    ask_fill, _ = fill_by_priority(ask_price, ask_qty, volume)
    low = high = None
    if volume:
        low = _unit_price(ask_cum, ask_price, volume - 1)
        high = _unit_price(bid_cum, bid_eff, volume - 1)
        if volume < demand:
            low = max(low, _unit_price(bid_cum, bid_eff, volume))
        if volume < supply:
            high = min(high, _unit_price(ask_cum, ask_price, volume))
    return Crossing(bid_rows, bid_eff, ask_rows, ask_price, volume, bid_fill, ask_fill, low, high)


def uniform_price(low: int, high: int, tariff: GridTariff) -> int:
    """The pay-as-clear price in ``[low, high]``: the floor midpoint of its part inside the grid
    band ``[feed-in, retail - fee]``, or the end of ``[low, high]`` nearest the band."""
    band_low, band_high = tariff.price_band
    a, b = max(low, band_low), min(high, band_high)
    if a <= b:
        return (a + b) // 2
    if high < band_low:
        return high
    return low


def pay_as_clear(book: BookArrays, tariff: GridTariff) -> Matches:
    """Uniform-price double auction: every open-market trade at :func:`uniform_price`."""
    c = crossing(book, tariff)
    if c.volume_wh == 0 or c.low is None or c.high is None:
        return Matches.empty()
    price = uniform_price(c.low, c.high, tariff)
    bid_pos, ask_pos, energy = pair_fills(c.bid_fill, c.ask_fill)
    return Matches(
        bid_row=c.bid_rows[bid_pos],
        ask_row=c.ask_rows[ask_pos],
        energy_wh=energy,
        price_micro_per_kwh=np.full(len(energy), price, np.int64),
        clearing_price_micro_per_kwh=price,
    )


def pay_as_bid(book: BookArrays, tariff: GridTariff) -> Matches:
    """Discriminatory auction: the same trades, each at its bid's effective price (limit - fee)."""
    c = crossing(book, tariff)
    if c.volume_wh == 0:
        return Matches.empty()
    bid_pos, ask_pos, energy = pair_fills(c.bid_fill, c.ask_fill)
    return Matches(
        bid_row=c.bid_rows[bid_pos],
        ask_row=c.ask_rows[ask_pos],
        energy_wh=energy,
        price_micro_per_kwh=c.bid_eff[bid_pos],
        clearing_price_micro_per_kwh=None,
    )


#: The clearing rules by the name a :class:`RuleSet` records.
CLEARING_RULES: dict[str, ClearingRule] = {
    "pay_as_clear": pay_as_clear,
    "pay_as_bid": pay_as_bid,
}


def check_book_arrays(book: BookArrays) -> None:
    """Refuse arrays a validated book could not hold (bounds, targets); vectorised, cheap."""
    if len(book) == 0:
        return
    if int(book.energy_wh.min()) <= 0 or int(book.energy_wh.max()) > MAX_ENERGY_WH:
        raise MarketError(f"book energy_wh must be in 1..{MAX_ENERGY_WH} Wh")
    if int(book.price_micro_per_kwh.min()) < 0 or (
        int(book.price_micro_per_kwh.max()) > MAX_PRICE_MICRO_PER_KWH
    ):
        raise MarketError(f"book prices must be in 0..{MAX_PRICE_MICRO_PER_KWH} micro/kWh")
    if (book.is_company & ~book.is_bid).any():
        raise MarketError("a company offer must be a bid")
    targeted = np.flatnonzero(book.target_row >= 0)
    if len(targeted):
        targets = book.target_row[targeted]
        if int(targets.max()) >= len(book) or (
            book.is_bid[targeted].any() or not book.is_company[targets].all()
        ):
            raise MarketError("a company target must be an ask pointing at a company offer row")


def clear_book(
    book: BookArrays, rules: RuleSet, *, region: str, slot_start_s: int
) -> ClearingResult:
    """Clear one slot's book under ``rules``: open market, company offers, grid fallback."""
    check_book_arrays(book)
    try:
        rule = CLEARING_RULES[rules.clearing_rule]
    except KeyError:
        raise MarketError(
            f"no clearing rule {rules.clearing_rule!r}; known: {', '.join(CLEARING_RULES)}"
        ) from None
    open_market = rule(book, rules.tariff)
    company = match_company_offers(book, rules.tariff)
    return ClearingResult.build(
        book=book,
        rules=rules,
        region=region,
        slot_start_s=slot_start_s,
        open_market=open_market,
        company=company,
    )
