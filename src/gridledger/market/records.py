"""A slot's stored orders as one JSON document, to clear or re-clear anywhere.

The document (what ``gridledger market clear --file`` reads)::

    {
      "region": "north",
      "slot_start_s": 1800000000,
      "orders": [ {Order.to_dict()}, ... ],
      "company_offers": [ {Order.to_dict()}, ... ]      (optional)
    }

Every order and offer is checked as at the market's edge (fields and signature under the chain id),
and must belong to the document's region and slot (an offer may also be a standing one, slot 0).
As :class:`~gridledger.market.market.RegionalMarket` does, clearing a document also refuses:

* a slot start that is not on the slot grid of the rule set (a multiple of the slot length);
* a replayed nonce: the same owner and nonce on two messages of the document;
* a household trading with itself: an owner with both a bid and an ask in the slot, or an ask
  addressed to an energy company that is its own owner (one owner, one side per slot).

Limits, checked before or while reading, so a hostile file fails fast instead of exhausting the
machine: at most :data:`MAX_DOCUMENT_BYTES` (size checked before reading), UTF-8 text without NUL
bytes, JSON nested at most :data:`MAX_JSON_DEPTH` deep (checked before parsing: Python's parser
recurses once per level), at most :data:`MAX_DOCUMENT_ORDERS` orders and offers.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridledger.errors import OrderError
from gridledger.identity import Domain, address_bytes, checksum
from gridledger.market.companies import STANDING_SLOT
from gridledger.market.market import clear_slot, reclear
from gridledger.market.orders import Order, Side, validate_order
from gridledger.market.result import ClearingResult
from gridledger.market.rules import RuleSet

#: Largest slot document read [bytes] (32 MiB: about 50,000 signed orders).
MAX_DOCUMENT_BYTES = 32 << 20
#: Most orders plus company offers in one document.
MAX_DOCUMENT_ORDERS = 50_000
#: Deepest JSON nesting accepted; a slot document is 3 levels deep (document, list, order).
MAX_JSON_DEPTH = 8

# a JSON string literal (escapes included; the unrolled form is linear and fast in re)
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def _bracket_depth(raw: bytes) -> int:
    if not raw:
        return 0
    steps = np.take(_STEP, np.frombuffer(raw, dtype=np.uint8))
    # int32: a document of at most 32 MiB cannot nest deeper than 2**31
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def json_depth(raw: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text ``raw`` (brackets in strings ignored).

    Vectorised (numpy): a running sum over the bytes, no recursion, about 0.3 s for 32 MiB.
    """
    return _bracket_depth(_JSON_STRING.sub(b"", raw))


def _too_deep(raw: bytes) -> int | None:
    """The depth of ``raw`` if it is above :data:`MAX_JSON_DEPTH`, else None.

    The count ignores brackets inside strings (:func:`json_depth`), so neither can a bracket in
    a string refuse a document nor a ``]`` in a string hide real nesting. The parser is never
    relied on for this: its recursion limit is process-wide and other libraries raise it.
    """
    # without strings the plain count is exact
    depth = _bracket_depth(raw) if b'"' not in raw else json_depth(raw)
    return depth if depth > MAX_JSON_DEPTH else None


def parse_document(raw: bytes, source: str) -> Any:
    """Decode a JSON document of at most :data:`MAX_DOCUMENT_BYTES` bytes; raise OrderError."""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise OrderError(
            f"slot document {source} is larger than {MAX_DOCUMENT_BYTES} bytes; split it by slot"
        )
    if b"\0" in raw:
        raise OrderError(f"slot document {source} is binary (it has NUL bytes), not JSON text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OrderError(
            f"slot document {source} is not UTF-8 text (byte {exc.start}); save it as UTF-8 JSON"
        ) from None
    depth = _too_deep(raw)
    if depth is not None:
        raise OrderError(
            f"slot document {source} is nested {depth} levels deep; a slot document has 3 "
            f"(at most {MAX_JSON_DEPTH} are read)"
        )
    try:
        return json.loads(text)
    except RecursionError:  # brackets hidden in strings fooled the first count (see _too_deep)
        raise OrderError(
            f"slot document {source} is nested too deeply; a slot document has 3 levels"
        ) from None
    except ValueError as exc:
        raise OrderError(f"slot document {source} is not valid JSON: {exc}") from None


