"""Client of the ``RegionMarket`` contract: escrow, slot settlement in batches, delivery, events.

A slot's trades go to the chain in as few transactions as the block gas limit allows. The gas of a
batch is modelled as ``base + n * per_trade`` from two gas estimates (an empty batch and a small
sample), with headroom for trades that touch fresh storage; the trades are then split into equal
batches under the block gas limit, signed with consecutive nonces and handed to the backend at
once (the embedded chain mines them together, an RPC node gets one JSON-RPC batch). Each batch
names the index of its first trade, so a failed batch stops the ones after it and a later call
resumes the slot where the chain left it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from gridledger.chain.backend import LedgerBackend, Receipt
from gridledger.chain.transactions import Call, send_calls
from gridledger.errors import ContractError, LedgerError, VerificationError
from gridledger.identity import Signer, checksum
from gridledger.ledger import merkle
from gridledger.ledger.abi import ContractABI
from gridledger.ledger.contract import ContractClient
from gridledger.ledger.trades import (
    Delivery,
    SignedTrade,
    contract_charges,
    trade_hash,
    trade_leaf,
)
from gridledger.market import Trade

#: The contract's largest batches (``MAX_TRADES`` / ``MAX_ENTRIES`` in RegionMarket.vy). Vyper
#: reserves memory for a batch's bound and memory costs gas quadratically (about 700k gas per
#: transaction for 1,024 trades): a trade in a batch that does not close its slot costs 44k more
#: (stored fills), so fewer, larger batches win above a few dozen trades.
MAX_TRADES_PER_TX = 1024
MAX_ENTRIES_PER_TX = 512
#: Extra gas a trade may need over the sampled average: a seller escrow written for the first time
#: (22,100 instead of 5,000) plus slack.
PER_TRADE_MARGIN = 20_000
#: Extra gas of a batch over its estimate: a slot record written for the first time.
BASE_MARGIN = 250_000
#: Gas model before anything was estimated (and for empty batches) [gas].
DEFAULT_BASE_GAS = 1_500_000
DEFAULT_TRADE_GAS = 90_000
#: Fraction of the block gas limit a settlement transaction may use.
BLOCK_FILL = 0.95
#: Gas of one approve + deposit pair, with headroom.
APPROVE_GAS = 60_000
DEPOSIT_GAS = 120_000
DEPOSIT_FOR_GAS_PER_ACCOUNT = 45_000


_TOKEN_ABI = ContractABI.named("Token")


class SlotStatus(enum.IntEnum):
    NONE = 0
    TRADING = 1
    TRADED = 2
    DELIVERING = 3
    DELIVERED = 4


@dataclass(frozen=True)
class SlotState:
    """A slot as the contract records it."""

    status: SlotStatus
    fee_micro_per_kwh: int
    retail_micro_per_kwh: int
    feed_in_micro_per_kwh: int
    trade_count: int
    delivery_count: int
    energy_wh: int
    amount_micro: int
    fee_micro: int
    orders_root: bytes
    trades_hash: bytes
    trades_root: bytes
    readings_root: bytes


@dataclass(frozen=True)
class SettledTrade:
    """A ``TradeSettled`` event read back from the chain: the market trade it records, and where.

    ``trade`` is the market's own :class:`~gridledger.market.Trade` as the event states it (the
    chain does not say whether the seller addressed a company, so ``trade.company`` is False);
    ``slot`` is the slot start [Unix s]; the rest locates the event on the chain.
    """

    slot: int
    trade: Trade
    block_number: int
    tx_hash: bytes
    log_index: int

    @property
    def trade_hash(self) -> bytes:
        return trade_hash(self.trade)

    @property
    def leaf(self) -> bytes:
        return trade_leaf(self.trade)


@dataclass(frozen=True)
class BatchResult:
    """What settling a slot's trades or deliveries took."""

    slot: int
    items: int
    receipts: tuple[Receipt, ...]
    root: bytes

    @property
    def transactions(self) -> int:
        return len(self.receipts)

    @property
    def gas_used(self) -> int:
        return sum(r.gas_used for r in self.receipts)


@dataclass(frozen=True)
class GasModel:
    """Gas of a batch of ``n`` items: ``base + n * per_item`` [gas].

    ``per_item_last`` is the (lower) cost per item in the batch that closes a slot, when it
    differs: trades in the closing batch keep their order fills in transient storage.
    """

    base: int
    per_item: int
    max_items: int
    per_item_last: int | None = None

    def _fit(self, per_item: int, gas_limit: int) -> int:
        room = (int(gas_limit * BLOCK_FILL) - self.base) // per_item
        return max(1, min(self.max_items, room))

    def batch_sizes(self, n: int, gas_limit: int) -> list[int]:
        """Split ``n`` items into as few, equal batches as fit ``gas_limit``."""
        if n == 0:
            return [0]
        if n <= self._fit(self.per_item_last or self.per_item, gas_limit):
            return [n]
        count = math.ceil(n / self._fit(self.per_item, gas_limit))
        size, extra = divmod(n, count)
        return [size + (1 if i < extra else 0) for i in range(count)]

    def gas(self, n: int, gas_limit: int, last: bool = False) -> int:
        per = (self.per_item_last or self.per_item) if last else self.per_item
        return min(gas_limit, self.base + n * per)


