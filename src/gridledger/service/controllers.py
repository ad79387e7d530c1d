"""The simulated neighbourhood's home controllers and energy company, placing their slot's
orders through the region's edge like any participant.

For each region's open slot, once: the company posts its signed per-slot buy offer
(:data:`COMPANY_OFFER_WH` at :data:`COMPANY_PRICE_MICRO_PER_KWH`, fee included), then every
household's plan (:meth:`~gridledger.service.neighbourhood.Neighbourhood.plan`) becomes an
EIP-712 order signed with the household's key for the region's market contract. Orders are
signed and submitted one by one: a region of households is small next to the chain's cost per
slot, and each order goes through the same checks as an order from the API.

Before the plans, the battery modes that need the market get it: every accumulator is told the
region's price (the newest clearing price, or the retail tariff before any peer trade) for the
price-based mode; and every household in the sell-to-company mode that chose a company with an
offer for the slot sells its stored energy above the reserve to it, an ask addressed to the
company at its offer less the network fee (capped by the offer and the discharge limit over the
slot), placed before gate closure and discharged by the accumulator while the slot is delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gridledger.devices.models import Accumulator, AccumulatorMode
from gridledger.errors import GridLedgerError
from gridledger.identity import checksum
from gridledger.market import Order, Side
from gridledger.service.metrics import Metrics
from gridledger.service.neighbourhood import Neighbourhood
from gridledger.service.region import RegionService
from gridledger.service.vens import LiveVens
from gridledger.slots import Slot

log = logging.getLogger(__name__)

#: The demo company's offer per slot: energy [Wh] and limit [micro-units/kWh, fee included].
COMPANY_OFFER_WH = 4_000
COMPANY_PRICE_MICRO_PER_KWH = 140_000


#: The smallest sale of stored energy worth an order [Wh].
MIN_SALE_WH = 10


def region_price(service: RegionService, retail_micro_per_kwh: int) -> int:
    """The region's current price [micro-units/kWh]: the newest slot's clearing price, or the
    retail tariff while no peer trade cleared yet."""
    for summary in reversed(service.recent):
        if summary.clearing_price_micro_per_kwh is not None:
            return summary.clearing_price_micro_per_kwh
    return retail_micro_per_kwh


def place_stored_sales(
    service: RegionService,
    hood: Neighbourhood,
    slot: Slot,
    sale_companies: Mapping[str, str],
    metrics: Metrics,
) -> set[str]:
    """Sales of stored energy for ``slot`` by households in the sell-to-company mode (module
    docstring); returns the sites whose sale was accepted."""
    fee = service.market.rules_for(slot).tariff.grid_fee_micro_per_kwh
    offers = {checksum(o.owner): o for o in service.offers(slot.start_s)}
    hours = slot.length_s / 3600
    sold: set[str] = set()
    for site in hood.sites:
        acc = site.find(Accumulator)
        company = sale_companies.get(site.site_id)
        if not isinstance(acc, Accumulator) or company is None:
            continue
        if acc.mode is not AccumulatorMode.SELL_TO_COMPANY or company not in offers:
            continue
        offer = offers[company]
        free = acc.sellable_wh() - hood.committed_wh(site.site_id)  # not sold for earlier slots
        wh = min(free, offer.energy_wh, int(acc.max_discharge_w * hours))
        if wh < MIN_SALE_WH:
            continue
        order = Order.create(
            site.owner,
            service.operator.domain,
            region=service.name,
            slot_start_s=slot.start_s,
            side=Side.ASK,
            energy_wh=wh,
            price_micro_per_kwh=max(0, offer.price_micro_per_kwh - fee),
            nonce=service.next_nonce(site.owner.address_bytes),
            target=company,
        )
        try:
            service.submit(order)
        except GridLedgerError as exc:
            metrics.rejections.labels("order", type(exc).__name__).inc()
            log.warning("region %s: sale of stored energy refused: %s", service.name, exc)
            continue
        hood.schedule_sale(site.site_id, slot.start_s, slot.length_s, wh)
        sold.add(site.site_id)
    return sold


def place_slot_orders(
    service: RegionService,
    hood: Neighbourhood,
    metrics: Metrics,
    sale_companies: Mapping[str, str] | None = None,
    vens: LiveVens | None = None,
) -> int:
    """The company's offer, the sales of stored energy (``sale_companies``: site id -> chosen
    company) and every household's order for the open slot, following the region's
    demand-response events through its live ``vens``; returns how many household orders were
    accepted."""
    slot = service.open_slot()
    tariff = service.market.rules_for(slot).tariff
    hood.set_price(region_price(service, tariff.retail_price_micro_per_kwh))
    company = service.company
    company_pays = None
    domain = service.operator.domain
    if company is not None:
        offer = Order.create(
            company,
            domain,
            region=service.name,
            slot_start_s=slot.start_s,
            side=Side.BID,
            energy_wh=COMPANY_OFFER_WH,
            price_micro_per_kwh=COMPANY_PRICE_MICRO_PER_KWH,
            nonce=service.next_nonce(company.address_bytes),
        )
        try:
            service.post_offer(offer)
            company_pays = COMPANY_PRICE_MICRO_PER_KWH - tariff.grid_fee_micro_per_kwh
        except GridLedgerError as exc:
            log.warning("region %s: company offer refused: %s", service.name, exc)
    sold = place_stored_sales(service, hood, slot, sale_companies or {}, metrics)
    placed = len(sold)
    plans = hood.plan(
        slot.start_s,
        slot.length_s,
        tariff.feed_in_price_micro_per_kwh,
        tariff.retail_price_micro_per_kwh,
        company_pays,
        None
        if vens is None
        else vens.slot_response(slot.start_s, slot.length_s, tariff.retail_price_micro_per_kwh),
    )
    for p in plans:
        if p.side == Side.BID and hood.sites[p.site_index].site_id in sold:
            # one side per owner and slot: a household selling its stored energy does not also
            # buy in that slot (its deficit is settled as imbalance against its meter)
            continue
        owner = hood.sites[p.site_index].owner
        order = Order.create(
            owner,
            domain,
            region=service.name,
            slot_start_s=slot.start_s,
            side=Side(p.side),
            energy_wh=p.energy_wh,
            price_micro_per_kwh=p.price_micro_per_kwh,
            nonce=service.next_nonce(owner.address_bytes),
            **({"target": company.address} if p.to_company and company else {}),
        )
        try:
            service.submit(order)
            placed += 1
        except GridLedgerError as exc:
            metrics.rejections.labels("order", type(exc).__name__).inc()
            log.warning("region %s: demo order refused: %s", service.name, exc)
    return placed
