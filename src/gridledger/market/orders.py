"""Market orders and cancels: EIP-712 signed messages, checked once at the edge.

An :class:`Order` is the :data:`gridledger.identity.ORDER` struct plus its 65-byte signature.

* Its identity, :attr:`Order.order_id`, is the EIP-712 struct hash ``ORDER.hash_struct(fields)``
  (32 bytes); the same hash breaks ties in clearing, so no result depends on arrival order.
* The signature is over ``domain.digest(ORDER, fields)``, exactly what a wallet's
  ``eth_signTypedData_v4`` signs and what the ledger contract checks with ``ecrecover``; the
  domain of a market that settles on chain is ``Domain.of_contract(chain_id, market_contract)``.
* ``side`` 0 is a bid (buy), 1 an ask (sell); ``target`` is the zero address for the open market
  or the address of a registered energy company an ask is addressed to.

:func:`validate_order` checks everything an order can be checked for on its own (quantities,
prices, side, target shape, signature); the region, gate closure, nonces and company targets are
checked by :class:`~gridledger.market.market.RegionalMarket`, which knows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import Any

from gridledger.errors import OrderError, UnitError, ValidationError
from gridledger.identity import (
    CANCEL,
    ORDER,
    ZERO_ADDRESS,
    Domain,
    Signer,
    address_bytes,
    checksum,
    region_id,
)
from gridledger.units import validate_energy_wh, validate_price_micro_per_kwh

_UINT64_MAX = 2**64 - 1


class Side(IntEnum):
    """Order side as signed on the wire: 0 = bid (buy), 1 = ask (sell)."""

    BID = 0
    ASK = 1


def _checked_uint64(value: object, title: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT64_MAX:
        raise OrderError(f"{title} must be an integer in [0, 2**64), got {value!r}")
    return value


@dataclass(frozen=True)
class Order:
    """A signed bid or ask for one region and delivery slot.

    ``energy_wh`` [Wh] is the most the owner buys or sells; ``price_micro_per_kwh`` is its limit
    [micro-units/kWh]: the most a buyer pays per kWh *including the grid fee*, the least a seller
    accepts. ``slot_start_s`` is the slot start [Unix s]; ``owner`` the signing account.
    """

    region: str
    slot_start_s: int
    side: Side
    energy_wh: int
    price_micro_per_kwh: int
    owner: str
    nonce: int
    target: str = ZERO_ADDRESS
    signature: bytes = b""

    @cached_property
    def message(self) -> dict[str, Any]:
        """The ORDER struct's fields, as :meth:`MessageType.hash_struct` takes them."""
        return {
            "region": region_id(self.region),
            "slot": self.slot_start_s,
            "side": int(self.side),
            "energyWh": self.energy_wh,
            "priceMicroPerKwh": self.price_micro_per_kwh,
            "owner": self.owner,
            "nonce": self.nonce,
            "target": self.target,
        }

    @cached_property
    def order_id(self) -> bytes:
        """The order's identity: ``ORDER.hash_struct(fields)`` (32 bytes)."""
        return ORDER.hash_struct(self.message)

    @property
    def is_bid(self) -> bool:
        return self.side == Side.BID

    @property
    def targets_company(self) -> bool:
        return address_bytes(self.target) != bytes(20)

    @classmethod
    def create(
        cls,
        signer: Signer,
        domain: Domain,
        *,
        region: str,
        slot_start_s: int,
        side: Side | int,
        energy_wh: int,
        price_micro_per_kwh: int,
        nonce: int,
        target: str = ZERO_ADDRESS,
    ) -> Order:
        """A new order owned and signed by ``signer`` under ``domain`` (chain id, market)."""
        unsigned = cls(
            region=region,
            slot_start_s=slot_start_s,
            side=Side(side),
            energy_wh=energy_wh,
            price_micro_per_kwh=price_micro_per_kwh,
            owner=signer.address,
            nonce=nonce,
            target=checksum(target),
        )
        signature = domain.sign(signer, ORDER, unsigned.message)
        return unsigned.with_signature(signature)

    def with_signature(self, signature: bytes) -> Order:
        return Order(
            self.region,
            self.slot_start_s,
            self.side,
            self.energy_wh,
            self.price_micro_per_kwh,
            self.owner,
            self.nonce,
            self.target,
            signature,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (addresses checksummed, signature as 0x-hex)."""
        return {
            "region": self.region,
            "slot_start_s": self.slot_start_s,
            "side": "bid" if self.is_bid else "ask",
            "energy_wh": self.energy_wh,
            "price_micro_per_kwh": self.price_micro_per_kwh,
            "owner": checksum(self.owner),
            "nonce": self.nonce,
            "target": checksum(self.target),
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Order:
        """Inverse of :meth:`to_dict`; raises :class:`OrderError` on a malformed record."""
        try:
            side_text = data["side"]
            if side_text not in ("bid", "ask", 0, 1):
                raise OrderError(f"order side must be 'bid' or 'ask', got {side_text!r}")
            side = Side.BID if side_text in ("bid", 0) else Side.ASK
            signature_text = str(data.get("signature", ""))
            return cls(
                region=str(data["region"]),
                slot_start_s=data["slot_start_s"],
                side=side,
                energy_wh=data["energy_wh"],
                price_micro_per_kwh=data["price_micro_per_kwh"],
                owner=str(data["owner"]),
                nonce=data["nonce"],
                target=str(data.get("target", ZERO_ADDRESS)),
                signature=bytes.fromhex(signature_text.removeprefix("0x")),
            )
        except KeyError as exc:
            raise OrderError(f"order record lacks field {exc.args[0]!r}") from None
        except ValueError as exc:
            if isinstance(exc, ValidationError):
                raise
            raise OrderError(f"order signature is not hex: {exc}") from None


def validate_order(order: Order, domain: Domain) -> Order:
    """Check an order on its own; return it, or raise.

    Raises :class:`OrderError` for a bad side, energy, price, nonce, slot or address field
    (energy in 1..MAX_ENERGY_WH Wh, price in 0..MAX_PRICE_MICRO_PER_KWH, a bid may not target a
    company) and :class:`~gridledger.errors.SignatureError` when the signature is malformed or
    was not made by ``order.owner`` under ``domain``.
    """
    if not isinstance(order.side, Side):
        raise OrderError(f"order side must be Side.BID (0) or Side.ASK (1), got {order.side!r}")
    try:
        validate_energy_wh(order.energy_wh, "order energy_wh")
        validate_price_micro_per_kwh(order.price_micro_per_kwh, "order price_micro_per_kwh")
    except UnitError as exc:
        raise OrderError(str(exc)) from exc
    _checked_uint64(order.nonce, "order nonce")
    _checked_uint64(order.slot_start_s, "order slot_start_s")
    try:
        address_bytes(order.owner, "order owner")
        address_bytes(order.target, "order target")
        region_id(order.region)
    except ValidationError as exc:
        raise OrderError(str(exc)) from exc
    if order.is_bid and order.targets_company:
        raise OrderError(
            "a bid cannot target a company; only asks are addressed to an energy company "
            "(set target to the zero address)"
        )
    domain.verify(ORDER, order.message, order.signature, order.owner)
    return order


@dataclass(frozen=True)
class Cancel:
    """A signed withdrawal of order ``order_id`` before gate closure, by the order's owner."""

    region: str
    slot_start_s: int
    order_id: bytes
    owner: str
    nonce: int
    signature: bytes = b""

    @cached_property
    def message(self) -> dict[str, Any]:
        return {
            "region": region_id(self.region),
            "slot": self.slot_start_s,
            "orderHash": self.order_id,
            "owner": self.owner,
            "nonce": self.nonce,
        }

    @classmethod
    def create(cls, signer: Signer, domain: Domain, order: Order, *, nonce: int) -> Cancel:
        """A cancel of ``order`` signed by ``signer`` (who must be the order's owner)."""
        unsigned = cls(order.region, order.slot_start_s, order.order_id, signer.address, nonce)
        signature = domain.sign(signer, CANCEL, unsigned.message)
        return cls(
            unsigned.region,
            unsigned.slot_start_s,
            unsigned.order_id,
            signer.address,
            nonce,
            signature,
        )


def validate_cancel(cancel: Cancel, domain: Domain) -> Cancel:
    """Check a cancel's fields and signature; raise :class:`OrderError` or ``SignatureError``."""
    if not isinstance(cancel.order_id, bytes) or len(cancel.order_id) != 32:
        raise OrderError("cancel order_id must be the 32-byte order hash")
    _checked_uint64(cancel.nonce, "cancel nonce")
    _checked_uint64(cancel.slot_start_s, "cancel slot_start_s")
    try:
        address_bytes(cancel.owner, "cancel owner")
        region_id(cancel.region)
    except ValidationError as exc:
        raise OrderError(str(exc)) from exc
    domain.verify(CANCEL, cancel.message, cancel.signature, cancel.owner)
    return cancel
