"""The simulated neighbourhood's home controllers and energy company, placing their slot's
orders through the region's edge like any participant.

For each region's open slot, once: the company posts its signed per-slot buy offer
(:data:`COMPANY_OFFER_WH` at :data:`COMPANY_PRICE_MICRO_PER_KWH`, fee included), then every
household's plan (:meth:`~gridledger.service.neighbourhood.Neighbourhood.plan`) becomes an
EIP-712 order signed with the household's key for the region's market contract. Orders are
signed and submitted one by one: a region of households is small next to the chain's cost per
slot, and each order goes through the same checks as an order from the API.
"""

from __future__ import annotations

import logging

from gridledger.errors import GridLedgerError
from gridledger.market import Order, Side
from gridledger.service.metrics import Metrics
from gridledger.service.neighbourhood import Neighbourhood
from gridledger.service.region import RegionService
from gridledger.service.vens import LiveVens

log = logging.getLogger(__name__)

#: The demo company's offer per slot: energy [Wh] and limit [micro-units/kWh, fee included].
COMPANY_OFFER_WH = 4_000
COMPANY_PRICE_MICRO_PER_KWH = 140_000


def place_slot_orders(
    service: RegionService, hood: Neighbourhood, metrics: Metrics, vens: LiveVens | None = None
) -> int:
    """The company's offer and every household's order for the open slot, following the
    region's demand-response events through its live ``vens``; returns how many household
    orders were accepted."""
    slot = service.open_slot()
    tariff = service.market.rules_for(slot).tariff
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
    placed = 0
    for p in plans:
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
