"""The demand-response strategy: plan each household's flexible energy over its next hours from
price forecasts and the operator's events, vectorised over households.

For every open session (EV, water heater; :class:`~gridledger.control.flexible.DeadlineLoads`)
the planner spreads the energy still needed over the slots before the deadline, cheapest first:
a slot's cost is the price the household expects to pay for one more kWh there (the retail price
while its own forecast is a deficit, the forgone feed-in price while its PV forecast is a
surplus), plus a penalty in a load-shed window; an import limit caps the slot's flexible energy
at ``limit - inflexible forecast``. Filling cheapest slots first at full power is the exact
optimum of this linear problem with per-slot caps (a fractional knapsack), computed for all
households at once with one ``argsort`` and a ``cumsum``. Ties between equally cheap slots are
broken by a per-household hash so neighbours do not all start at the same slot (the rebound
peak). Comfort is hard: energy that cannot fit under the events' caps is planned in the cheapest
of the remaining slots regardless of events. The plan is remade every slot (receding horizon) and
only its first slot is executed, always within :meth:`DeadlineLoads.bounds`.

Written here rather than with an LP solver: the problem is separable per household and the
greedy fill is optimal, which a vectorised sort solves for a whole region in microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridledger.control.flexible import DeadlineLoads

I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Added to the cost [micro-units/kWh] of a slot in a load-shed window the household follows.
SHED_PENALTY_MICRO = 10_000_000
#: No limit [Wh per slot].
UNLIMITED_WH = np.iinfo(np.int64).max // 4
#: Tie-break resolution: costs are scaled by this and a hash in ``[0, TIE)`` is added.
TIE = 1024


def plan_energy(remaining_wh: I64, cost: I64, cap_wh: I64) -> I64:
    """Fill ``remaining_wh`` (households,) into the cheapest slots of ``cost`` (households,
    slots) [any integer cost unit], at most ``cap_wh`` (households, slots) [Wh] per slot.

    Returns the plan (households, slots) [Wh]; a household whose caps add up to less than its
    remaining energy gets all its caps."""
    order = np.argsort(cost, axis=1, kind="stable")
    caps = np.take_along_axis(cap_wh, order, axis=1)
    before = np.cumsum(caps, axis=1) - caps
    fill = np.clip(remaining_wh[:, None] - before, 0, caps)
    out = np.zeros_like(cap_wh)
    np.put_along_axis(out, order, fill, axis=1)
    return out


@dataclass(frozen=True)
class Signals:
    """What the household controllers know about slots ``first .. first + count`` (from the
    VEN, :mod:`gridledger.control.ven`): ``price_micro`` (count,) retail price
    [micro-units/kWh]; ``shed`` (households, count) in a load-shed window they follow;
    ``limit_wh`` (households, count) import limit [Wh per slot], :data:`UNLIMITED_WH` if none."""

    first: int
    price_micro: I64
    shed: BoolArray
    limit_wh: I64

    def window(self, first: int, count: int) -> Signals:
        """The same signals for slots ``first .. first + count`` (within these)."""
        a = first - self.first
        return Signals(
            first, self.price_micro[a : a + count], self.shed[:, a : a + count],
            self.limit_wh[:, a : a + count],
        )  # fmt: skip


class FlexPlanner:
    """Plans the flexible devices of one region's households (see the module docstring).

    ``tie_hash`` (households, slots of a day) in ``[0, TIE)``: each household's preference
    among equally cheap slots, by slot of the day."""

    def __init__(self, devices: Sequence[DeadlineLoads], tie_hash: I64, horizon: int) -> None:
        self.devices = list(devices)
        self.tie_hash = np.asarray(tie_hash, np.int64)
        self.horizon = horizon

    def step(
        self,
        slot: int,
        slot_of_day: int,
        signals: Signals,
        inflexible_net_wh: I64,
        feed_in_micro: int,
        horizon: int | None = None,
    ) -> list[I64]:
        """This slot's energy per device [Wh per household], planned over ``horizon`` slots.

        ``signals`` must cover ``slot .. slot + horizon``; ``inflexible_net_wh`` (households,
        horizon) is the forecast of load minus PV without the flexible devices [Wh]; a
        ``horizon`` shorter than the planner's (the run's last slots) may be given."""
        spd = self.tie_hash.shape[1]
        h = self.horizon if horizon is None else horizon
        sig = signals.window(slot, h)
        deficit = inflexible_net_wh > 0
        unit_cost = np.where(deficit, sig.price_micro[None, :], feed_in_micro)
        unit_cost = unit_cost + np.where(sig.shed, SHED_PENALTY_MICRO, 0)
        ties = self.tie_hash[:, (slot_of_day + np.arange(h)) % spd]
        cost = unit_cost * TIE + ties
        # headroom under an import limit for flexible energy, shared by the devices in order
        headroom = np.where(
            sig.limit_wh >= UNLIMITED_WH,
            UNLIMITED_WH,
            np.maximum(sig.limit_wh - np.maximum(inflexible_net_wh, 0), 0),
        )
        out = []
        for dev in self.devices:
            must, may = dev.bounds(slot)
            avail = dev.available(slot, h)
            limit = np.where(avail, dev.limit_wh[:, None], 0)
            capped = np.minimum(limit, headroom)
            remaining = dev.remaining_wh()
            first = plan_energy(remaining, cost, capped)
            left = remaining - first.sum(axis=1)
            # comfort is hard: what the events leave no room for goes where it is cheapest
            second = plan_energy(left, cost, limit - first)
            plan = first + second
            now = np.clip(plan[:, 0], must, may)
            headroom = headroom - np.where(headroom >= UNLIMITED_WH, 0, plan)
            headroom = np.maximum(headroom, 0)
            out.append(now)
        return out

    @staticmethod
    def asap(devices: Sequence[DeadlineLoads], slot: int) -> list[I64]:
        """Uncontrolled: every device draws as much as it may, as soon as it may [Wh]."""
        return [dev.bounds(slot)[1] for dev in devices]
