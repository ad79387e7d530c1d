"""The values the settlement contract takes: signed orders, trades and delivery entries.

These are the ledger's own shapes; a clearing result of :mod:`gridledger.market` maps onto them
one to one (a market trade names its bid and ask order ids: look those orders up with their
signatures and build a :class:`SettlementTrade`). Amounts follow
:func:`gridledger.units.cost_micro`, which is exactly the contract's integer arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from gridledger.errors import ValidationError
from gridledger.identity import ORDER, Domain, Signer, address_bytes
from gridledger.ledger import merkle
from gridledger.units import cost_micro

SIDE_BID = 0
SIDE_ASK = 1
ZERO_ADDRESS = bytes(20)


@dataclass(frozen=True)
class SignedOrder:
    """An EIP-712 ``Order`` and its owner's 65-byte signature ``r || s || v``."""

    region: bytes
    slot: int
    side: int
    energy_wh: int
    price_micro_per_kwh: int
    owner: bytes
    nonce: int
    signature: bytes
    target: bytes = ZERO_ADDRESS

    def __post_init__(self) -> None:
        if self.side not in (SIDE_BID, SIDE_ASK):
            raise ValidationError(f"order side is 0 (bid) or 1 (ask), got {self.side}")
        if len(self.signature) != 65:
            raise ValidationError("an order signature is 65 bytes r || s || v")
        if len(self.owner) != 20 or len(self.target) != 20 or len(self.region) != 32:
            raise ValidationError("owner and target are 20-byte addresses, region 32 bytes")

    @classmethod
    def sign(
        cls,
        signer: Signer,
        domain: Domain,
        *,
        region: bytes,
        slot: int,
        side: int,
        energy_wh: int,
        price_micro_per_kwh: int,
        nonce: int,
        target: bytes = ZERO_ADDRESS,
    ) -> SignedOrder:
        """Build and sign an order of ``signer``."""
        unsigned = cls(
            region=region,
            slot=slot,
            side=side,
            energy_wh=energy_wh,
            price_micro_per_kwh=price_micro_per_kwh,
            owner=signer.address_bytes,
            nonce=nonce,
            signature=bytes(65),  # placeholder of the right size until the real one is made
            target=target,
        )
        return replace(unsigned, signature=domain.sign(signer, ORDER, unsigned.message))

    @property
    def message(self) -> dict[str, Any]:
        """The EIP-712 message (field names as in :data:`gridledger.identity.ORDER`)."""
        return {
            "region": self.region,
            "slot": self.slot,
            "side": self.side,
            "energyWh": self.energy_wh,
            "priceMicroPerKwh": self.price_micro_per_kwh,
            "owner": self.owner,
            "nonce": self.nonce,
            "target": self.target,
        }

    @cached_property
    def order_id(self) -> bytes:
        """The order's id: its EIP-712 struct hash (what the contract computes too)."""
        return ORDER.hash_struct(self.message)

    @property
    def leaf(self) -> bytes:
        """Its leaf in the slot's orders Merkle tree."""
        return merkle.order_leaf(self.order_id)


@dataclass(frozen=True)
class SettlementTrade:
    """One trade of a clearing result: the two signed orders, energy and price."""

    bid: SignedOrder
    ask: SignedOrder
    energy_wh: int
    price_micro_per_kwh: int

    def __post_init__(self) -> None:
        if self.bid.side != SIDE_BID or self.ask.side != SIDE_ASK:
            raise ValidationError("a trade pairs a bid (side 0) with an ask (side 1)")

    @property
    def buyer(self) -> bytes:
        return self.bid.owner

    @property
    def seller(self) -> bytes:
        return self.ask.owner

    @property
    def amount_micro(self) -> int:
        """What the seller gets: ``cost_micro(energy_wh, price)``."""
        return cost_micro(self.energy_wh, self.price_micro_per_kwh)

    def fee_micro(self, fee_micro_per_kwh: int) -> int:
        """The operator's fee for this trade at the slot's fee rate."""
        return cost_micro(self.energy_wh, fee_micro_per_kwh)

    def trade_hash(self, fee_micro_per_kwh: int) -> bytes:
        """The hash the contract folds into the slot's ``trades_hash``."""
        return merkle.trade_hash(
            self.bid.order_id,
            self.ask.order_id,
            self.buyer,
            self.seller,
            self.energy_wh,
            self.price_micro_per_kwh,
            self.fee_micro(fee_micro_per_kwh),
        )

    def leaf(self, fee_micro_per_kwh: int) -> bytes:
        """Its leaf in the slot's trades Merkle tree."""
        return merkle.trade_leaf(self.trade_hash(fee_micro_per_kwh))


@dataclass(frozen=True)
class Delivery:
    """One account's position in a delivered slot: traded and metered energy [Wh]."""

    account: bytes
    bought_wh: int
    sold_wh: int
    import_wh: int
    export_wh: int

    @classmethod
    def of(
        cls, account: str | bytes, bought_wh: int, sold_wh: int, import_wh: int, export_wh: int
    ) -> Delivery:
        return cls(address_bytes(account), bought_wh, sold_wh, import_wh, export_wh)

    @property
    def imbalance_wh(self) -> int:
        """Metered net import minus traded net purchase: > 0 is settled at retail, < 0 feed-in."""
        return (self.import_wh - self.export_wh) - (self.bought_wh - self.sold_wh)

    def settlement_micro(self, retail_micro_per_kwh: int, feed_in_micro_per_kwh: int) -> int:
        """Signed amount: > 0 the account owes the grid, < 0 the grid owes the account."""
        imbalance = self.imbalance_wh
        if imbalance > 0:
            return cost_micro(imbalance, retail_micro_per_kwh)
        return -cost_micro(-imbalance, feed_in_micro_per_kwh)
