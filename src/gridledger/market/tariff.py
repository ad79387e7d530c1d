"""The grid's tariff: the fallback prices that bound a region's market, and the network fee.

* ``retail_price_micro_per_kwh``: what a household pays the utility for demand the market did not
  serve (unmatched bids). No buyer needs to pay more than this all-in, so it bounds the market
  price from above (together with the fee).
* ``feed_in_price_micro_per_kwh``: what the utility pays for supply the market did not take
  (unmatched asks). No seller needs to take less, so it bounds the market price from below.
* ``grid_fee_micro_per_kwh``: the network fee per kWh that a buyer pays on top of every market
  trade's price; it goes to the grid operator and is recorded separately on each trade.

All prices are integer micro-units per kWh; amounts follow :func:`gridledger.units.cost_micro`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridledger.errors import MarketError
from gridledger.units import cost_micro, validate_price_micro_per_kwh

DEFAULT_RETAIL_PRICE_MICRO_PER_KWH = 300_000
DEFAULT_FEED_IN_PRICE_MICRO_PER_KWH = 80_000
DEFAULT_GRID_FEE_MICRO_PER_KWH = 20_000


@dataclass(frozen=True)
class GridTariff:
    """Retail price, feed-in price and network fee of one region [micro-units/kWh]."""

    retail_price_micro_per_kwh: int = DEFAULT_RETAIL_PRICE_MICRO_PER_KWH
    feed_in_price_micro_per_kwh: int = DEFAULT_FEED_IN_PRICE_MICRO_PER_KWH
    grid_fee_micro_per_kwh: int = DEFAULT_GRID_FEE_MICRO_PER_KWH

    def __post_init__(self) -> None:
        for name, value in self.to_dict().items():
            validate_price_micro_per_kwh(value, name)
        if self.feed_in_price_micro_per_kwh > self.retail_price_micro_per_kwh:
            raise MarketError(
                f"feed-in price {self.feed_in_price_micro_per_kwh} is above the retail price "
                f"{self.retail_price_micro_per_kwh}; the grid would buy dearer than it sells"
            )

    @property
    def price_band(self) -> tuple[int, int]:
        """``(low, high)`` market-price band [micro-units/kWh] in which neither side would rather
        use the grid: ``low`` = feed-in price, ``high`` = retail price minus the network fee.
        Empty (low > high) when the fee eats the whole spread."""
        return (
            self.feed_in_price_micro_per_kwh,
            self.retail_price_micro_per_kwh - self.grid_fee_micro_per_kwh,
        )

    def retail_cost_micro(self, energy_wh: int) -> int:
        """What ``energy_wh`` of unmatched demand costs at the retail price [micro-units]."""
        return cost_micro(energy_wh, self.retail_price_micro_per_kwh)

    def feed_in_revenue_micro(self, energy_wh: int) -> int:
        """What ``energy_wh`` of unmatched supply earns at the feed-in price [micro-units]."""
        return cost_micro(energy_wh, self.feed_in_price_micro_per_kwh)

    def encode(self) -> bytes:
        return (
            self.retail_price_micro_per_kwh.to_bytes(8)
            + self.feed_in_price_micro_per_kwh.to_bytes(8)
            + self.grid_fee_micro_per_kwh.to_bytes(8)
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "retail_price_micro_per_kwh": self.retail_price_micro_per_kwh,
            "feed_in_price_micro_per_kwh": self.feed_in_price_micro_per_kwh,
            "grid_fee_micro_per_kwh": self.grid_fee_micro_per_kwh,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GridTariff:
        defaults = cls()
        return cls(
            retail_price_micro_per_kwh=int(
                data.get("retail_price_micro_per_kwh", defaults.retail_price_micro_per_kwh)
            ),
            feed_in_price_micro_per_kwh=int(
                data.get("feed_in_price_micro_per_kwh", defaults.feed_in_price_micro_per_kwh)
            ),
            grid_fee_micro_per_kwh=int(
                data.get("grid_fee_micro_per_kwh", defaults.grid_fee_micro_per_kwh)
            ),
        )
