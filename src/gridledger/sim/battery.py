"""Self-consumption battery dispatch, vectorised over the households of a region.

Each slot, a household's battery first absorbs its PV surplus and then covers its deficit,
limited by capacity [Wh], power limit [W] (converted to energy per slot), the owner's reserve state
of charge and a round-trip efficiency applied on charging. What is left is the household's net
position for the market: positive = energy to sell [Wh], negative = energy to buy [Wh].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Round-trip efficiency applied when charging [fraction, in per-mille to stay integer].
CHARGE_EFFICIENCY_PERMILLE = 950
#: Reserve state of charge kept for outages [per-mille of capacity].
RESERVE_PERMILLE = 100


@dataclass
class BatteryBank:
    """State of charge [Wh] of every battery in a region; capacity 0 means no battery."""

    capacity_wh: npt.NDArray[np.int64]
    power_w: npt.NDArray[np.int64]
    soc_wh: npt.NDArray[np.int64]

    @classmethod
    def half_full(
        cls, capacity_wh: npt.NDArray[np.int64], power_w: npt.NDArray[np.int64]
    ) -> BatteryBank:
        return cls(capacity_wh, power_w, capacity_wh // 2)

    def dispatch(
        self, net_wh: npt.NDArray[np.int64], slot_hours: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Apply one slot of self-consumption dispatch.

        ``net_wh`` is PV minus load per household [Wh]. Returns ``(charged_wh, discharged_wh,
        residual_wh)``: energy taken from the surplus into the battery, energy delivered from the
        battery, and the residual net position after the battery [Wh]. Updates ``soc_wh``.
        """
        limit_wh = np.floor(self.power_w * slot_hours).astype(np.int64)
        reserve_wh = self.capacity_wh * RESERVE_PERMILLE // 1000
        headroom_wh = (self.capacity_wh - self.soc_wh) * 1000 // CHARGE_EFFICIENCY_PERMILLE
        surplus = np.maximum(net_wh, 0)
        deficit = np.maximum(-net_wh, 0)
        charged = np.minimum(np.minimum(surplus, limit_wh), headroom_wh)
        available = np.maximum(self.soc_wh - reserve_wh, 0)
        discharged = np.minimum(np.minimum(deficit, limit_wh), available)
        self.soc_wh = self.soc_wh + charged * CHARGE_EFFICIENCY_PERMILLE // 1000 - discharged
        residual = net_wh - charged + discharged
        return charged, discharged, residual
