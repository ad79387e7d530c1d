"""Trading strategies of the home controller, behind one interface (:class:`Strategy`).

A strategy decides, for one group of households and one slot, the limit prices of the orders the
controller places for their residual position (after PV and battery) and whether a surplus is
addressed to the region's energy company. Every array has one entry per household of the group;
prices are integer micro-units per kWh, a bid's limit includes the network fee (the market's
convention), an ask's does not.

* :class:`SelfConsumption`: sell any surplus above the feed-in price, buy any deficit below the
  retail price (all-in): the market only ever improves on the grid.
* :class:`PriceBased`: limits around a forecast of the slot's clearing price
  (:class:`PriceForecast`, per time of day), each household with its own margin, kept inside
  ``[feed-in, retail]``.
* :class:`SellToCompany`: as self-consumption, but a surplus is addressed to the energy company
  when the company's payout (its price less the network fee) is at least the feed-in price.

Demand-response strategies (issue 14) implement the same protocol: :class:`SlotContext` carries
``events`` (empty today) for the operator's price and limit signals, and a strategy may also
implement :meth:`Strategy.observe` to learn from cleared prices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SlotContext:
    """What a strategy knows about the slot it trades.

    ``slot_index`` counts slots from the start of the run, ``slot_of_day`` the slot within the
    local day; the tariff in force [micro-units/kWh]; ``company_price_micro_per_kwh`` the region
    company's all-in offer or None; ``events`` demand-response signals by name (issue 14).
    """

    slot_index: int
    slot_start_s: int
    slot_of_day: int
    slots_per_day: int
    retail_micro_per_kwh: int
    feed_in_micro_per_kwh: int
    fee_micro_per_kwh: int
    company_price_micro_per_kwh: int | None = None
    events: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderLimits:
    """Limits of one group's orders: ``ask_micro`` (surplus, no fee), ``bid_micro`` (deficit,
    fee included) [micro-units/kWh], and ``to_company`` (address the surplus to the company)."""

    ask_micro: I64
    bid_micro: I64
    to_company: BoolArray


class Strategy(Protocol):
    """One trading strategy for a group of households."""

    name: str

    def limits(self, ctx: SlotContext, residual_wh: I64) -> OrderLimits:
        """The group's order limits this slot; ``residual_wh`` > 0 sells, < 0 buys [Wh]."""
        ...

    def observe(self, ctx: SlotContext, clearing_price_micro_per_kwh: int | None) -> None:
        """Learn the slot's clearing price after it cleared (None: no open-market price)."""
        ...


def _flat(n: int, value: int) -> I64:
    return np.full(n, value, np.int64)


@dataclass
class SelfConsumption:
    """Surplus offered at the feed-in price, deficit bid at the retail price (fee included)."""

    name: str = "self_consumption"

    def limits(self, ctx: SlotContext, residual_wh: I64) -> OrderLimits:
        n = len(residual_wh)
        return OrderLimits(
            _flat(n, ctx.feed_in_micro_per_kwh),
            _flat(n, ctx.retail_micro_per_kwh),
            np.zeros(n, bool),
        )

    def observe(self, ctx: SlotContext, clearing_price_micro_per_kwh: int | None) -> None:
        return None


@dataclass
class SellToCompany:
    """Self-consumption limits; the surplus goes to the region's energy company when its payout
    (all-in price less the network fee) is at least the feed-in price."""

    name: str = "sell_to_company"

    def limits(self, ctx: SlotContext, residual_wh: I64) -> OrderLimits:
        base = SelfConsumption().limits(ctx, residual_wh)
        price = ctx.company_price_micro_per_kwh
        worth_it = price is not None and price - ctx.fee_micro_per_kwh >= ctx.feed_in_micro_per_kwh
        to_company = (residual_wh > 0) & worth_it
        return OrderLimits(base.ask_micro, base.bid_micro, to_company)

    def observe(self, ctx: SlotContext, clearing_price_micro_per_kwh: int | None) -> None:
        return None


class PriceForecast:
    """Forecast of the clearing price per slot of the day [micro-units/kWh]: an exponential
    moving average (weight 1/8 on the newest day, integer arithmetic so runs are reproducible),
    starting from ``initial`` for every slot of the day."""

    def __init__(self, slots_per_day: int, initial: int) -> None:
        self.values = np.full(slots_per_day, initial, np.int64)

    def predict(self, slot_of_day: int) -> int:
        return int(self.values[slot_of_day])

    def update(self, slot_of_day: int, price: int) -> None:
        self.values[slot_of_day] = (7 * int(self.values[slot_of_day]) + price) // 8


class PriceBased:
    """Limits from a forecast of the clearing price.

    A seller asks ``forecast - margin``, a buyer bids ``forecast + margin`` plus the network fee,
    both clipped to ``[feed-in, retail]`` (the ask at most ``retail - fee``). ``margin_permille``
    [per mille of the retail/feed-in spread] is one value per household of the group, so
    neighbours do not all quote the same price.
    """

    name = "price_based"

    def __init__(self, margin_permille: I64) -> None:
        self.margin_permille = np.asarray(margin_permille, np.int64)
        self.forecast: PriceForecast | None = None

    def _forecast(self, ctx: SlotContext) -> PriceForecast:
        if self.forecast is None:
            band_high = ctx.retail_micro_per_kwh - ctx.fee_micro_per_kwh
            mid = (ctx.feed_in_micro_per_kwh + max(band_high, ctx.feed_in_micro_per_kwh)) // 2
            self.forecast = PriceForecast(ctx.slots_per_day, mid)
        return self.forecast

    def limits(self, ctx: SlotContext, residual_wh: I64) -> OrderLimits:
        predicted = self._forecast(ctx).predict(ctx.slot_of_day)
        spread = ctx.retail_micro_per_kwh - ctx.feed_in_micro_per_kwh
        margin = spread * self.margin_permille // 1000
        top_ask = max(ctx.retail_micro_per_kwh - ctx.fee_micro_per_kwh, ctx.feed_in_micro_per_kwh)
        ask = np.clip(predicted - margin, ctx.feed_in_micro_per_kwh, top_ask)
        bid = np.clip(
            predicted + margin + ctx.fee_micro_per_kwh,
            ctx.feed_in_micro_per_kwh,
            ctx.retail_micro_per_kwh,
        )
        return OrderLimits(ask.astype(np.int64), bid.astype(np.int64), np.zeros(len(ask), bool))

    def observe(self, ctx: SlotContext, clearing_price_micro_per_kwh: int | None) -> None:
        if clearing_price_micro_per_kwh is not None:
            self._forecast(ctx).update(ctx.slot_of_day, clearing_price_micro_per_kwh)


#: Strategy names a scenario may use.
STRATEGY_NAMES = ("self_consumption", "price_based", "sell_to_company")
