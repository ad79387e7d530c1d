"""Home batteries of many households, dispatched together (vectorised with numpy).

Each slot a household's battery first absorbs its PV surplus and then covers its deficit, limited
by its capacity [Wh], its power limit [W] (as energy per slot: ``floor(power_w * slot_hours)``),
the owner's reserve state of charge [Wh] (kept for outages, never discharged below) and its
charging efficiency [per mille] (the round-trip loss is applied on charging, so the energy drawn
from the surplus is ``charged_wh`` and the stored energy grows by
``charged_wh * efficiency_permille // 1000``). Everything is integer Wh: the balance
``net_wh - charged_wh + discharged_wh == residual_wh`` holds exactly.

Capacity 0 means no battery; such a household charges and discharges nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

#: Default charging efficiency [per mille of the energy drawn].
CHARGE_EFFICIENCY_PERMILLE = 950
#: Default reserve state of charge kept for outages [per mille of capacity].
RESERVE_PERMILLE = 100


@dataclass
class BatteryBank:
    """State of charge [Wh] of every household's battery, with its limits.

    ``capacity_wh``, ``power_w``, ``soc_wh``, ``efficiency_permille`` and ``reserve_wh`` are int64
    arrays of one entry per household.
    """

    capacity_wh: I64
    power_w: I64
    soc_wh: I64
    efficiency_permille: I64
    reserve_wh: I64
    #: (slot hours, power limit per slot [Wh]) of the last dispatch: power limits do not change
    _limit: tuple[float, I64] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(
        cls,
        capacity_wh: I64,
        power_w: I64,
        *,
        initial_soc_permille: I64 | int = 500,
        reserve_permille: I64 | int = RESERVE_PERMILLE,
        efficiency_permille: I64 | int = CHARGE_EFFICIENCY_PERMILLE,
    ) -> BatteryBank:
        """Batteries from their sizes; state of charge, reserve [per mille of capacity] and
        efficiency [per mille] as one value for all or one per household."""
        n = len(capacity_wh)
        cap = np.asarray(capacity_wh, np.int64)

        def per_household(value: I64 | int) -> I64:
            return np.broadcast_to(np.asarray(value, np.int64), (n,)).copy()

        return cls(
            capacity_wh=cap.copy(),
            power_w=np.asarray(power_w, np.int64).copy(),
            soc_wh=cap * per_household(initial_soc_permille) // 1000,
            efficiency_permille=per_household(efficiency_permille),
            reserve_wh=cap * per_household(reserve_permille) // 1000,
        )

    @classmethod
    def half_full(cls, capacity_wh: I64, power_w: I64) -> BatteryBank:
        """Half-full batteries with the default reserve and efficiency."""
        return cls.of(capacity_wh, power_w)

    def dispatch(self, net_wh: I64, slot_hours: float) -> tuple[I64, I64, I64]:
        """Apply one slot of self-consumption dispatch.

        ``net_wh`` is PV minus load per household [Wh]. Returns ``(charged_wh, discharged_wh,
        residual_wh)``: energy taken from the surplus into the battery, energy delivered from the
        battery, and the residual net position after the battery [Wh]. Updates ``soc_wh``.
        """
        if self._limit is None or self._limit[0] != slot_hours:
            self._limit = (slot_hours, np.floor(self.power_w * slot_hours).astype(np.int64))
        limit_wh = self._limit[1]
        headroom_wh = (
            (self.capacity_wh - self.soc_wh) * 1000 // np.maximum(self.efficiency_permille, 1)
        )
        surplus = np.maximum(net_wh, 0)
        deficit = np.maximum(-net_wh, 0)
        charged = np.minimum(np.minimum(surplus, limit_wh), headroom_wh)
        available = np.maximum(self.soc_wh - self.reserve_wh, 0)
        discharged = np.minimum(np.minimum(deficit, limit_wh), available)
        self.soc_wh = self.soc_wh + charged * self.efficiency_permille // 1000 - discharged
        residual = net_wh - charged + discharged
        return charged, discharged, residual
