"""The home controller: battery, EV and flexible loads; trading strategies; demand response (VEN).

Used by the simulator (vectorised over households) and the live service (per household). It knows
the market and devices below it, never the simulator, the service or the API above it.
"""

from gridledger.control.battery import BatteryBank
from gridledger.control.controller import HomeController, Positions
from gridledger.control.strategy import (
    STRATEGY_NAMES,
    OrderLimits,
    PriceBased,
    PriceForecast,
    SelfConsumption,
    SellToCompany,
    SlotContext,
    Strategy,
)

__all__ = [
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
