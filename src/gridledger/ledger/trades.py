"""How the settlement contract takes the market's orders and trades: ABI words, hashes, leaves.

An order is one type in every layer, :class:`gridledger.market.Order`, and a trade is
:class:`gridledger.market.Trade`; this module only *encodes* them for the contract:

* :func:`encode_order` gives an order's static ABI tuple ``(energyWh, priceMicroPerKwh, owner,
  nonce, target, v, r, s)``; the contract supplies the region and the slot itself;
* :class:`SignedTrade` is a market trade together with the two signed orders it fills, which is
  what ``settle_trades`` takes (the contract re-checks both signatures with ``ecrecover``). It
  holds the market's values and derives nothing but their encoding and hash;
* :class:`Delivery` is one account's entry of ``settle_delivery``.

Amounts follow :func:`gridledger.units.cost_micro`, which is exactly the contract's integer
arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridledger.errors import ValidationError
from gridledger.identity import address_bytes
from gridledger.ledger import merkle
from gridledger.market import Order, Side, Trade
from gridledger.units import cost_micro


def _word(value: int) -> bytes:
    return value.to_bytes(32)


def encode_order(order: Order) -> bytes:
    """The order's ABI tuple as the contract's ``Order`` struct takes it (8 static words)."""
    sig = order.signature
    if len(sig) != 65:
        raise ValidationError(
            f"order 0x{order.order_id.hex()} carries no 65-byte signature r || s || v; sign it "
            "with Order.create before settling it"
        )
    return b"".join(
        (
            _word(order.energy_wh),
            _word(order.price_micro_per_kwh),
            address_bytes(order.owner).rjust(32, b"\0"),
            _word(order.nonce),
            address_bytes(order.target).rjust(32, b"\0"),
            _word(sig[64]),
            sig[:32],
            sig[32:64],
        )
    )


@dataclass(frozen=True)
class SignedTrade:
    """A market :class:`~gridledger.market.Trade` with the bid and ask orders it fills."""

    trade: Trade
    bid: Order
    ask: Order

    def __post_init__(self) -> None:
        if self.bid.side != Side.BID or self.ask.side != Side.ASK:
            raise ValidationError("a trade pairs a bid (side 0) with an ask (side 1)")
        if self.trade.bid_id != self.bid.order_id or self.trade.ask_id != self.ask.order_id:
            raise ValidationError(
                "a trade's bid_id and ask_id must be the ids of the orders given with it"
            )

    @classmethod
    def of(
        cls,
        bid: Order,
        ask: Order,
        energy_wh: int,
        price_micro_per_kwh: int,
        fee_micro_per_kwh: int,
    ) -> SignedTrade:
        """The trade of ``energy_wh`` [Wh] between two orders at a price, its amount and fee
        [micro-units] computed as the contract computes them."""
        trade = Trade(
            bid_id=bid.order_id,
            ask_id=ask.order_id,
            buyer=bid.owner,
            seller=ask.owner,
            energy_wh=energy_wh,
            price_micro_per_kwh=price_micro_per_kwh,
            amount_micro=cost_micro(energy_wh, price_micro_per_kwh),
            fee_micro=cost_micro(energy_wh, fee_micro_per_kwh),
            company=address_bytes(ask.target) != bytes(20),
        )
        return cls(trade, bid, ask)

    @property
    def energy_wh(self) -> int:
        return self.trade.energy_wh

    @property
    def price_micro_per_kwh(self) -> int:
        return self.trade.price_micro_per_kwh

    def encode(self) -> bytes:
        """The ABI tuple ``(bid, ask, energyWh, priceMicroPerKwh)`` of ``settle_trades``."""
        return (
            encode_order(self.bid)
            + encode_order(self.ask)
            + _word(self.trade.energy_wh)
            + _word(self.trade.price_micro_per_kwh)
        )


def contract_charges(trade: Trade, fee_micro_per_kwh: int) -> tuple[int, int]:
    """What the contract charges for ``trade`` at a fee rate: ``(amount, fee)`` [micro-units]."""
    return (
        cost_micro(trade.energy_wh, trade.price_micro_per_kwh),
        cost_micro(trade.energy_wh, fee_micro_per_kwh),
    )


def trade_hash(trade: Trade) -> bytes:
    """The hash the contract folds into the slot's ``trades_hash`` for this trade."""
    return merkle.trade_hash(
        trade.bid_id,
        trade.ask_id,
        address_bytes(trade.buyer),
        address_bytes(trade.seller),
        trade.energy_wh,
        trade.price_micro_per_kwh,
        trade.fee_micro,
    )


def trade_leaf(trade: Trade) -> bytes:
    """The trade's leaf in the slot's trades Merkle tree."""
    return merkle.trade_leaf(trade_hash(trade))


def order_leaf(order: Order) -> bytes:
    """The order's leaf in the slot's orders Merkle tree."""
    return merkle.order_leaf(order.order_id)


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
