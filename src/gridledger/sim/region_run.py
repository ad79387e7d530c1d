"""One region of a scenario through the whole period: profiles in chunks, the home controller,
books as numpy columns cleared by the live market's :func:`~gridledger.market.clear_book`.

No Python object is made per household and slot on the research path (``hooks`` None): each slot
builds one :class:`~gridledger.market.book.BookArrays` from the controller's columns, with order
ids from :func:`~gridledger.sim.counter_rng.order_ids` (a hash of seed, region, slot, household,
side, energy and price: deterministic and content-derived, which is all tie-breaking needs) and
pseudonymous owner addresses; nothing is signed. With ``hooks`` (a ledger run) every order is a
real signed :class:`~gridledger.market.Order`, the book is built from them exactly as the live
market does, and :class:`~gridledger.sim.settler.CitySettler`'s hooks settle and meter each slot.

Per slot and household the runner books [Wh]: the market volume bought and sold, the surplus
sold to the energy company, and the grid fallback (import of unmatched demand at the slot's
retail price, export of unmatched supply at the feed-in price); money [micro-units] per household
is ``cost_micro`` per household and slot (floor). It checks the region's energy balance every
slot (``pv + import + discharged == load + ev + export + company + charged``, exact in Wh) and
streams one row per slot (and per household when asked) to Parquet, a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from gridledger.control import (
    STRATEGY_NAMES,
    BatteryBank,
    HomeController,
    PriceBased,
    SelfConsumption,
    SellToCompany,
    SlotContext,
    Strategy,
)
from gridledger.errors import ScenarioError
from gridledger.identity import Domain, Signer, keccak
from gridledger.market import ClearingResult, Order, RuleSet, Side
from gridledger.market.book import BookArrays
from gridledger.market.clearing import clear_book
from gridledger.market.tariff import GridTariff
from gridledger.sim import counter_rng
from gridledger.sim.city import Company, RegionHouseholds
from gridledger.sim.households import Households, region_households
from gridledger.sim.scenario import Scenario
from gridledger.sim.sources import ProfileFactory, SlotTimes, field_profiles
from gridledger.slots import Slot

I64 = npt.NDArray[np.int64]

#: Slots generated per chunk: one week of 15-minute slots.
CHUNK_SLOTS = 672
#: Slots between progress reports (a day of 15-minute slots).
PROGRESS_SLOTS = 96
#: Per-household totals a region run returns [Wh or micro-units].
HOUSEHOLD_TOTALS = (
    "pv_wh", "load_wh", "ev_wh", "charged_wh", "discharged_wh", "surplus_wh", "deficit_wh",
    "bought_wh", "sold_wh", "company_wh", "import_wh", "export_wh", "peak_import_wh",
    "market_paid_micro", "market_received_micro", "import_micro", "export_micro", "bill_micro",
    "baseline_micro",
)  # fmt: skip
#: Per-household series written with ``per_household`` (besides PV and consumption) [Wh].
HOUSEHOLD_SERIES = ("import_wh", "export_wh", "soc_wh", "bought_wh", "sold_wh")
#: Columns of the per-slot region series.
SLOT_COLUMNS = (
    "pv_wh", "load_wh", "ev_wh", "charged_wh", "discharged_wh", "soc_wh", "bids", "asks",
    "market_wh", "company_wh", "import_wh", "export_wh", "market_amount_micro", "fee_micro",
    "company_amount_micro", "import_micro", "export_micro", "bill_micro", "baseline_micro",
    "retail_micro_per_kwh", "balance_drift_wh",
)  # fmt: skip


class SettleHooks(Protocol):
    """What a ledger run plugs in (see :class:`~gridledger.sim.settler.CitySettler`)."""

    def market_address(self, region: RegionHouseholds) -> bytes: ...

    def on_cleared(
        self, region: RegionHouseholds, slot: Slot, result: ClearingResult, orders: list[Order]
    ) -> object: ...

    def on_metered(
        self, region: RegionHouseholds, slot: Slot, import_wh: I64, export_wh: I64
    ) -> object: ...


@dataclass(frozen=True)
class RunOptions:
    """How to run: the results folder, per-household series, chunk length [slots], the profile
    factory (:mod:`gridledger.sim.sources`), and the chain id signed orders are bound to."""

    out_dir: Path
    per_household: bool = False
    chunk_slots: int = CHUNK_SLOTS
    profiles: ProfileFactory = field_profiles
    chain_id: int = 1337


@dataclass
class RegionOutcome:
    """What one region's run returns: per-household totals, the initial and final battery
    energy [Wh], the cleared prices of every slot (-1: none) and the market's money."""

    name: str
    households: int
    slots: int
    totals: dict[str, I64]
    soc_start_wh: I64
    soc_end_wh: I64
    prices: I64
    peak_import_wh: int
    max_balance_drift_wh: int
    market_amount_micro: int = 0
    fee_micro: int = 0
    company_amount_micro: int = 0
    company_fee_micro: int = 0
    capacity_wh: I64 = field(default_factory=lambda: np.zeros(0, np.int64))


