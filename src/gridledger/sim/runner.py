"""The city runner: the household pipeline driven by a simulated clock.

For every region and slot: PV and load profiles give each household's energy balance [Wh]; its
battery absorbs what it can (:mod:`gridledger.control.battery`); the residual becomes a signed
EIP-712 order (surplus -> ask, deficit -> bid) submitted to the region's real
:class:`~gridledger.market.RegionalMarket` before gate closure; at gate closure the slot is cleared
under the region's rule set. What the market did not match goes to the grid at its tariffs.

A region's energy company (:class:`~gridledger.sim.city.Company`) posts a signed per-slot buy
offer; some households with a battery address their surplus to it (an ask whose ``target`` is the
company) when its price less the network fee meets their limit. The market serves those asks only
from the company, up to its capacity; the rest falls back to feed-in.

The report carries the per-slot figures and the KPIs researchers compare: self-sufficiency, the
share of demand served peer to peer, and the community's energy bill against a grid-only baseline
(integer micro-units).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from gridledger.control import BatteryBank
from gridledger.market import ClearingResult, Order, RegionalMarket, RuleSet, Side
from gridledger.sim.city import City, RegionHouseholds
from gridledger.sim.profiles import load_energy_wh, pv_energy_wh
from gridledger.slots import Slot, require_utc
from gridledger.units import cost_micro


@dataclass(frozen=True)
class SlotReport:
    """What happened in one region in one slot.

    Energy [Wh], money [micro-units], price [micro-units/kWh]. ``traded_wh`` is what neighbours
    traded among themselves, ``company_wh`` what households sold to the energy company;
    ``market_amount_micro`` and ``fee_micro`` cover every trade, the ``company_*`` figures the
    company's share of them (it pays both).
    """

    slot: Slot
    pv_wh: int
    load_wh: int
    charged_wh: int
    discharged_wh: int
    bids: int
    asks: int
    traded_wh: int
    company_wh: int
    trades: int
    clearing_price_micro_per_kwh: int | None
    grid_import_wh: int
    grid_export_wh: int
    market_amount_micro: int
    fee_micro: int
    company_amount_micro: int
    company_fee_micro: int
    grid_import_micro: int
    grid_export_micro: int
    baseline_cost_micro: int
    result_hash: bytes

    @property
    def community_cost_micro(self) -> int:
        """What the region paid outside itself this slot: grid purchases and the network fees of
        its own trades, less feed-in and company revenue. Peer-to-peer payments stay inside the
        community and cancel out."""
        community_fees = self.fee_micro - self.company_fee_micro
        revenue = self.grid_export_micro + self.company_amount_micro
        return self.grid_import_micro + community_fees - revenue


@dataclass(frozen=True)
class HourReport:
    """The city's totals over one clock hour [Wh]; the mean of the slots' clearing prices
    [micro-units/kWh], floor-rounded, or None when no slot in the hour cleared a price."""

    start: datetime
    pv_wh: int
    load_wh: int
    traded_wh: int
    company_wh: int
    grid_import_wh: int
    grid_export_wh: int
    trades: int
    mean_clearing_price_micro_per_kwh: int | None


@dataclass
class RegionReport:
    region: str
    households: int
    slots: list[SlotReport] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(s, name)) for s in self.slots)


@dataclass
class SimulationReport:
    """Per-region slot reports and the city's KPIs."""

    city: str
    start: datetime
    rules: RuleSet
    regions: list[RegionReport]

    def total(self, name: str) -> int:
        return sum(r.total(name) for r in self.regions)

    @property
    def self_sufficiency(self) -> float:
        """Share of consumption not imported from the grid [0..1]."""
        load = self.total("load_wh")
        return 1.0 - self.total("grid_import_wh") / load if load else 0.0

    @property
    def p2p_share(self) -> float:
        """Share of consumption bought from neighbours in the market [0..1]."""
        load = self.total("load_wh")
        return self.total("traded_wh") / load if load else 0.0

    @property
    def community_cost_micro(self) -> int:
        return sum(s.community_cost_micro for r in self.regions for s in r.slots)

    @property
    def savings_micro(self) -> int:
        """Grid-only bill minus the bill with the market [micro-units] (positive = cheaper)."""
        return self.total("baseline_cost_micro") - self.community_cost_micro

    def hourly(self) -> list[HourReport]:
        """All regions' slots summed per clock hour (UTC), in time order."""
        by_hour: dict[datetime, list[SlotReport]] = {}
        for region in self.regions:
            for s in region.slots:
                by_hour.setdefault(s.slot.start.replace(minute=0, second=0), []).append(s)
        hours = []
        for start in sorted(by_hour):
            rows = by_hour[start]
            prices = [
                s.clearing_price_micro_per_kwh
                for s in rows
                if s.clearing_price_micro_per_kwh is not None
            ]
            hours.append(
                HourReport(
                    start,
                    sum(s.pv_wh for s in rows),
                    sum(s.load_wh for s in rows),
                    sum(s.traded_wh for s in rows),
                    sum(s.company_wh for s in rows),
                    sum(s.grid_import_wh for s in rows),
                    sum(s.grid_export_wh for s in rows),
                    sum(s.trades for s in rows),
                    sum(prices) // len(prices) if prices else None,
                )
            )
        return hours

    def summary(self) -> dict[str, object]:
        return {
            "city": self.city,
            "start": self.start.isoformat(),
            "regions": len(self.regions),
            "households": sum(r.households for r in self.regions),
            "slots": sum(len(r.slots) for r in self.regions),
            "clearing_rule": self.rules.clearing_rule,
            "pv_wh": self.total("pv_wh"),
            "load_wh": self.total("load_wh"),
            "traded_wh": self.total("traded_wh"),
            "company_wh": self.total("company_wh"),
            "trades": self.total("trades"),
            "grid_import_wh": self.total("grid_import_wh"),
            "grid_export_wh": self.total("grid_export_wh"),
            "self_sufficiency": round(self.self_sufficiency, 4),
            "p2p_share": round(self.p2p_share, 4),
            "community_cost_micro": self.community_cost_micro,
            "baseline_cost_micro": self.total("baseline_cost_micro"),
            "savings_micro": self.savings_micro,
        }


