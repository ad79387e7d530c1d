"""The home controller: PV first, then the battery, then the market; vectorised over households.

For every household of a region, one slot at a time:

1. its own load is served from its own PV (``net_wh = pv_wh - load_wh``);
2. the battery absorbs the surplus or covers the deficit within its reserve, power limit and
   efficiency (:class:`~gridledger.control.battery.BatteryBank`);
3. the residual is traded: a surplus becomes an ask, a deficit a bid, with limit prices from the
   strategy of the household's group (:mod:`gridledger.control.strategy`).

The simulator drives a whole region at once; the live service can drive a bank of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridledger.control.battery import BatteryBank
from gridledger.control.strategy import SlotContext, Strategy
from gridledger.errors import ValidationError

I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Positions:
    """One slot's dispatch and orders of every household.

    ``charged_wh``/``discharged_wh`` [Wh] by the battery; ``residual_wh`` > 0 is offered, < 0 is
    bid for [Wh]; ``ask_micro`` / ``bid_micro`` the limits [micro-units/kWh] (only the one
    matching the sign of ``residual_wh`` is used); ``to_company`` addresses the surplus to the
    energy company.
    """

    charged_wh: I64
    discharged_wh: I64
    residual_wh: I64
    ask_micro: I64
    bid_micro: I64
    to_company: BoolArray


class HomeController:
    """Controls the homes of one region: their batteries and a strategy per household group.

    ``groups`` pairs the household indices of a group (int64 array) with its strategy; every
    household belongs to exactly one group.
    """

    def __init__(self, battery: BatteryBank, groups: Sequence[tuple[I64, Strategy]]) -> None:
        self.battery = battery
        self.groups = [(np.asarray(idx, np.int64), s) for idx, s in groups]
        n = len(battery.capacity_wh)
        covered = np.zeros(n, np.int64)
        for idx, _ in self.groups:
            np.add.at(covered, idx, 1)
        if n and not (covered == 1).all():
            raise ValidationError("every household must belong to exactly one strategy group")

    def step(self, ctx: SlotContext, pv_wh: I64, load_wh: I64, slot_hours: float) -> Positions:
        """Dispatch the batteries for one slot and price the residual positions."""
        charged, discharged, residual = self.battery.dispatch(pv_wh - load_wh, slot_hours)
        n = len(residual)
        ask = np.empty(n, np.int64)
        bid = np.empty(n, np.int64)
        to_company = np.zeros(n, bool)
        if len(self.groups) == 1 and len(self.groups[0][0]) == n:
            limits = self.groups[0][1].limits(ctx, residual)
            ask, bid, to_company = limits.ask_micro, limits.bid_micro, limits.to_company
        else:
            for idx, strategy in self.groups:
                limits = strategy.limits(ctx, residual[idx])
                ask[idx] = limits.ask_micro
                bid[idx] = limits.bid_micro
                to_company[idx] = limits.to_company
        return Positions(charged, discharged, residual, ask, bid, to_company)

    def observe(self, ctx: SlotContext, clearing_price_micro_per_kwh: int | None) -> None:
        """Tell every strategy the slot's clearing price."""
        for _, strategy in self.groups:
            strategy.observe(ctx, clearing_price_micro_per_kwh)
