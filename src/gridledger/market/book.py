"""The order book of one (region, slot), and its columnar form for clearing.

:class:`OrderBook` holds accepted orders by id, removes cancelled ones and is frozen at gate
closure; it trusts its caller (:class:`~gridledger.market.market.RegionalMarket`) to have validated
each order. :class:`BookArrays` is the same book as numpy columns, the only input the clearing
rules take. Energy companies' standing offers are bid rows flagged ``is_company``; an ask addressed
to a company carries the row of that company's offer in ``target_row`` (-1 for the open market).
Row order carries no meaning: clearing sorts by price and order hash, never by row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridledger.errors import MarketError, OrderError
from gridledger.identity import address_bytes, region_id
from gridledger.market.orders import Order, Side
from gridledger.slots import Slot

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class BookArrays:
    """One slot's orders as columns (``n`` rows).

    ``order_ids`` (n, 32) uint8 order hashes; ``owners`` (n, 20) uint8 addresses; ``is_bid``,
    ``is_company`` bool; ``energy_wh`` [Wh] and ``price_micro_per_kwh`` int64; ``target_row``
    int64, the row of the company offer an ask is addressed to, else -1.
    """

    order_ids: U8
    owners: U8
    is_bid: BoolArray
    is_company: BoolArray
    energy_wh: I64
    price_micro_per_kwh: I64
    target_row: I64

    def __post_init__(self) -> None:
        n = len(self.energy_wh)
        shapes = {
            "order_ids": (self.order_ids.shape, (n, 32)),
            "owners": (self.owners.shape, (n, 20)),
            "is_bid": (self.is_bid.shape, (n,)),
            "is_company": (self.is_company.shape, (n,)),
            "price_micro_per_kwh": (self.price_micro_per_kwh.shape, (n,)),
            "target_row": (self.target_row.shape, (n,)),
        }
        for name, (got, want) in shapes.items():
            if got != want:
                raise MarketError(f"BookArrays.{name} has shape {got}, expected {want}")
        if n >= 2**32:
            raise MarketError(f"a book of {n} orders is too large to clear; split the region")

    def __len__(self) -> int:
        return len(self.energy_wh)

    @classmethod
    def empty(cls) -> BookArrays:
        return cls.build(
            order_ids=np.zeros((0, 32), np.uint8),
            owners=np.zeros((0, 20), np.uint8),
            is_bid=np.zeros(0, bool),
            energy_wh=np.zeros(0, np.int64),
            price_micro_per_kwh=np.zeros(0, np.int64),
        )

    @classmethod
    def build(
        cls,
        *,
        order_ids: U8,
        owners: U8,
        is_bid: BoolArray,
        energy_wh: I64,
        price_micro_per_kwh: I64,
        is_company: BoolArray | None = None,
        target_row: I64 | None = None,
    ) -> BookArrays:
        """Columns from arrays (copied to contiguous arrays of the right dtype); company flags
        default to none, targets to the open market. Used by benchmarks and tests to skip the
        signature checks, which are separate from clearing."""
        n = len(energy_wh)
        return cls(
            order_ids=np.ascontiguousarray(order_ids, dtype=np.uint8),
            owners=np.ascontiguousarray(owners, dtype=np.uint8),
            is_bid=np.ascontiguousarray(is_bid, dtype=bool),
            is_company=(
                np.zeros(n, bool) if is_company is None else np.ascontiguousarray(is_company, bool)
            ),
            energy_wh=np.ascontiguousarray(energy_wh, dtype=np.int64),
            price_micro_per_kwh=np.ascontiguousarray(price_micro_per_kwh, dtype=np.int64),
            target_row=(
                np.full(n, -1, np.int64)
                if target_row is None
                else np.ascontiguousarray(target_row, dtype=np.int64)
            ),
        )

    @classmethod
    def from_orders(
        cls, orders: Iterable[Order], company_offers: Iterable[Order] = ()
    ) -> BookArrays:
        """Columns of validated ``orders`` plus the company offers they may target.

        Raises :class:`OrderError` when an ask targets a company with no offer among
        ``company_offers`` or when two orders share an id.
        """
        offers = sorted(company_offers, key=lambda o: o.order_id)
        rows = list(offers) + list(orders)
        row_of_company: dict[bytes, int] = {}
        for i, offer in enumerate(offers):
            owner = address_bytes(offer.owner)
            if owner in row_of_company:
                raise OrderError(f"two offers of company {offer.owner} in one book")
            row_of_company[owner] = i
        ids = [o.order_id for o in rows]
        if len(set(ids)) != len(ids):
            raise OrderError("the same order appears twice in the book")
        targets = []
        for order in rows:
            if order.targets_company:
                row = row_of_company.get(address_bytes(order.target))
                if row is None:
                    raise OrderError(
                        f"order targets {order.target}, which has no standing offer in this "
                        "region; register the company and post its offer first"
                    )
                targets.append(row)
            else:
                targets.append(-1)
        n = len(rows)
        return cls.build(
            order_ids=np.frombuffer(b"".join(ids), np.uint8).reshape(n, 32),
            owners=np.frombuffer(b"".join(address_bytes(o.owner) for o in rows), np.uint8).reshape(
                n, 20
            ),
            is_bid=np.array([o.side == Side.BID for o in rows], bool),
            is_company=np.array([i < len(offers) for i in range(n)], bool),
            energy_wh=np.array([o.energy_wh for o in rows], np.int64),
            price_micro_per_kwh=np.array([o.price_micro_per_kwh for o in rows], np.int64),
            target_row=np.array(targets, np.int64),
        )


class OrderBook:
    """Accepted orders of one region and slot, by order id.

    The book only stores: validation (signature, region, slot, gate closure, nonce, target) is
    the market's job. After :meth:`freeze` (gate closure) it refuses changes with
    :class:`MarketError`.
    """

    def __init__(self, region: str, slot: Slot) -> None:
        self.region = region
        self.region_id = region_id(region)
        self.slot = slot
        self._orders: dict[bytes, Order] = {}
        self._frozen = False

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> None:
        """Refuse further changes (gate closure). Idempotent."""
        self._frozen = True

    def _require_open(self, what: str) -> None:
        if self._frozen:
            raise MarketError(
                f"cannot {what}: the book of region {self.region!r} slot {self.slot} is frozen "
                "(gate closure passed); submit to a later slot"
            )

    def add(self, order: Order) -> bytes:
        """Store ``order``; return its id. Raises :class:`OrderError` on a duplicate."""
        self._require_open("add an order")
        if order.region != self.region or order.slot_start_s != self.slot.start_s:
            raise OrderError(
                f"order for region {order.region!r} slot {order.slot_start_s} does not belong to "
                f"the book of region {self.region!r} slot {self.slot.start_s}"
            )
        if order.order_id in self._orders:
            raise OrderError(f"order 0x{order.order_id.hex()} is in the book already")
        self._orders[order.order_id] = order
        return order.order_id

    def remove(self, order_id: bytes) -> Order:
        """Remove and return the order ``order_id``; :class:`OrderError` if it is not here."""
        self._require_open("cancel an order")
        try:
            return self._orders.pop(order_id)
        except KeyError:
            raise OrderError(
                f"no order 0x{order_id.hex()} in the book of region {self.region!r} slot "
                f"{self.slot}; it was never accepted or is cancelled already"
            ) from None

    def get(self, order_id: bytes) -> Order | None:
        return self._orders.get(order_id)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def __iter__(self) -> Iterator[Order]:
        return iter(self.orders())

    def orders(self, side: Side | None = None, owner: str | None = None) -> list[Order]:
        """The book's orders sorted by id (never by arrival), optionally of one side or owner."""
        wanted_owner = address_bytes(owner) if owner is not None else None
        return [
            o
            for _, o in sorted(self._orders.items())
            if (side is None or o.side == side)
            and (wanted_owner is None or address_bytes(o.owner) == wanted_owner)
        ]

    def bids(self) -> list[Order]:
        return self.orders(Side.BID)

    def asks(self) -> list[Order]:
        return self.orders(Side.ASK)
