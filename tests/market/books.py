"""Small books for the market tests: columns built directly, ids derived from content.

Signature checks are separate from clearing, so most clearing tests build :class:`BookArrays`
straight from tuples; ids are Keccak hashes of a label, so ties are broken by those hashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gridledger.identity import keccak
from gridledger.market import BookArrays, ClearingResult, RuleSet, clear_book
from gridledger.market.tariff import GridTariff

TARIFF = GridTariff(
    retail_price_micro_per_kwh=300_000,
    feed_in_price_micro_per_kwh=80_000,
    grid_fee_micro_per_kwh=20_000,
)
RULES = RuleSet("pay_as_clear", tariff=TARIFF)
BID_RULES = RuleSet("pay_as_bid", tariff=TARIFF)


@dataclass(frozen=True)
class Row:
    """One order of a test book. ``target`` is the label of a company row, or None."""

    label: str
    side: str  # "bid", "ask" or "company"
    energy_wh: int
    price_micro_per_kwh: int
    target: str | None = None

    @property
    def order_id(self) -> bytes:
        return keccak(f"order:{self.label}".encode())

    @property
    def owner(self) -> bytes:
        return keccak(f"owner:{self.label}".encode())[-20:]


def bid(label: str, energy_wh: int, price: int) -> Row:
    return Row(label, "bid", energy_wh, price)


def ask(label: str, energy_wh: int, price: int, target: str | None = None) -> Row:
    return Row(label, "ask", energy_wh, price, target)


def company(label: str, capacity_wh: int, price: int) -> Row:
    return Row(label, "company", capacity_wh, price)


def make_book(rows: Sequence[Row]) -> BookArrays:
    """Columns of ``rows`` in the given order."""
    n = len(rows)
    row_of = {r.label: i for i, r in enumerate(rows)}
    return BookArrays.build(
        order_ids=np.frombuffer(b"".join(r.order_id for r in rows), np.uint8).reshape(n, 32).copy(),
        owners=np.frombuffer(b"".join(r.owner for r in rows), np.uint8).reshape(n, 20).copy(),
        is_bid=np.array([r.side != "ask" for r in rows], bool),
        is_company=np.array([r.side == "company" for r in rows], bool),
        energy_wh=np.array([r.energy_wh for r in rows], np.int64),
        price_micro_per_kwh=np.array([r.price_micro_per_kwh for r in rows], np.int64),
        target_row=np.array(
            [row_of[r.target] if r.target is not None else -1 for r in rows], np.int64
        ),
    )


def clear(rows: Sequence[Row], rules: RuleSet = RULES) -> ClearingResult:
    return clear_book(make_book(rows), rules, region="test", slot_start_s=900)


def trade_table(result: ClearingResult, rows: Sequence[Row]) -> list[tuple[str, str, int, int]]:
    """Trades as ``(bid label, ask label, energy_wh, price)`` in canonical order."""
    return [
        (rows[b].label, rows[a].label, int(e), int(p))
        for b, a, e, p in zip(
            result.bid_row.tolist(),
            result.ask_row.tolist(),
            result.energy_wh.tolist(),
            result.price_micro_per_kwh.tolist(),
            strict=True,
        )
    ]
