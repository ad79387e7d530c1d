"""Vectorised matching primitives shared by the clearing rules and the company offers.

* :func:`priority_order`: rows sorted by a price key, ties broken by the order hash (never by row
  or arrival). The hot path sorts one uint64 key per order: the price key in the high 32 bits and
  the first 32 bits of the order hash in the low 32 bits; the rare rows whose keys collide are
  re-sorted by their full 32-byte hash, so the order is total and depends on content only.
* :func:`fill_by_priority`: allocate a volume to orders in priority order; orders strictly better
  than the marginal price level fill completely, the marginal level shares the rest pro rata to
  its quantities (largest remainder, leftover Wh to the earlier order in hash order).
* :func:`pair_fills`: turn the fills of both sides into trades by walking the two cumulative fill
  curves together (each segment between consecutive breakpoints is one trade).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridledger.errors import MarketError
from gridledger.market.book import BookArrays
from gridledger.units import split_pro_rata_array

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

_SHIFT = np.uint64(32)


def hash_words(book: BookArrays) -> npt.NDArray[np.uint64]:
    """The order ids as (n, 4) big-endian 64-bit words (a view, no copy)."""
    return book.order_ids.view(">u8")


def priority_order(book: BookArrays, rows: I64, badness: I64) -> I64:
    """``rows`` sorted by ``badness`` ascending (lower is served first), ties by order hash.

    ``badness`` is one int64 per row of ``rows``: the ask price for asks, minus the effective bid
    price for bids. The result depends only on the orders' content, not on the order of ``rows``.
    """
    if len(rows) < 2:
        return rows.copy()
    words = hash_words(book)
    low = int(badness.min())
    span = int(badness.max()) - low
    if span >= 2**31:  # prices outside the validated range: fall back to a full lexsort
        w = words[rows]
        order = np.lexsort((w[:, 3], w[:, 2], w[:, 1], w[:, 0], badness))
        return rows[order]
    head = np.asarray(words[rows, 0], dtype=np.uint64)
    key = ((badness - low).astype(np.uint64) << _SHIFT) | (head >> _SHIFT)
    order = np.argsort(key)
    sorted_key = key[order]
    tie = sorted_key[1:] == sorted_key[:-1]
    if tie.any():
        involved = np.flatnonzero(np.concatenate((tie, [False])) | np.concatenate(([False], tie)))
        sub = order[involved]
        w = words[rows[sub]]
        sub_order = np.lexsort((w[:, 3], w[:, 2], w[:, 1], w[:, 0], key[sub]))
        resorted = sub[sub_order]
        same = (np.diff(key[resorted]) == 0) & (np.diff(w[sub_order], axis=0) == 0).all(axis=1)
        if same.any():
            raise MarketError("the same order id appears twice in one book; de-duplicate it")
        order[involved] = resorted
    return rows[order]


def fill_by_priority(badness_sorted: I64, qty_sorted: I64, volume: int) -> tuple[I64, int]:
    """Fills [Wh] of orders in priority order for a total ``volume`` [Wh].

    Orders whose badness is below the marginal order's fill completely; the orders at the
    marginal badness share what is left pro rata to their quantity
    (:func:`~gridledger.units.split_pro_rata_array`, leftover Wh to the earlier, i.e. lower-hash,
    order). Returns the fills and the length of the prefix that can be non-zero.
    """
    fill = np.zeros_like(qty_sorted)
    if volume <= 0:
        return fill, 0
    cum = np.cumsum(qty_sorted)
    if volume > int(cum[-1]):
        raise MarketError(f"cannot fill {volume} Wh from orders of {int(cum[-1])} Wh in total")
    marginal = int(np.searchsorted(cum, volume - 1, side="right"))
    level = badness_sorted[marginal]
    start = int(np.searchsorted(badness_sorted, level, side="left"))
    end = int(np.searchsorted(badness_sorted, level, side="right"))
    fill[:start] = qty_sorted[:start]
    before = int(cum[start - 1]) if start else 0
    fill[start:end] = split_pro_rata_array(volume - before, qty_sorted[start:end])
    return fill, end


def pair_fills(bid_fill: I64, ask_fill: I64) -> tuple[I64, I64, I64]:
    """Trades between two fill vectors of equal total, both in priority order.

    Returns ``(bid_pos, ask_pos, energy_wh)``: positions into the two vectors and the energy of
    each trade. Walking both cumulative curves together pairs the best remaining bid with the
    best remaining ask, so a book yields at most ``len(bids) + len(asks) - 1`` trades.
    """
    bid_cum = np.cumsum(bid_fill)
    ask_cum = np.cumsum(ask_fill)
    total = int(bid_cum[-1]) if len(bid_cum) else 0
    if total != (int(ask_cum[-1]) if len(ask_cum) else 0):
        raise MarketError("bid and ask fills differ in total; the clearing rule is inconsistent")
    if total == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty.copy(), empty.copy()
    ends = np.concatenate((bid_cum, ask_cum))
    ends.sort(kind="stable")  # two sorted runs: a linear merge
    keep = np.empty(len(ends), bool)
    keep[0] = ends[0] > 0
    np.not_equal(ends[1:], ends[:-1], out=keep[1:])
    keep[1:] &= ends[1:] > 0
    ends = ends[keep]
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1]
    bid_pos = np.searchsorted(bid_cum, ends, side="left").astype(np.int64)
    ask_pos = np.searchsorted(ask_cum, ends, side="left").astype(np.int64)
    return bid_pos, ask_pos, ends - starts


@dataclass(frozen=True, eq=False)
class Matches:
    """Matched trades as columns: rows into the :class:`BookArrays`, energy [Wh], price
    [micro-units/kWh]; ``clearing_price_micro_per_kwh`` is the uniform price if the rule has one
    and something traded, else None."""

    bid_row: I64
    ask_row: I64
    energy_wh: I64
    price_micro_per_kwh: I64
    clearing_price_micro_per_kwh: int | None = None

    @classmethod
    def empty(cls) -> Matches:
        z = np.zeros(0, np.int64)
        return cls(z, z.copy(), z.copy(), z.copy(), None)

    def __len__(self) -> int:
        return len(self.energy_wh)
