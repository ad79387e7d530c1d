"""Registered energy companies and their standing buy offers.

A region's :class:`CompanyRegistry` lists the energy companies registered there. A company's
standing buy offer is itself a signed ORDER *bid* from the company's key (so the ledger can check it
on chain with ``ecrecover``): ``energyWh`` is its capacity per slot [Wh], ``priceMicroPerKwh`` its
limit [micro-units/kWh], ``target`` the zero address. An offer for slot 0 stands for every slot; an
offer for a given slot replaces the standing one in that slot.

Company offers do not take part in the open auction. An ask whose ``target`` is a company is
matched only with that company (:func:`match_company_offers`): at the company's price, up to its
capacity. Like every bid, the company's limit includes the network fee, so the trade price is
``limit - fee`` and the company pays exactly its limit per kWh all-in. When the capacity is short,
the eligible asks (limit <= trade price) are served cheapest first, ties by order hash, and the
marginal price level shares what is left pro rata; the rest falls back to the grid's feed-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gridledger.errors import MarketError, OrderError
from gridledger.identity import address_bytes, checksum
from gridledger.market.book import BookArrays
from gridledger.market.matching import Matches, fill_by_priority, priority_order
from gridledger.market.orders import Order, Side
from gridledger.market.tariff import GridTariff

#: Slot value of a standing offer: it applies to every slot without an offer of its own.
STANDING_SLOT = 0


@dataclass
class CompanyRegistry:
    """Energy companies registered in one region and their current offers."""

    region: str
    _names: dict[bytes, str] = field(default_factory=dict, init=False, repr=False)
    _offers: dict[tuple[bytes, int], Order] = field(default_factory=dict, init=False, repr=False)

    def register(self, address: str, name: str = "") -> None:
        """Register company ``address`` (idempotent; the name is for display only)."""
        self._names[address_bytes(address, "company address")] = name

    def is_registered(self, address: str | bytes) -> bool:
        return address_bytes(address) in self._names

    def companies(self) -> list[str]:
        """Checksummed addresses of the registered companies, sorted."""
        return [checksum(a) for a in sorted(self._names)]

    def post_offer(self, offer: Order) -> None:
        """Store a company's (already signature-checked) offer, replacing its previous one for
        the same slot. Raises :class:`OrderError` unless it is a bid from a registered company of
        this region addressed to the open market."""
        owner = address_bytes(offer.owner)
        if owner not in self._names:
            raise OrderError(
                f"{checksum(owner)} is not a registered energy company of region "
                f"{self.region!r}; register it before it posts offers"
            )
        if offer.side != Side.BID or offer.targets_company:
            raise OrderError("a company offer is a bid (side 0) with the zero address as target")
        if offer.region != self.region:
            raise OrderError(
                f"offer is for region {offer.region!r}, this registry is {self.region!r}"
            )
        self._offers[(owner, offer.slot_start_s)] = offer

    def offer(self, company: str | bytes, slot_start_s: int) -> Order | None:
        """The offer of ``company`` in force for the slot: its own, else the standing one."""
        owner = address_bytes(company)
        return self._offers.get((owner, slot_start_s)) or self._offers.get((owner, STANDING_SLOT))

    def evict_before(self, slot_start_s: int) -> None:
        """Drop per-slot offers of slots starting before ``slot_start_s``; keep standing ones."""
        for key in [k for k in self._offers if STANDING_SLOT < k[1] < slot_start_s]:
            del self._offers[key]

    def offers_for(self, slot_start_s: int) -> list[Order]:
        """Every company's offer in force for the slot, sorted by order id."""
        found = (self.offer(owner, slot_start_s) for owner in self._names)
        return sorted((o for o in found if o is not None), key=lambda o: o.order_id)


def match_company_offers(book: BookArrays, tariff: GridTariff) -> Matches:
    """Match asks addressed to a company with that company's offer row (see the module doc)."""
    targeted = np.flatnonzero(~book.is_bid & (book.target_row >= 0))
    if len(targeted) == 0:
        return Matches.empty()
    fee = tariff.grid_fee_micro_per_kwh
    targets = book.target_row[targeted]
    company_rows = np.unique(targets)
    if not (book.is_bid[company_rows] & book.is_company[company_rows]).all():
        raise MarketError("an ask targets a row that is not a company offer")
    company_rows = priority_order(book, company_rows, np.zeros(len(company_rows), np.int64))
    bid_rows, ask_rows, energies, prices = [], [], [], []
    for company_row in company_rows:
        pay = int(book.price_micro_per_kwh[company_row]) - fee
        asks = targeted[targets == company_row]
        asks = asks[book.price_micro_per_kwh[asks] <= pay]
        if pay < 0 or len(asks) == 0:
            continue
        asks = priority_order(book, asks, book.price_micro_per_kwh[asks])
        qty = book.energy_wh[asks]
        volume = min(int(book.energy_wh[company_row]), int(qty.sum()))
        fill, _ = fill_by_priority(book.price_micro_per_kwh[asks], qty, volume)
        served = fill > 0
        count = int(served.sum())
        bid_rows.append(np.full(count, company_row, np.int64))
        ask_rows.append(asks[served])
        energies.append(fill[served])
        prices.append(np.full(count, pay, np.int64))
    if not bid_rows:
        return Matches.empty()
    return Matches(
        bid_row=np.concatenate(bid_rows),
        ask_row=np.concatenate(ask_rows),
        energy_wh=np.concatenate(energies),
        price_micro_per_kwh=np.concatenate(prices),
    )
