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
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridledger.errors import OrderError
from gridledger.identity import Domain
from gridledger.market.companies import STANDING_SLOT
from gridledger.market.market import clear_slot, reclear
from gridledger.market.orders import Order, validate_order
from gridledger.market.result import ClearingResult
from gridledger.market.rules import RuleSet


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
        return cls(
            region,
            slot_start_s,
            tuple(Order.from_dict(o) for o in raw_orders),
            tuple(Order.from_dict(o) for o in raw_offers),
        )

    @classmethod
    def load(cls, path: Path | str) -> SlotOrders:
        """Read a slot document from a JSON file."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise OrderError(f"cannot read slot document {path}: {exc}") from exc
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "slot_start_s": self.slot_start_s,
            "orders": [o.to_dict() for o in self.orders],
            "company_offers": [o.to_dict() for o in self.company_offers],
        }

    def validate(self, domain: Domain) -> None:
        """Check every order and offer (fields, signature, region, slot); raise on the first."""
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

    def clear(self, rules: RuleSet, domain: Domain) -> ClearingResult:
        """Validate, then clear under ``rules``."""
        self.validate(domain)
        return clear_slot(
            self.orders,
            self.company_offers,
            rules,
            region=self.region,
            slot_start_s=self.slot_start_s,
        )

    def reclear(self, rules: RuleSet, domain: Domain, expected_hash: bytes) -> ClearingResult:
        """Validate, re-clear and compare with ``expected_hash`` (see :func:`reclear`)."""
        self.validate(domain)
        return reclear(
            self.orders,
            self.company_offers,
            rules,
            region=self.region,
            slot_start_s=self.slot_start_s,
            expected_hash=expected_hash,
        )