@dataclass(frozen=True)
class SlotOrders:
    """The orders and company offers of one (region, slot)."""

    region: str
    slot_start_s: int
    orders: tuple[Order, ...]
    company_offers: tuple[Order, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlotOrders:
        if not isinstance(data, Mapping):
            raise OrderError("a slot document is a JSON object with region, slot_start_s, orders")
        try:
            region = data["region"]
            slot_start_s = data["slot_start_s"]
            raw_orders = data["orders"]
        except KeyError as exc:
            raise OrderError(f"slot document lacks {exc.args[0]!r}") from None
        raw_offers = data.get("company_offers", [])
        if not isinstance(raw_orders, list) or not isinstance(raw_offers, list):
            raise OrderError("'orders' and 'company_offers' must be JSON lists of orders")
        if not isinstance(region, str) or isinstance(slot_start_s, bool):
            raise OrderError("'region' must be text and 'slot_start_s' an integer")
        if not isinstance(slot_start_s, int):
            raise OrderError("'slot_start_s' must be an integer (Unix seconds)")
        if len(raw_orders) + len(raw_offers) > MAX_DOCUMENT_ORDERS:
            raise OrderError(
                f"slot document has {len(raw_orders) + len(raw_offers)} orders and offers; at "
                f"most {MAX_DOCUMENT_ORDERS} are accepted"
            )
        return cls(
            region,
            slot_start_s,
            tuple(_order(o, "orders", i) for i, o in enumerate(raw_orders)),
            tuple(_order(o, "company_offers", i) for i, o in enumerate(raw_offers)),
        )

    @classmethod
    def load(cls, path: Path | str) -> SlotOrders:
        """Read a slot document from a JSON file (limits: see the module docstring)."""
        path = Path(path)
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the open
                raise OrderError(f"slot document {path} is not a regular file")
            with path.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > MAX_DOCUMENT_BYTES:  # before reading a byte of it
                    raise OrderError(
                        f"slot document {path} has {size} bytes, more than the "
                        f"{MAX_DOCUMENT_BYTES} accepted; split it by slot"
                    )
                # read one byte past the limit: a file that grows while read is caught too
                raw = fh.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as exc:
            raise OrderError(f"cannot read slot document {path}: {exc.strerror or exc}") from None
        return cls.from_dict(parse_document(raw, str(path)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "slot_start_s": self.slot_start_s,
            "orders": [o.to_dict() for o in self.orders],
            "company_offers": [o.to_dict() for o in self.company_offers],
        }

    def validate(self, domain: Domain, rules: RuleSet | None = None) -> None:
        """Check every order and offer (fields, signature, region, slot, nonces, sides) and,
        given ``rules``, that the slot start is on their slot grid; raise on the first."""
        if rules is not None and self.slot_start_s % (rules.slot_minutes * 60):
            raise OrderError(
                f"slot_start_s {self.slot_start_s} is not the start of a {rules.slot_minutes}-min "
                f"slot; slots start at multiples of {rules.slot_minutes * 60} s (Unix time)"
            )
        for order in self.orders:
            validate_order(order, domain)
            if order.region != self.region or order.slot_start_s != self.slot_start_s:
                raise OrderError(
                    f"order 0x{order.order_id.hex()} is for region {order.region!r} slot "
                    f"{order.slot_start_s}, not the document's {self.region!r} {self.slot_start_s}"
                )
        for offer in self.company_offers:
            validate_order(offer, domain)
            if offer.region != self.region or offer.slot_start_s not in (
                STANDING_SLOT,
                self.slot_start_s,
            ):
                raise OrderError(f"company offer 0x{offer.order_id.hex()} is for another slot")
        self._check_nonces_and_sides()

    def _check_nonces_and_sides(self) -> None:
        nonces: set[tuple[bytes, int]] = set()
        for order in (*self.orders, *self.company_offers):
            key = (address_bytes(order.owner), order.nonce)
            if key in nonces:
                raise OrderError(
                    f"nonce {order.nonce} of {checksum(order.owner)} is used twice in the "
                    "document (a replayed message); every order needs a fresh nonce"
                )
            nonces.add(key)
        sides: dict[bytes, Side] = {}
        for order in self.orders:
            owner = address_bytes(order.owner)
            if sides.setdefault(owner, order.side) != order.side:
                raise OrderError(
                    f"{checksum(order.owner)} has both a bid and an ask in slot "
                    f"{self.slot_start_s} and could trade with itself; one owner, one side per slot"
                )
            if order.targets_company and address_bytes(order.target) == owner:
                raise OrderError(
                    f"ask 0x{order.order_id.hex()} of {checksum(order.owner)} is addressed to "
                    "itself as an energy company; an owner cannot trade with itself"
                )

    def clear(self, rules: RuleSet, domain: Domain) -> ClearingResult:
        """Validate, then clear under ``rules``."""
        self.validate(domain, rules)
        return clear_slot(
            self.orders,
            self.company_offers,
            rules,
            region=self.region,
            slot_start_s=self.slot_start_s,
        )

    def reclear(self, rules: RuleSet, domain: Domain, expected_hash: bytes) -> ClearingResult:
        """Validate, re-clear and compare with ``expected_hash`` (see :func:`reclear`)."""
        self.validate(domain, rules)
        return reclear(
            self.orders,
            self.company_offers,
            rules,
            region=self.region,
            slot_start_s=self.slot_start_s,
            expected_hash=expected_hash,
        )


def _order(raw: object, field: str, index: int) -> Order:
    if not isinstance(raw, Mapping):
        raise OrderError(f"{field}[{index}] must be a JSON object (an order), got {raw!r:.60}")
    try:
        return Order.from_dict(raw)
    except OrderError as exc:
        raise OrderError(f"{field}[{index}]: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise OrderError(f"{field}[{index}] is not a valid order: {exc}") from None