def _word(value: int) -> bytes:
    return value.to_bytes(32)


class MarketClient(ContractClient):
    """One region's market settlement contract."""

    NAME = "RegionMarket"

    def __init__(self, backend: LedgerBackend, address: bytes) -> None:
        super().__init__(backend, address)
        self._trade_gas: GasModel | None = None
        self._delivery_gas: GasModel | None = None
        self._settle_selector = self.abi.selector("settle_trades")
        self._delivery_selector = self.abi.selector("settle_delivery")

    @classmethod
    def deploy(
        cls,
        backend: LedgerBackend,
        deployer: Signer,
        *,
        token: bytes,
        registry: bytes,
        region: bytes,
        operator: bytes,
        retail_micro_per_kwh: int,
        feed_in_micro_per_kwh: int,
        fee_micro_per_kwh: int,
    ) -> Self:
        return cls._deploy(
            backend,
            deployer,
            token,
            registry,
            region,
            operator,
            retail_micro_per_kwh,
            feed_in_micro_per_kwh,
            fee_micro_per_kwh,
        )

    # --- reading -------------------------------------------------------------------------------

    def token(self) -> bytes:
        result: bytes = self.call("TOKEN")
        return result

    def region(self) -> bytes:
        result: bytes = self.call("REGION")
        return result

    def operator(self) -> bytes:
        result: bytes = self.call("OPERATOR")
        return result

    def domain_separator(self) -> bytes:
        result: bytes = self.call("DOMAIN_SEPARATOR")
        return result

    def escrow_of(self, account: bytes) -> int:
        return int(self.call("escrow", account))

    def total_escrow(self) -> int:
        return int(self.call("total_escrow"))

    def filled(self, order_id: bytes) -> int:
        """Energy filled so far of the order with id ``order_id`` [Wh]."""
        return int(self.call("filled", order_id))

    def grid_prices(self) -> tuple[int, int, int]:
        """Current (retail, feed-in, fee) rates [micro-units/kWh] for slots opened from now on."""
        return (
            int(self.call("retail_micro_per_kwh")),
            int(self.call("feed_in_micro_per_kwh")),
            int(self.call("fee_micro_per_kwh")),
        )

    def slot(self, slot: int) -> SlotState:
        """The slot's record: status, tariffs, totals and roots."""
        v = self.call("slots", slot)
        return SlotState(SlotStatus(v[0]), *v[1:])

    # --- escrow --------------------------------------------------------------------------------

    def deposit(self, account: Signer, amount_micro: int) -> list[Receipt]:
        """Approve and deposit ``amount_micro`` into escrow (two transactions, one batch)."""
        token = self.token()
        approve = _TOKEN_ABI.encode_call("approve", self.address, amount_micro)
        calls = [
            Call(token, approve, APPROVE_GAS, "Token.approve"),
            self.make_call(account, "deposit", amount_micro, gas=DEPOSIT_GAS),
        ]
        return send_calls(self.backend, account, calls)

    def deposit_for(self, sponsor: Signer, grants: Sequence[tuple[bytes, int]]) -> list[Receipt]:
        """Approve once, then deposit into many accounts' escrow from ``sponsor``'s tokens."""
        total = sum(amount for _, amount in grants)
        token = self.token()
        calls = [
            Call(
                token,
                _TOKEN_ABI.encode_call("approve", self.address, total),
                APPROVE_GAS,
                "Token.approve",
            )
        ]
        for i in range(0, len(grants), MAX_ENTRIES_PER_TX):
            chunk = grants[i : i + MAX_ENTRIES_PER_TX]
            calls.append(
                self.make_call(
                    sponsor,
                    "deposit_for",
                    [a for a, _ in chunk],
                    [m for _, m in chunk],
                    gas=DEPOSIT_GAS + DEPOSIT_FOR_GAS_PER_ACCOUNT * len(chunk),
                )
            )
        return send_calls(self.backend, sponsor, calls)

    def withdraw(self, account: Signer, amount_micro: int) -> Receipt:
        return self.transact(account, "withdraw", amount_micro)

    def set_grid_prices(
        self,
        operator: Signer,
        retail_micro_per_kwh: int,
        feed_in_micro_per_kwh: int,
        fee_micro_per_kwh: int,
    ) -> Receipt:
        return self.transact(
            operator,
            "set_grid_prices",
            retail_micro_per_kwh,
            feed_in_micro_per_kwh,
            fee_micro_per_kwh,
        )

    # --- trades --------------------------------------------------------------------------------

    def encode_settle_trades(
        self,
        slot: int,
        orders_root: bytes,
        first_trade: int,
        trades: Sequence[SignedTrade],
        close: bool,
        trades_root: bytes,
    ) -> bytes:
        """Call data of ``settle_trades`` (hand-encoded: every field is static)."""
        head = b"".join(
            (
                self._settle_selector,
                _word(slot),
                orders_root,
                _word(first_trade),
                _word(6 * 32),
                _word(int(close)),
                trades_root,
                _word(len(trades)),
            )
        )
        body = b"".join(t.encode() for t in trades)
        return head + body

    def trade_gas_model(
        self, operator: Signer, slot: int, first_trade: int, sample: Sequence[SignedTrade]
    ) -> GasModel:
        """Gas model of ``settle_trades`` from three estimates (cached on this client).

        Estimated: a non-closing batch of one trade and of ``sample`` (their difference is the
        gas per trade when fills are stored), and a closing batch of ``sample`` (fills in
        transient storage). Margins cover what a sample may not show: a slot record written for
        the first time, sellers with a fresh escrow entry.
        """
        if self._trade_gas is None and len(sample) > 1:
            sender = operator.address_bytes

            def estimate(batch: Sequence[SignedTrade], close: bool) -> int:
                data = self.encode_settle_trades(
                    slot, bytes(32), first_trade, batch, close, bytes(32)
                )
                return self.backend.estimate_gas(self.address, data, sender)

            one = estimate(sample[:1], False)
            per = max(1, (estimate(sample, False) - one) // (len(sample) - 1))
            base = max(0, one - per)
            per_last = max(1, (estimate(sample, True) - base) // len(sample))
            self._trade_gas = GasModel(
                base + BASE_MARGIN,
                per + PER_TRADE_MARGIN,
                MAX_TRADES_PER_TX,
                min(per, per_last) + PER_TRADE_MARGIN,
            )
        return self._trade_gas or GasModel(
            DEFAULT_BASE_GAS, DEFAULT_TRADE_GAS + PER_TRADE_MARGIN, MAX_TRADES_PER_TX
        )

    def settle_trades(
        self,
        operator: Signer,
        slot: int,
        trades: Sequence[SignedTrade],
        *,
        orders_root: bytes,
        trades_root: bytes | None = None,
        close: bool = True,
    ) -> BatchResult:
        """Settle a slot's trades in as few transactions as the block gas limit allows.

        ``orders_root`` is the Merkle root of the slot's orders (:mod:`gridledger.ledger.merkle`);
        ``trades_root`` defaults to the root of ``trades``' leaves. When the slot is half settled
        (an earlier call failed part way), the trades the chain has already are skipped after
        checking that they are the same (same running ``trades_hash``).
        """
        state = self.slot(slot)
        if state.status not in (SlotStatus.NONE, SlotStatus.TRADING):
            raise ContractError(
                f"slot {slot} is settled already ({state.status.name})", "slot is settled already"
            )
        fee_rate = (
            state.fee_micro_per_kwh if state.status == SlotStatus.TRADING else self.grid_prices()[2]
        )
        for i, t in enumerate(trades):
            tr = t.trade
            if (tr.amount_micro, tr.fee_micro) != contract_charges(tr, fee_rate):
                raise LedgerError(
                    f"slot {slot} trade {i}: amount {tr.amount_micro} and fee {tr.fee_micro} are "
                    f"not what the contract charges at its fee rate {fee_rate}/kWh; clear the slot "
                    "with the region's deployed tariff"
                )
        hashes = [trade_hash(t.trade) for t in trades]
        if trades_root is None:
            trades_root = merkle.merkle_root(merkle.trade_leaf(h) for h in hashes)
        done = state.trade_count
        if done and (
            done > len(trades)
            or merkle.fold_trades_hash(bytes(32), hashes[:done]) != state.trades_hash
        ):
            raise LedgerError(
                f"slot {slot} has {done} trades on the chain that do not match the first "
                f"{done} of the {len(trades)} given; settle the same trades in the same order"
            )
        rest = list(trades[done:])
        limit = self.backend.block_gas_limit()
        model = self.trade_gas_model(operator, slot, done, rest[:8])
        calls: list[Call] = []
        start = done
        sizes = model.batch_sizes(len(rest), limit)
        for i, size in enumerate(sizes):
            batch = trades[start : start + size]
            last = i == len(sizes) - 1
            data = self.encode_settle_trades(
                slot, orders_root, start, batch, close and last, trades_root
            )
            calls.append(
                Call(
                    self.address,
                    data,
                    model.gas(size, limit, last),
                    f"RegionMarket.settle_trades(slot {slot}, trades {start}..)",
                )
            )
            start += size
        receipts = send_calls(self.backend, operator, calls)
        return BatchResult(slot, len(rest), tuple(receipts), trades_root)

    # --- delivery ------------------------------------------------------------------------------

    def encode_settle_delivery(
        self,
        slot: int,
        readings_root: bytes,
        first_entry: int,
        entries: Sequence[Delivery],
        close: bool,
    ) -> bytes:
        head = b"".join(
            (
                self._delivery_selector,
                _word(slot),
                readings_root,
                _word(first_entry),
                _word(5 * 32),
                _word(int(close)),
                _word(len(entries)),
            )
        )
        body = b"".join(
            e.account.rjust(32, b"\0")
            + _word(e.bought_wh)
            + _word(e.sold_wh)
            + _word(e.import_wh)
            + _word(e.export_wh)
            for e in entries
        )
        return head + body

    def settle_delivery(
        self,
        operator: Signer,
        slot: int,
        entries: Sequence[Delivery],
        *,
        readings_root: bytes,
        close: bool = True,
    ) -> BatchResult:
        """Settle a delivered slot's imbalances, in as few transactions as fit."""
        state = self.slot(slot)
        if state.status not in (SlotStatus.TRADED, SlotStatus.DELIVERING):
            raise ContractError(
                f"slot {slot} is {state.status.name}, not waiting for delivery settlement: its "
                "trades must be closed first, and its delivery settles once",
                "slot is not waiting for delivery settlement",
            )
        done = state.delivery_count
        rest = list(entries[done:])
        limit = self.backend.block_gas_limit()
        if self._delivery_gas is None:
            self._delivery_gas = GasModel(150_000, 60_000, MAX_ENTRIES_PER_TX)
        model = self._delivery_gas
        calls = []
        start = done
        sizes = model.batch_sizes(len(rest), limit)
        for i, size in enumerate(sizes):
            batch = entries[start : start + size]
            data = self.encode_settle_delivery(
                slot, readings_root, start, batch, close and i == len(sizes) - 1
            )
            calls.append(
                Call(
                    self.address,
                    data,
                    model.gas(size, limit),
                    f"RegionMarket.settle_delivery(slot {slot}, entries {start}..)",
                )
            )
            start += size
        receipts = send_calls(self.backend, operator, calls)
        return BatchResult(slot, len(rest), tuple(receipts), readings_root)

    # --- events --------------------------------------------------------------------------------

    def settled_trades(
        self, slot: int | None = None, from_block: int = 0, to_block: int | None = None
    ) -> list[SettledTrade]:
        """``TradeSettled`` events, in chain order, optionally of one slot only."""
        out = []
        for e in self.events("TradeSettled", from_block, to_block):
            a = e.args
            if slot is not None and a["slot"] != slot:
                continue
            trade = Trade(
                bid_id=a["bid_id"],
                ask_id=a["ask_id"],
                buyer=checksum(a["buyer"]),
                seller=checksum(a["seller"]),
                energy_wh=a["energy_wh"],
                price_micro_per_kwh=a["price_micro_per_kwh"],
                amount_micro=a["amount_micro"],
                fee_micro=a["fee_micro"],
            )
            out.append(SettledTrade(a["slot"], trade, e.block_number, e.tx_hash, e.log_index))
        return out

    def trade_proof(self, slot: int, trade_hash: bytes) -> list[bytes]:
        """Merkle proof of a settled trade against the slot's ``trades_root`` on the chain.

        The tree is rebuilt from the slot's ``TradeSettled`` events; the proof is checked against
        the recorded root before it is returned.
        """
        leaves = [t.leaf for t in self.settled_trades(slot)]
        tree = merkle.MerkleTree.build(leaves)
        leaf = merkle.trade_leaf(trade_hash)
        proof = tree.proof(leaf)
        merkle.require_proof(self.slot(slot).trades_root, leaf, proof, "trade")
        return proof

    def verify_slot_trades(self, slot: int) -> list[SettledTrade]:
        """Check a slot's events against its record: count, running hash and trades root."""
        state = self.slot(slot)
        trades = self.settled_trades(slot)
        if len(trades) != state.trade_count:
            raise VerificationError(
                f"slot {slot}: {len(trades)} TradeSettled events but {state.trade_count} recorded"
            )
        folded = merkle.fold_trades_hash(bytes(32), (t.trade_hash for t in trades))
        if folded != state.trades_hash:
            raise VerificationError(f"slot {slot}: trade events do not fold to its trades_hash")
        if state.status >= SlotStatus.TRADED:
            root = merkle.merkle_root(t.leaf for t in trades)
            if root != state.trades_root:
                raise VerificationError(f"slot {slot}: trade events do not give the trades_root")
        return trades