def household_keys(scenario: Scenario, region: str, n: int) -> tuple[Signer, ...]:
    """Deterministic household keys of a signed run (public: development chains only)."""
    base = f"gridledger scenario {scenario.name} {scenario.seed} {region} ".encode()
    return tuple(Signer(keccak(base + str(i).encode())) for i in range(n))


def region_for_settler(scenario: Scenario, index: int, h: Households) -> RegionHouseholds:
    """The region as the settler knows it: households' keys and sizes, its company."""
    spec = scenario.regions[index]
    company_spec = scenario.company_of(spec.name)
    company = None
    if company_spec is not None:
        key = Signer(keccak(f"gridledger scenario company {company_spec.name}".encode()))
        company = Company(
            company_spec.name, key, company_spec.capacity_wh, company_spec.price_micro_per_kwh, 1.0
        )
    return RegionHouseholds(
        spec.name, spec.lat_deg, spec.lon_deg, 0, h.pv_w, h.capacity_wh, h.power_w,
        h.annual_kwh, household_keys(scenario, spec.name, len(h)), company,
    )  # fmt: skip


def _strategies(h: Households) -> list[tuple[I64, Strategy]]:
    groups: list[tuple[I64, Strategy]] = []
    for code, name in enumerate(STRATEGY_NAMES):
        members = np.flatnonzero(h.strategy == code)
        if len(members) == 0:
            continue
        strategy: Strategy
        if name == "price_based":
            strategy = PriceBased(h.margin_permille[members])
        elif name == "sell_to_company":
            strategy = SellToCompany()
        else:
            strategy = SelfConsumption()
        groups.append((members, strategy))
    return groups


