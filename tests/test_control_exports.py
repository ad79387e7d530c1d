"""The public surface of gridledger.control is pinned (STYLE.md #4)."""

from __future__ import annotations

import gridledger.control as control


def test_exported_members() -> None:
    assert control.__all__ == [
        "STRATEGY_NAMES",
        "BatteryBank",
        "HomeController",
        "OrderLimits",
        "Positions",
        "PriceBased",
        "PriceForecast",
        "SelfConsumption",
        "SellToCompany",
        "SlotContext",
        "Strategy",
    ]
    assert all(hasattr(control, name) for name in control.__all__)