def _limit_prices(
    rng: np.random.Generator, n: int, rules: RuleSet
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Ask and bid limits [micro/kWh]: sellers above feed-in, buyers below retail (fee included)."""
    tariff = rules.tariff
    spread = tariff.retail_price_micro_per_kwh - tariff.feed_in_price_micro_per_kwh
    asks = tariff.feed_in_price_micro_per_kwh + (rng.random(n) * 0.4 * spread).astype(np.int64)
    bids = tariff.retail_price_micro_per_kwh - (rng.random(n) * 0.4 * spread).astype(np.int64)
    return asks, bids


#: Called after each slot is cleared: ``(region, slot, result, the slot's signed orders)``; the
#: orders include the company offer the slot's company trades were matched with.
OnCleared = Callable[[RegionHouseholds, Slot, ClearingResult, list[Order]], object]

#: Called after ``OnCleared`` with what each household's grid connection took from and gave to
#: the grid in the slot: ``(region, slot, import_wh, export_wh)`` [Wh], one entry per household.
OnMetered = Callable[[RegionHouseholds, Slot, npt.NDArray[np.int64], npt.NDArray[np.int64]], object]

#: Called once per region before its first slot: the 20-byte address of the market contract its
#: orders settle on (their EIP-712 ``verifyingContract``).
MarketAddress = Callable[[RegionHouseholds], bytes]


def simulate_region(
    region: RegionHouseholds,
    slots: list[Slot],
    rules: RuleSet,
    chain_id: int,
    rng: np.random.Generator,
    on_cleared: OnCleared | None = None,
    market_address: MarketAddress | None = None,
    on_metered: OnMetered | None = None,
) -> RegionReport:
    """Run one region through ``slots`` with a real market; see the module docstring.

    ``on_cleared`` sees every cleared slot (e.g. to settle it on the ledger); households sign
    their orders for the contract ``market_address`` names, or, without it, for the chain alone
    (a market that never settles on chain); ``on_metered`` sees each slot's metered grid exchange.
    """
    n = region.households
    cloud = rng.uniform(0.55, 1.0, n)
    pv = pv_energy_wh(slots, region.pv_peak_w, region.lat_deg, region.lon_deg, cloud)
    load = load_energy_wh(
        slots, region.annual_kwh, rng.uniform(0.7, 1.3, (n, len(slots))), region.utc_offset_h
    )
    bank = BatteryBank.half_full(region.battery_capacity_wh, region.battery_power_w)
    contract = None if market_address is None else market_address(region)
    market = RegionalMarket(
        region.name, chain_id=chain_id, rules=rules, verifying_contract=contract
    )
    domain = market.domain
    tariff = rules.tariff
    nonces = np.zeros(n, dtype=np.int64)
    report = RegionReport(region.name, n)
    company = region.company
    if company is not None:
        market.companies.register(company.key.address, company.name)
        # its payout per kWh: what it pays all-in less the network fee
        company_pays = company.price_micro_per_kwh - tariff.grid_fee_micro_per_kwh
        company_sellers = (region.battery_capacity_wh > 0) & (rng.random(n) < company.seller_share)

    for k, slot in enumerate(slots):
        charged, discharged, residual = bank.dispatch(pv[:, k] - load[:, k], slot.hours)
        ask_limits, bid_limits = _limit_prices(rng, n, rules)
        before_gate = rules.clock.gate_closure(slot) - timedelta(seconds=1)
        to_company = np.zeros(n, dtype=bool)
        if company is not None:
            to_company = company_sellers & (residual > 0) & (ask_limits <= company_pays)
            if to_company.any():
                market.post_company_offer(
                    Order.create(company.key, domain, region=region.name,
                                 slot_start_s=slot.start_s, side=Side.BID,
                                 energy_wh=company.capacity_wh,
                                 price_micro_per_kwh=company.price_micro_per_kwh,
                                 nonce=k),
                    before_gate,
                )  # fmt: skip
        bids = asks = 0
        for i in np.flatnonzero(residual):
            energy = int(abs(residual[i]))
            is_ask = residual[i] > 0
            order = Order.create(
                region.keys[i],
                domain,
                region=region.name,
                slot_start_s=slot.start_s,
                side=Side.ASK if is_ask else Side.BID,
                energy_wh=energy,
                price_micro_per_kwh=int(ask_limits[i] if is_ask else bid_limits[i]),
                nonce=int(nonces[i]),
                **({"target": company.key.address} if to_company[i] and company else {}),
            )
            nonces[i] += 1
            market.submit(order, before_gate)
            asks += int(is_ask)
            bids += int(not is_ask)
        result = market.clear(slot, slot.start)
        if on_cleared is not None:
            offers = market.companies.offers_for(slot.start_s) if to_company.any() else []
            on_cleared(region, slot, result, [*market.book(slot).orders(), *offers])
        deficit_wh = np.maximum(-residual, 0)
        surplus_wh = np.maximum(residual, 0)
        if on_metered is not None:
            on_metered(region, slot, deficit_wh, surplus_wh)
        # the slot is cleared and handed on: keep the market's memory bounded by the open slot
        market.evict_before(slot.next().start_s)
        company_trades = [t for t in result.trades if t.company]
        deficit = int(deficit_wh.sum())
        surplus = int(surplus_wh.sum())
        report.slots.append(
            SlotReport(
                slot=slot,
                pv_wh=int(pv[:, k].sum()),
                load_wh=int(load[:, k].sum()),
                charged_wh=int(charged.sum()),
                discharged_wh=int(discharged.sum()),
                bids=bids,
                asks=asks,
                traded_wh=result.market_wh,
                company_wh=result.company_wh,
                trades=len(result),
                clearing_price_micro_per_kwh=result.clearing_price_micro_per_kwh,
                grid_import_wh=result.unmatched_demand_wh,
                grid_export_wh=result.unmatched_supply_wh,
                market_amount_micro=result.total_amount_micro,
                fee_micro=result.total_fee_micro,
                company_amount_micro=sum(t.amount_micro for t in company_trades),
                company_fee_micro=sum(t.fee_micro for t in company_trades),
                grid_import_micro=result.grid_import_micro,
                grid_export_micro=result.grid_export_micro,
                baseline_cost_micro=cost_micro(deficit, tariff.retail_price_micro_per_kwh)
                - cost_micro(surplus, tariff.feed_in_price_micro_per_kwh),
                result_hash=result.hash,
            )
        )
    return report


def simulate_city(
    city: City,
    start: datetime,
    hours: int = 24,
    rules: RuleSet | None = None,
    chain_id: int = 1337,
    seed: int = 1,
    on_cleared: OnCleared | None = None,
    market_address: MarketAddress | None = None,
    on_metered: OnMetered | None = None,
) -> SimulationReport:
    """Simulate every region of ``city`` for ``hours`` hours from ``start`` (UTC, aware).

    ``on_cleared(region, slot, result, orders)`` is called after every cleared slot;
    ``market_address(region)`` before a region's first, to sign its orders for its contract;
    ``on_metered(region, slot, import_wh, export_wh)`` after each with the metered grid exchange.
    """
    rules = rules or RuleSet()
    start = require_utc(start, "start")
    slots = rules.clock.slots_between(start, start + timedelta(hours=hours))
    rng = np.random.default_rng(seed)
    regions = [
        simulate_region(r, slots, rules, chain_id, rng, on_cleared, market_address, on_metered)
        for r in city.regions
    ]
    return SimulationReport(city.name, start, rules, regions)