class _Writer:
    """Streams record batches to one Parquet file, opened on the first batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run_region(
    scenario: Scenario,
    index: int,
    options: RunOptions,
    hooks: SettleHooks | None = None,
    progress: Callable[[int], object] | None = None,
) -> RegionOutcome:
    """Run ``scenario.regions[index]`` over the whole period; see the module docstring.

    Writes ``regions/<name>.parquet`` (and ``households/<name>.parquet`` when
    ``options.per_household``) under ``options.out_dir``; ``progress(slots)`` every
    :data:`PROGRESS_SLOTS` slots and at the end of each chunk.
    """
    spec = scenario.regions[index]
    h = region_households(scenario, index)
    n = len(h)
    source = options.profiles(scenario, index, h)
    times = SlotTimes(scenario)
    bank = BatteryBank.of(
        h.capacity_wh, h.power_w, initial_soc_permille=h.initial_soc_permille,
        reserve_permille=h.reserve_permille, efficiency_permille=h.efficiency_permille,
    )  # fmt: skip
    controller = HomeController(bank, _strategies(h))
    company = scenario.company_of(spec.name)
    t = scenario.tariffs
    fee = t.network_fee_micro_per_kwh
    slots_per_day = 1440 // scenario.slot_minutes
    hours = scenario.slot_minutes / 60
    total_slots = scenario.slots
    rules_by_retail: dict[int, RuleSet] = {}

    def rules_for(retail: int) -> RuleSet:
        rules = rules_by_retail.get(retail)
        if rules is None:
            tariff = GridTariff(retail, t.feed_in_micro_per_kwh, fee)
            rules = RuleSet(scenario.clearing_rule, scenario.slot_minutes, tariff=tariff)
            rules_by_retail[retail] = rules
        return rules

    settle_region = region_for_settler(scenario, index, h) if hooks is not None else None
    domain = None
    if hooks is not None and settle_region is not None:
        domain = Domain.of_contract(options.chain_id, hooks.market_address(settle_region))
    nonces = np.zeros(n, np.int64)
    id_base = int(counter_rng.hash_words(scenario.seed, index)[0])
    owners = counter_rng.order_ids(id_base, 5, np.arange(n))[:, :20]
    company_owner = counter_rng.order_ids(id_base, 6, np.arange(1))[:, :20]
    ids = np.arange(n, dtype=np.int64)

    totals = {name: np.zeros(n, np.int64) for name in HOUSEHOLD_TOTALS}
    soc_start = bank.soc_wh.copy()
    prices = np.full(total_slots, -1, np.int64)
    outcome = RegionOutcome(spec.name, n, total_slots, totals, soc_start, soc_start, prices, 0, 0)
    region_writer = _Writer(options.out_dir / "regions" / f"{spec.name}.parquet")
    household_writer = (
        _Writer(options.out_dir / "households" / f"{spec.name}.parquet")
        if options.per_household
        else None
    )
    try:
        for first in range(0, total_slots, options.chunk_slots):
            count = min(options.chunk_slots, total_slots - first)
            pv = source.pv_wh(first, count)
            load = source.load_wh(first, count)
            ev = source.ev_wh(first, count)
            for arr, what in ((pv, "pv_wh"), (load, "load_wh"), (ev, "ev_wh")):
                if arr.shape != (count, n):
                    raise ScenarioError(
                        f"profile source of region {spec.name!r} gave {what} of shape "
                        f"{arr.shape}, expected ({count}, {n})"
                    )
            utc = times.utc_s(first, count)
            local = times.local(first, count)
            local_hour = np.asarray(local.hour, np.int64)
            slot_of_day = (
                np.asarray(local.hour * 60 + local.minute, np.int64) // scenario.slot_minutes
            )
            retail = t.retail_at(local_hour)
            cols = {name: np.zeros(count, np.int64) for name in SLOT_COLUMNS}
            price_col = np.full(count, -1, np.int64)
            per_hh = (
                {k: np.zeros((count, n), np.int64) for k in HOUSEHOLD_SERIES}
                if household_writer
                else None
            )
            for k in range(count):
                slot_start = int(utc[k])
                rules = rules_for(int(retail[k]))
                ctx = SlotContext(
                    first + k, slot_start, int(slot_of_day[k]) % slots_per_day, slots_per_day,
                    int(retail[k]), t.feed_in_micro_per_kwh, fee,
                    None if company is None else company.price_micro_per_kwh,
                )  # fmt: skip
                consumption = load[k] + ev[k]
                pos = controller.step(ctx, pv[k], consumption, hours)
                res = pos.residual_wh
                sellers = np.flatnonzero(res > 0)
                buyers = np.flatnonzero(res < 0)
                to_company = pos.to_company[sellers] if company is not None else None
                has_offer = to_company is not None and bool(to_company.any())
                hh_rows = np.concatenate((sellers, buyers))
                energy = np.abs(res[hh_rows])
                limit = np.concatenate((pos.ask_micro[sellers], pos.bid_micro[buyers]))
                is_bid = np.concatenate((np.zeros(len(sellers), bool), np.ones(len(buyers), bool)))
                if hooks is None or settle_region is None or domain is None:
                    book = _research_book(
                        id_base, slot_start, hh_rows, is_bid, energy, limit,
                        owners, company_owner, company.capacity_wh if company else 0,
                        company.price_micro_per_kwh if company else 0,
                        to_company if has_offer else None,
                    )  # fmt: skip
                    result = clear_book(book, rules, region=spec.name, slot_start_s=slot_start)
                else:
                    orders, offers = _signed_orders(
                        settle_region, domain, slot_start, first + k, hh_rows, is_bid, energy,
                        limit, nonces, to_company if has_offer else None,
                    )  # fmt: skip
                    book = BookArrays.from_orders(orders, offers)
                    result = clear_book(book, rules, region=spec.name, slot_start_s=slot_start)
                    slot = Slot(slot_start, scenario.slot_minutes * 60)
                    hooks.on_cleared(settle_region, slot, result, [*orders, *offers])
                    hooks.on_metered(settle_region, slot, np.maximum(-res, 0), np.maximum(res, 0))
                offset = 1 if has_offer else 0
                row_filled = result.filled_wh[offset:]
                nrows = len(book)
                paid = np.bincount(
                    result.bid_row, weights=result.amount_micro + result.fee_micro, minlength=nrows
                )[offset:].astype(np.int64)
                received = np.bincount(
                    result.ask_row, weights=result.amount_micro, minlength=nrows
                )[offset:].astype(np.int64)
                filled = np.zeros(n, np.int64)
                filled[hh_rows] = row_filled
                paid_h = np.zeros(n, np.int64)
                paid_h[hh_rows] = paid
                received_h = np.zeros(n, np.int64)
                received_h[hh_rows] = received
                surplus = np.maximum(res, 0)
                deficit = np.maximum(-res, 0)
                bought = np.where(res < 0, filled, 0)
                sold = np.where(res > 0, filled, 0)
                to_co_h = np.zeros(n, np.int64)
                if has_offer and to_company is not None:
                    to_co_h[sellers[to_company]] = filled[sellers[to_company]]
                imp = deficit - bought
                exp = surplus - sold
                imp_micro = imp * int(retail[k]) // 1000
                exp_micro = exp * t.feed_in_micro_per_kwh // 1000
                base_micro = (
                    deficit * int(retail[k]) // 1000 - surplus * t.feed_in_micro_per_kwh // 1000
                )
                bill = imp_micro + paid_h - exp_micro - received_h
                pv_k = pv[k]
                charged, discharged = pos.charged_wh, pos.discharged_wh
                for name, values in (
                    ("pv_wh", pv_k), ("load_wh", load[k]), ("ev_wh", ev[k]),
                    ("charged_wh", charged),
                    ("discharged_wh", discharged), ("surplus_wh", surplus), ("deficit_wh", deficit),
                    ("bought_wh", bought), ("sold_wh", sold), ("company_wh", to_co_h),
                    ("import_wh", imp), ("export_wh", exp), ("market_paid_micro", paid_h),
                    ("market_received_micro", received_h), ("import_micro", imp_micro),
                    ("export_micro", exp_micro), ("bill_micro", bill),
                    ("baseline_micro", base_micro),
                ):  # fmt: skip
                    totals[name] += values
                np.maximum(totals["peak_import_wh"], imp, out=totals["peak_import_wh"])
                s_pv, s_imp, s_dis = int(pv_k.sum()), int(imp.sum()), int(discharged.sum())
                s_cons, s_exp, s_ch = int(consumption.sum()), int(exp.sum()), int(charged.sum())
                s_co = result.company_wh
                drift = s_pv + s_imp + s_dis - (s_cons + s_exp + s_co + s_ch)
                n_co = result.company_trade_count
                co_amount = int(result.amount_micro[len(result) - n_co :].sum())
                co_fee = int(result.fee_micro[len(result) - n_co :].sum())
                row = {
                    "pv_wh": s_pv, "load_wh": int(load[k].sum()), "ev_wh": int(ev[k].sum()),
                    "charged_wh": s_ch, "discharged_wh": s_dis, "soc_wh": int(bank.soc_wh.sum()),
                    "bids": len(buyers), "asks": len(sellers), "market_wh": result.market_wh,
                    "company_wh": s_co, "import_wh": s_imp, "export_wh": s_exp,
                    "market_amount_micro": result.total_amount_micro,
                    "fee_micro": result.total_fee_micro, "company_amount_micro": co_amount,
                    "import_micro": int(imp_micro.sum()), "export_micro": int(exp_micro.sum()),
                    "bill_micro": int(bill.sum()), "baseline_micro": int(base_micro.sum()),
                    "retail_micro_per_kwh": int(retail[k]), "balance_drift_wh": drift,
                }  # fmt: skip
                for name, value in row.items():
                    cols[name][k] = value
                price = result.clearing_price_micro_per_kwh
                if price is not None:
                    price_col[k] = price
                outcome.market_amount_micro += result.total_amount_micro
                outcome.fee_micro += result.total_fee_micro
                outcome.company_amount_micro += co_amount
                outcome.company_fee_micro += co_fee
                outcome.max_balance_drift_wh = max(outcome.max_balance_drift_wh, abs(drift))
                outcome.peak_import_wh = max(outcome.peak_import_wh, s_imp)
                controller.observe(ctx, price)
                if progress is not None and (k + 1) % PROGRESS_SLOTS == 0:
                    progress(PROGRESS_SLOTS)
                if per_hh is not None:
                    per_hh["import_wh"][k] = imp
                    per_hh["export_wh"][k] = exp
                    per_hh["soc_wh"][k] = bank.soc_wh
                    per_hh["bought_wh"][k] = bought
                    per_hh["sold_wh"][k] = sold
            prices[first : first + count] = price_col
            table = pa.table(
                {
                    "slot_start": pa.array(utc * 1000, pa.timestamp("ms", tz="UTC")),
                    **{name: pa.array(cols[name]) for name in SLOT_COLUMNS},
                    "clearing_price_micro_per_kwh": pa.array(price_col, mask=price_col < 0),
                }
            )
            region_writer.write(table)
            if household_writer is not None and per_hh is not None:
                household_writer.write(
                    pa.table(
                        {
                            "slot_start": pa.array(
                                np.repeat(utc * 1000, n), pa.timestamp("ms", tz="UTC")
                            ),
                            "household": pa.array(np.tile(ids, count).astype(np.int32)),
                            "pv_wh": pa.array(pv.reshape(-1)),
                            "load_wh": pa.array((load + ev).reshape(-1)),
                            **{k: pa.array(v.reshape(-1)) for k, v in per_hh.items()},
                        }
                    )
                )
            if progress is not None and count % PROGRESS_SLOTS:
                progress(count % PROGRESS_SLOTS)
    finally:
        region_writer.close()
        if household_writer is not None:
            household_writer.close()
    outcome.soc_end_wh = bank.soc_wh.copy()
    outcome.capacity_wh = h.capacity_wh
    return outcome


def _research_book(
    base: int,
    slot_start: int,
    hh_rows: I64,
    is_bid: npt.NDArray[np.bool_],
    energy: I64,
    limit: I64,
    owners: npt.NDArray[np.uint8],
    company_owner: npt.NDArray[np.uint8],
    company_capacity_wh: int,
    company_price: int,
    to_company: npt.NDArray[np.bool_] | None,
) -> BookArrays:
    """The slot's book as columns, unsigned (see the module docstring); a company offer, when
    any surplus is addressed to it, is row 0."""
    ids = counter_rng.order_ids(base, slot_start, hh_rows, is_bid, energy, limit)
    owner_rows = owners[hh_rows]
    if to_company is None:
        return BookArrays.build(
            order_ids=ids, owners=owner_rows, is_bid=is_bid, energy_wh=energy,
            price_micro_per_kwh=limit,
        )  # fmt: skip
    sellers = len(to_company)
    target = np.full(len(hh_rows) + 1, -1, np.int64)
    target[1 : sellers + 1][to_company] = 0
    offer_id = counter_rng.order_ids(base, slot_start, np.array([2**40]))
    return BookArrays.build(
        order_ids=np.concatenate((offer_id, ids)),
        owners=np.concatenate((company_owner, owner_rows)),
        is_bid=np.concatenate(([True], is_bid)),
        is_company=np.concatenate(([True], np.zeros(len(hh_rows), bool))),
        energy_wh=np.concatenate(([company_capacity_wh], energy)),
        price_micro_per_kwh=np.concatenate(([company_price], limit)),
        target_row=target,
    )


def _signed_orders(
    region: RegionHouseholds,
    domain: Domain,
    slot_start: int,
    slot_index: int,
    hh_rows: I64,
    is_bid: npt.NDArray[np.bool_],
    energy: I64,
    limit: I64,
    nonces: I64,
    to_company: npt.NDArray[np.bool_] | None,
) -> tuple[list[Order], list[Order]]:
    """The slot's orders signed by their households (the settled path), and the company offer."""
    offers: list[Order] = []
    company = region.company
    if to_company is not None and company is not None:
        offers.append(
            Order.create(
                company.key, domain, region=region.name, slot_start_s=slot_start,
                side=Side.BID, energy_wh=company.capacity_wh,
                price_micro_per_kwh=company.price_micro_per_kwh, nonce=slot_index,
            )
        )  # fmt: skip
    orders = []
    for j, i in enumerate(hh_rows.tolist()):
        targeted = to_company is not None and j < len(to_company) and bool(to_company[j])
        orders.append(
            Order.create(
                region.keys[i], domain, region=region.name, slot_start_s=slot_start,
                side=Side.BID if is_bid[j] else Side.ASK, energy_wh=int(energy[j]),
                price_micro_per_kwh=int(limit[j]), nonce=int(nonces[i]),
                **({"target": company.key.address} if targeted and company else {}),
            )
        )  # fmt: skip
        nonces[i] += 1
    return orders, offers
