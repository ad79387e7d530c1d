"""The result of clearing one slot: trades, prices, the grid fallback, and a canonical encoding.

Money per trade (the rounding rule of :mod:`gridledger.units`, computed once per trade):

* ``amount_micro = cost_micro(energy_wh, price)`` is paid by the buyer and received by the seller;
* ``fee_micro = cost_micro(energy_wh, grid_fee)`` is paid by the buyer to the grid operator;
* the buyer pays ``amount_micro + fee_micro``; so the sum paid by buyers equals the sum received by
  sellers plus fees, exactly, for every slot.

Unmatched open-market demand falls back to the grid at the retail price, unmatched supply (open or
addressed to a company) at the feed-in price; these volumes are reported here, not as trades.

**Canonical encoding** (:meth:`ClearingResult.encode`, all integers big-endian unsigned)::

    header: "GLCR" | version u16 | rules_hash 32 | region_id 32 | slot_start_s u64 | book_hash 32
            | clearing_price u64 (2**64-1 = none) | market_wh u64 | company_wh u64
            | unmatched_demand_wh u64 | unmatched_supply_wh u64 | grid_import_micro u128
            | grid_export_micro u128 | amount_micro u128 | fee_micro u128 | trade_count u64
    trade (136 bytes each, open-market trades in pairing order, then company trades):
            bid_id 32 | ask_id 32 | buyer 20 | seller 20 | energy_wh u64 | price u64
            | amount_micro u64 | fee_micro u64

``book_hash`` is the Keccak-256 of all order ids, bids then asks, each side in clearing priority
order (so it does not depend on submission order). :attr:`ClearingResult.hash` is the Keccak-256 of
the whole encoding; re-clearing the same orders under the same rules reproduces it byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from gridledger.identity import checksum, keccak, region_id
from gridledger.market.book import BookArrays
from gridledger.market.matching import Matches, priority_order
from gridledger.market.rules import RuleSet
from gridledger.units import cost_micro

I64 = npt.NDArray[np.int64]

RESULT_MAGIC = b"GLCR"
RESULT_ENCODING_VERSION = 1
TRADE_RECORD_BYTES = 136
_NO_PRICE = 2**64 - 1


@dataclass(frozen=True)
class GridFallback:
    """What one order leaves to the grid: ``energy_wh`` [Wh] bought at the retail price (a bid)
    or sold at the feed-in price (an ask), for ``amount_micro`` = ``cost_micro`` of it."""

    order_id: bytes
    owner: str
    is_bid: bool
    energy_wh: int
    price_micro_per_kwh: int
    amount_micro: int


@dataclass(frozen=True)
class Trade:
    """One trade: ``energy_wh`` [Wh] from ``seller`` to ``buyer`` at ``price_micro_per_kwh``.

    ``amount_micro`` goes from buyer to seller, ``fee_micro`` from buyer to the grid operator.
    """

    bid_id: bytes
    ask_id: bytes
    buyer: str
    seller: str
    energy_wh: int
    price_micro_per_kwh: int
    amount_micro: int
    fee_micro: int
    company: bool = False

    @property
    def buyer_pays_micro(self) -> int:
        return self.amount_micro + self.fee_micro

    def to_dict(self) -> dict[str, Any]:
        return {
            "bid_id": "0x" + self.bid_id.hex(),
            "ask_id": "0x" + self.ask_id.hex(),
            "buyer": self.buyer,
            "seller": self.seller,
            "energy_wh": self.energy_wh,
            "price_micro_per_kwh": self.price_micro_per_kwh,
            "amount_micro": self.amount_micro,
            "fee_micro": self.fee_micro,
            "company": self.company,
        }


#: One trade record of the canonical encoding (packed, big-endian integers).
_TRADE_RECORD = np.dtype(
    [
        ("bid_id", "V32"),
        ("ask_id", "V32"),
        ("buyer", "V20"),
        ("seller", "V20"),
        ("energy_wh", ">u8"),
        ("price", ">u8"),
        ("amount_micro", ">u8"),
        ("fee_micro", ">u8"),
    ]
)
assert _TRADE_RECORD.itemsize == TRADE_RECORD_BYTES


def _exact_sum(values: I64) -> int:
    """Sum of non-negative int64 ``values`` as a Python int, never wrapping around."""
    if len(values) == 0:
        return 0
    if int(values.max()) * len(values) < 2**63:
        return int(values.sum())
    return int(sum(values.tolist()))


def _rows_as_void(rows: npt.NDArray[np.uint8]) -> npt.NDArray[np.void]:
    """An (n, w) uint8 array as n opaque w-byte items (fast to gather)."""
    return np.ascontiguousarray(rows).view(f"V{rows.shape[1]}").reshape(len(rows))


class ClearingResult:
    """Trades and fallback volumes of one (region, slot), with the rules they were cleared under.

    Trade columns (``bid_row``, ``ask_row`` into :attr:`book`; ``energy_wh``, ``price``,
    ``amount_micro``, ``fee_micro``) hold open-market trades first, then company trades
    (``company_trade_count`` of them). :attr:`trades` builds :class:`Trade` objects on demand.
    """

    def __init__(
        self,
        *,
        book: BookArrays,
        rules: RuleSet,
        region: str,
        slot_start_s: int,
        matches: Matches,
        company_trade_count: int,
        clearing_price_micro_per_kwh: int | None,
    ) -> None:
        self.book = book
        self.rules = rules
        self.region = region
        self.slot_start_s = slot_start_s
        self.bid_row = matches.bid_row
        self.ask_row = matches.ask_row
        self.energy_wh = matches.energy_wh
        self.price_micro_per_kwh = matches.price_micro_per_kwh
        self.amount_micro = (self.energy_wh * self.price_micro_per_kwh) // 1000
        self.fee_micro = (self.energy_wh * rules.grid_fee_micro_per_kwh) // 1000
        self.company_trade_count = company_trade_count
        self.clearing_price_micro_per_kwh = clearing_price_micro_per_kwh

    @classmethod
    def build(
        cls,
        *,
        book: BookArrays,
        rules: RuleSet,
        region: str,
        slot_start_s: int,
        open_market: Matches,
        company: Matches,
    ) -> ClearingResult:
        merged = Matches(
            np.concatenate((open_market.bid_row, company.bid_row)),
            np.concatenate((open_market.ask_row, company.ask_row)),
            np.concatenate((open_market.energy_wh, company.energy_wh)),
            np.concatenate((open_market.price_micro_per_kwh, company.price_micro_per_kwh)),
        )
        return cls(
            book=book,
            rules=rules,
            region=region,
            slot_start_s=slot_start_s,
            matches=merged,
            company_trade_count=len(company),
            clearing_price_micro_per_kwh=open_market.clearing_price_micro_per_kwh,
        )

    # --- volumes -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.energy_wh)

    @cached_property
    def filled_wh(self) -> I64:
        """Energy [Wh] filled per book row (bids and asks alike)."""
        n = len(self.book)
        # float64 bincount is exact here: each row's total is <= MAX_ENERGY_WH < 2**53.
        bought = np.bincount(self.bid_row, weights=self.energy_wh, minlength=n)
        sold = np.bincount(self.ask_row, weights=self.energy_wh, minlength=n)
        return (bought + sold).astype(np.int64)

    @cached_property
    def residual_wh(self) -> I64:
        """Energy [Wh] left unfilled per book row (company offers' unused capacity included)."""
        return self.book.energy_wh - self.filled_wh

    @property
    def market_wh(self) -> int:
        """Energy [Wh] traded in the open market."""
        return int(self.energy_wh[: len(self) - self.company_trade_count].sum())

    @property
    def company_wh(self) -> int:
        """Energy [Wh] sold to energy companies."""
        return int(self.energy_wh[len(self) - self.company_trade_count :].sum())

    @property
    def traded_wh(self) -> int:
        return int(self.energy_wh.sum())

    @cached_property
    def unmatched_demand_wh(self) -> int:
        """Open-market demand [Wh] left for the grid (at the retail price)."""
        demand = self.book.is_bid & ~self.book.is_company
        return int(self.residual_wh[demand].sum())

    @cached_property
    def unmatched_supply_wh(self) -> int:
        """Supply [Wh] left for the grid (at the feed-in price), company-addressed asks included."""
        return int(self.residual_wh[~self.book.is_bid].sum())

    @property
    def grid_import_micro(self) -> int:
        """What the unmatched demand costs at the retail price, in total [micro-units]."""
        return cost_micro(self.unmatched_demand_wh, self.rules.tariff.retail_price_micro_per_kwh)

    @property
    def grid_export_micro(self) -> int:
        """What the unmatched supply earns at the feed-in price, in total [micro-units]."""
        return cost_micro(self.unmatched_supply_wh, self.rules.tariff.feed_in_price_micro_per_kwh)

    @property
    def total_amount_micro(self) -> int:
        """Sum received by sellers [micro-units]."""
        return _exact_sum(self.amount_micro)

    @property
    def total_fee_micro(self) -> int:
        """Sum of network fees [micro-units]."""
        return _exact_sum(self.fee_micro)

    def grid_fallback(self) -> list[GridFallback]:
        """Per order, the unfilled energy the grid takes, sorted by order id (slow for very large
        books). Company offers' unused capacity is not demand and is left out."""
        book = self.book
        rows = np.flatnonzero((self.residual_wh > 0) & ~book.is_company)
        tariff = self.rules.tariff
        out = []
        for row in rows.tolist():
            is_bid = bool(book.is_bid[row])
            price = (
                tariff.retail_price_micro_per_kwh if is_bid else tariff.feed_in_price_micro_per_kwh
            )
            energy = int(self.residual_wh[row])
            out.append(
                GridFallback(
                    order_id=book.order_ids[row].tobytes(),
                    owner=checksum(book.owners[row].tobytes()),
                    is_bid=is_bid,
                    energy_wh=energy,
                    price_micro_per_kwh=price,
                    amount_micro=cost_micro(energy, price),
                )
            )
        return sorted(out, key=lambda f: f.order_id)

    # --- trades ------------------------------------------------------------------------------

    @cached_property
    def trades(self) -> tuple[Trade, ...]:
        """The trades as objects, in canonical order (slow for very large books)."""
        ids = self.book.order_ids
        owners = self.book.owners
        first_company = len(self) - self.company_trade_count
        return tuple(
            Trade(
                bid_id=ids[b].tobytes(),
                ask_id=ids[a].tobytes(),
                buyer=checksum(owners[b].tobytes()),
                seller=checksum(owners[a].tobytes()),
                energy_wh=int(e),
                price_micro_per_kwh=int(p),
                amount_micro=int(m),
                fee_micro=int(f),
                company=i >= first_company,
            )
            for i, (b, a, e, p, m, f) in enumerate(
                zip(
                    self.bid_row.tolist(),
                    self.ask_row.tolist(),
                    self.energy_wh.tolist(),
                    self.price_micro_per_kwh.tolist(),
                    self.amount_micro.tolist(),
                    self.fee_micro.tolist(),
                    strict=True,
                )
            )
        )

    # --- encoding ----------------------------------------------------------------------------

    @cached_property
    def book_hash(self) -> bytes:
        """Keccak-256 of the book's order ids, bids then asks, each in priority order."""
        book = self.book
        bids = np.flatnonzero(book.is_bid)
        asks = np.flatnonzero(~book.is_bid)
        fee = self.rules.grid_fee_micro_per_kwh
        bid_order = priority_order(book, bids, fee - book.price_micro_per_kwh[bids])
        ask_order = priority_order(book, asks, book.price_micro_per_kwh[asks])
        ids = _rows_as_void(book.order_ids)[np.concatenate((bid_order, ask_order))]
        return keccak(ids.tobytes())

    def encode_header(self) -> bytes:
        price = self.clearing_price_micro_per_kwh
        return b"".join(
            (
                RESULT_MAGIC,
                RESULT_ENCODING_VERSION.to_bytes(2),
                self.rules.hash,
                region_id(self.region),
                self.slot_start_s.to_bytes(8),
                self.book_hash,
                (_NO_PRICE if price is None else price).to_bytes(8),
                self.market_wh.to_bytes(8),
                self.company_wh.to_bytes(8),
                self.unmatched_demand_wh.to_bytes(8),
                self.unmatched_supply_wh.to_bytes(8),
                self.grid_import_micro.to_bytes(16),
                self.grid_export_micro.to_bytes(16),
                self.total_amount_micro.to_bytes(16),
                self.total_fee_micro.to_bytes(16),
                len(self).to_bytes(8),
            )
        )

    def encode_trades(self) -> bytes:
        """The trade records (136 bytes each), vectorised."""
        records = np.empty(len(self), _TRADE_RECORD)
        ids = _rows_as_void(self.book.order_ids)
        owners = _rows_as_void(self.book.owners)
        records["bid_id"] = ids[self.bid_row]
        records["ask_id"] = ids[self.ask_row]
        records["buyer"] = owners[self.bid_row]
        records["seller"] = owners[self.ask_row]
        records["energy_wh"] = self.energy_wh
        records["price"] = self.price_micro_per_kwh
        records["amount_micro"] = self.amount_micro
        records["fee_micro"] = self.fee_micro
        return records.tobytes()

    @cached_property
    def encoding(self) -> bytes:
        """The canonical bytes of the result (see the module doc)."""
        return self.encode_header() + self.encode_trades()

    def encode(self) -> bytes:
        return self.encoding

    @cached_property
    def hash(self) -> bytes:
        """Keccak-256 of :meth:`encode`: the value the ledger records for the slot."""
        return keccak(self.encoding)

    def to_dict(self, *, trades: bool = True) -> dict[str, Any]:
        """JSON-able summary (and the trades unless ``trades=False``)."""
        out: dict[str, Any] = {
            "region": self.region,
            "slot_start_s": self.slot_start_s,
            "rules": self.rules.to_dict(),
            "clearing_price_micro_per_kwh": self.clearing_price_micro_per_kwh,
            "market_wh": self.market_wh,
            "company_wh": self.company_wh,
            "unmatched_demand_wh": self.unmatched_demand_wh,
            "unmatched_supply_wh": self.unmatched_supply_wh,
            "grid_import_micro": self.grid_import_micro,
            "grid_export_micro": self.grid_export_micro,
            "amount_micro": self.total_amount_micro,
            "fee_micro": self.total_fee_micro,
            "trade_count": len(self),
            "book_hash": "0x" + self.book_hash.hex(),
            "hash": "0x" + self.hash.hex(),
        }
        if trades:
            out["trades"] = [t.to_dict() for t in self.trades]
        return out
