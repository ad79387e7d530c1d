"""Regional energy markets: signed orders, order books per slot, clearing rules, results.

See ``docs/architecture.md`` (section *Market*) for the rules as implemented. The public surface:
"""

from __future__ import annotations

from gridledger.market.book import BookArrays, OrderBook
from gridledger.market.clearing import (
    CLEARING_RULES,
    ClearingRule,
    clear_book,
    crossing,
    pay_as_bid,
    pay_as_clear,
    uniform_price,
)
from gridledger.market.companies import STANDING_SLOT, CompanyRegistry, match_company_offers
from gridledger.market.market import RegionalMarket, clear_slot, reclear
from gridledger.market.matching import Matches
from gridledger.market.orders import Cancel, Order, Side, validate_cancel, validate_order
from gridledger.market.records import SlotOrders
from gridledger.market.result import ClearingResult, GridFallback, Trade
from gridledger.market.rules import CLEARING_RULE_NAMES, RuleSchedule, RuleSet
from gridledger.market.tariff import GridTariff

__all__ = [
    "CLEARING_RULES",
    "CLEARING_RULE_NAMES",
    "STANDING_SLOT",
    "BookArrays",
    "Cancel",
    "ClearingResult",
    "ClearingRule",
    "CompanyRegistry",
    "GridFallback",
    "GridTariff",
    "Matches",
    "Order",
    "OrderBook",
    "RegionalMarket",
    "RuleSchedule",
    "RuleSet",
    "Side",
    "SlotOrders",
    "Trade",
    "clear_book",
    "clear_slot",
    "crossing",
    "match_company_offers",
    "pay_as_bid",
    "pay_as_clear",
    "reclear",
    "uniform_price",
    "validate_cancel",
    "validate_order",
]
