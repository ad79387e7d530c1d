"""The public surface of gridledger.market is pinned (STYLE.md #4)."""

from __future__ import annotations

import gridledger.market as market


def test_exported_members() -> None:
    assert market.__all__ == [
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
    for name in market.__all__:
        assert getattr(market, name) is not None


def test_rule_names_match_rules() -> None:
    assert tuple(market.CLEARING_RULES) == market.CLEARING_RULE_NAMES
