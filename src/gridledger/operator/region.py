"""The region operator's pipeline: deploy or re-open a region, onboard households, settle slots.

:class:`RegionOperator` glues the market, the store and the ledger together for one region:

* :meth:`RegionOperator.open` deploys the region's contracts on first use and records their
  addresses in ``data_dir/deployment-<region>.json`` (:class:`DeploymentRecord`); later runs
  re-open the same contracts from that file (the file is small, human-readable and sits next to
  the embedded chain; ``gridledger verify`` finds every region of a data directory through it);
* :meth:`RegionOperator.onboard` registers households and funds their escrow in bulk;
* :meth:`RegionOperator.settle` stores a cleared slot's orders and trades, settles the trades on
  the chain (each with both EIP-712 order signatures) with the Merkle root of the slot's orders,
  and records the settlement (roots, transaction hashes, block) in the store;
* :meth:`RegionOperator.settle_delivery` settles a delivered slot's imbalances with the Merkle
  root of the slot's meter readings as the store holds them, and updates the stored settlement.

Each step can be re-run after a crash: the store skips rows it holds, the chain resumes a half
settled slot, and a slot the chain settled already is only recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from gridledger.chain.backend import LedgerBackend, Receipt
from gridledger.chain.transactions import send_many
from gridledger.errors import LedgerError, SignatureError
from gridledger.identity import (
    ORDER,
    Domain,
    Signer,
    address_bytes,
    checksum,
    keccak,
    region_id,
)
from gridledger.ledger import merkle
from gridledger.ledger.deploy import RegionDeployment, Tariffs, deploy_region
from gridledger.ledger.registry import Role
from gridledger.ledger.settlement import MarketClient, SlotStatus
from gridledger.ledger.token import MINT_GAS
from gridledger.ledger.trades import ZERO_ADDRESS, Delivery, SettlementTrade, SignedOrder
from gridledger.market import ClearingResult, GridTariff
from gridledger.market import Order as MarketOrder
from gridledger.operator.delivery import delivery_positions
from gridledger.operator.deployment import DeploymentRecord, deployment_path
from gridledger.store import Order as StoredOrder
from gridledger.store import Reading, Settlement, Store
from gridledger.store import Trade as StoredTrade

#: Escrow deposited for each onboarded household unless told otherwise [micro-units].
DEFAULT_DEPOSIT_MICRO = 10**11


#: Seed of the demo city's admin and operator keys (``gridledger simulate --settle``). These keys
#: are public: use them on development chains only.
DEMO_SEED = b"gridledger demo city"


def demo_keys() -> tuple[Signer, Signer]:
    """The demo city's ``(admin, operator)`` keys: public, for development chains only."""
    return (
        Signer(keccak(DEMO_SEED + b"admin")),
        Signer(keccak(DEMO_SEED + b"operator")),
    )


def market_tariffs(tariff: GridTariff) -> Tariffs:
    """The contract tariffs that charge exactly what the market's tariff charges."""
    return Tariffs(
        retail_micro_per_kwh=tariff.retail_price_micro_per_kwh,
        feed_in_micro_per_kwh=tariff.feed_in_price_micro_per_kwh,
        fee_micro_per_kwh=tariff.grid_fee_micro_per_kwh,
    )


@dataclass(frozen=True)
class SlotSettlement:
    """What settling one slot took: counts, transactions, gas, and the block it ended in."""

    region: str
    slot_start_s: int
    trades: int
    orders: int
    transactions: int
    gas_used: int
    block_number: int
    root: bytes


def signed_order(order: MarketOrder) -> SignedOrder:
    """The ledger's shape of a market order (same fields, raw bytes)."""
    return SignedOrder(
        region=region_id(order.region),
        slot=order.slot_start_s,
        side=int(order.side),
        energy_wh=order.energy_wh,
        price_micro_per_kwh=order.price_micro_per_kwh,
        owner=address_bytes(order.owner),
        nonce=order.nonce,
        signature=order.signature,
        target=address_bytes(order.target),
    )


def stored_order(order: MarketOrder, received_at_ms: int) -> StoredOrder:
    """The store's row of a market order."""
    target = address_bytes(order.target)
    return StoredOrder(
        order_id=order.order_id,
        region=order.region,
        slot_start_s=order.slot_start_s,
        side=int(order.side),
        energy_wh=order.energy_wh,
        price_micro_per_kwh=order.price_micro_per_kwh,
        owner=address_bytes(order.owner),
        nonce=order.nonce,
        target=None if target == ZERO_ADDRESS else target,
        signature=order.signature,
        received_at_ms=received_at_ms,
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _last_block(receipts: Iterable[Receipt]) -> int:
    return max((r.block_number for r in receipts), default=0)


class RegionOperator:
    """One region's operator: its contracts, its key and the store it records into."""

    def __init__(
        self,
        backend: LedgerBackend,
        store: Store,
        deployment: RegionDeployment,
        operator: Signer,
        *,
        region: str,
        slot_seconds: int,
    ) -> None:
        self.backend = backend
        self.store = store
        self.deployment = deployment
        self.operator = operator
        self.region = region
        self.slot_seconds = slot_seconds

    @property
    def market(self) -> MarketClient:
        return self.deployment.market

    @property
    def domain(self) -> Domain:
        """The EIP-712 domain the region's orders are signed under: chain id and market contract."""
        return Domain.of_contract(self.backend.chain_id, self.market.address)

    @classmethod
    def attach(
        cls,
        backend: LedgerBackend,
        store: Store,
        data_dir: Path | str,
        region: str,
        operator: Signer,
    ) -> RegionOperator:
        """Re-open the region recorded in ``data_dir`` as its ``operator`` (no deployment).

        Raises :class:`LedgerError` when ``data_dir`` holds no record of the region, when another
        key runs it, or when its contract checks orders under another EIP-712 domain.
        """
        path = deployment_path(data_dir, region)
        if not path.exists():
            raise LedgerError(
                f"no deployment of region {region!r} is recorded in {data_dir} ({path.name}); "
                "check data_dir, or deploy the region first (gridledger simulate --settle)"
            )
        record = DeploymentRecord.load(path)
        deployment = record.attach(backend)
        if deployment.market.operator() != operator.address_bytes:
            raise LedgerError(
                f"region {region!r} on chain is run by "
                f"{checksum(deployment.market.operator())}, not by {operator.address}"
            )
        domain = Domain.of_contract(backend.chain_id, deployment.market.address)
        if deployment.market.domain_separator() != domain.separator:
            raise LedgerError(
                f"the market contract of region {region!r} at "
                f"{checksum(deployment.market.address)} checks orders under another EIP-712 "
                "domain (deployed by an older gridledger, without verifyingContract); "
                f"settle with that version, or deploy the region anew: move {path} and the "
                "chain aside"
            )
        return cls(
            backend, store, deployment, operator, region=region, slot_seconds=record.slot_seconds
        )

    @classmethod
    def open(
        cls,
        backend: LedgerBackend,
        store: Store,
        data_dir: Path | str,
        region: str,
        *,
        admin: Signer,
        operator: Signer,
        tariffs: Tariffs | None = None,
        slot_seconds: int = 900,
    ) -> RegionOperator:
        """Re-open the region recorded in ``data_dir`` (:meth:`attach`), or deploy it and record
        it there."""
        if deployment_path(data_dir, region).exists():
            return cls.attach(backend, store, data_dir, region, operator)
        deployment = deploy_region(
            backend, admin=admin, operator=operator, region=region_id(region), tariffs=tariffs
        )
        addresses = deployment.addresses
        DeploymentRecord(
            region=region,
            chain_id=backend.chain_id,
            registry=addresses["registry"],
            token=addresses["token"],
            market=addresses["market"],
            operator=operator.address,
            slot_seconds=slot_seconds,
        ).save(data_dir)
        return cls(backend, store, deployment, operator, region=region, slot_seconds=slot_seconds)

    # --- households ----------------------------------------------------------------------------

    def onboard(
        self,
        issuer: Signer,
        households: Sequence[bytes],
        *,
        deposit_micro: int = DEFAULT_DEPOSIT_MICRO,
        role: Role = Role.HOUSEHOLD,
    ) -> list[Receipt]:
        """Register ``households`` (addresses) not yet registered and fund their escrow.

        The operator registers them in bulk under ``role`` (energy companies with
        ``Role.COMPANY``); ``issuer`` (the token's issuer) mints ``deposit_micro`` per account to
        itself and deposits it into their escrow (``deposit_for``). Accounts need no gas: they
        only sign orders.
        """
        d = self.deployment
        fresh = [a for a in dict.fromkeys(households) if d.registry.role_of(a) == Role.NONE]
        if not fresh:
            return []
        receipts = d.registry.register_many(self.operator, fresh, role, d.region)
        if deposit_micro:
            total = deposit_micro * len(fresh)
            mint = d.token.make_call(issuer, "mint", issuer.address_bytes, total, gas=MINT_GAS)
            receipts += send_many(self.backend, [(issuer, [mint])])
            receipts += d.market.deposit_for(issuer, [(a, deposit_micro) for a in fresh])
        return receipts

    # --- trades --------------------------------------------------------------------------------

    def settle(self, result: ClearingResult, orders: Sequence[MarketOrder]) -> SlotSettlement:
        """Store a cleared slot's orders and trades, settle them on chain, record the settlement.

        ``orders`` are the slot's signed orders (the book the result was cleared from); their
        Merkle root is recorded on chain. Every trade must name two of them.
        """
        if result.region != self.region:
            raise LedgerError(f"a result of region {result.region!r} given to {self.region!r}")
        slot = result.slot_start_s
        by_id = {o.order_id: o for o in orders}
        if any(o.region != self.region or o.slot_start_s != slot for o in orders):
            raise LedgerError(f"orders of another region or slot given for {self.region} {slot}")
        fee_rate = self.market.grid_prices()[2]
        trades: list[SettlementTrade] = []
        rows: list[StoredTrade] = []
        for i, t in enumerate(result.trades):
            bid, ask = by_id.get(t.bid_id), by_id.get(t.ask_id)
            if bid is None or ask is None:
                raise LedgerError(
                    f"slot {slot} trade {i} names an order that is not among the slot's signed "
                    "orders (company standing offers cannot be settled on chain)"
                )
            st = SettlementTrade(signed_order(bid), signed_order(ask), t.energy_wh,
                                 t.price_micro_per_kwh)  # fmt: skip
            if st.amount_micro != t.amount_micro or st.fee_micro(fee_rate) != t.fee_micro:
                raise LedgerError(
                    f"slot {slot} trade {i}: the market charged amount {t.amount_micro} and fee "
                    f"{t.fee_micro}, the contract would charge {st.amount_micro} and "
                    f"{st.fee_micro(fee_rate)} (its fee rate is {fee_rate}/kWh); deploy the "
                    "region with the market's tariff"
                )
            trades.append(st)
            rows.append(
                StoredTrade(self.region, slot, i, t.bid_id, t.ask_id, st.buyer, st.seller,
                            t.energy_wh, t.price_micro_per_kwh, t.amount_micro, t.fee_micro)
            )  # fmt: skip
        self._check_signed_for_market(trades)
        received = now_ms()
        self.store.add_orders(stored_order(o, received) for o in orders)
        self.store.add_trades(rows)
        orders_root = merkle.merkle_root(merkle.order_leaf(o.order_id) for o in orders)

        recorded = self.store.get_settlement(self.region, slot)
        state = self.market.slot(slot)
        receipts: tuple[Receipt, ...] = ()
        if state.status >= SlotStatus.TRADED:  # settled before a crash: only record it
            if state.orders_root != orders_root:
                raise LedgerError(f"slot {slot} is settled on chain with other orders")
            tx_hashes = tuple(dict.fromkeys(e.tx_hash for e in self.market.settled_trades(slot)))
            block = self.backend.block_number()
        else:
            batch = self.market.settle_trades(self.operator, slot, trades, orders_root=orders_root)
            receipts = batch.receipts
            tx_hashes = tuple(r.tx_hash for r in receipts)
            block = _last_block(receipts)
        if recorded is None:
            self.store.add_settlement(
                Settlement(self.region, slot, result.hash, orders_root, merkle.EMPTY_ROOT,
                           tx_hashes, block, now_ms())
            )  # fmt: skip
        return SlotSettlement(
            self.region, slot, len(trades), len(orders), len(receipts),
            sum(r.gas_used for r in receipts), block, orders_root,
        )  # fmt: skip

    def _check_signed_for_market(self, trades: Sequence[SettlementTrade]) -> None:
        # the contract would revert the whole batch on one such order; say which and why first
        domain = self.domain
        # an order filled by several trades is recovered once
        orders = {o.order_id: o for t in trades for o in (t.bid, t.ask)}
        for order in orders.values():
            try:
                domain.verify(ORDER, order.message, order.signature, order.owner)
            except SignatureError:
                raise LedgerError(
                    f"order 0x{order.order_id.hex()} of {checksum(order.owner)} is not signed "
                    f"for this region's market {checksum(self.market.address)} on chain "
                    f"{self.backend.chain_id}; sign orders with that market's domain "
                    "(RegionOperator.domain); nothing was stored or settled"
                ) from None

    # --- delivery ------------------------------------------------------------------------------

    def slot_readings(self, slot_start_s: int) -> list[Reading]:
        """The region's stored readings of a slot, in Merkle order (device, sequence)."""
        start_ms = slot_start_s * 1000
        return self.store.region_readings(
            self.region, start_ms, start_ms + self.slot_seconds * 1000
        )

    def settle_delivery(
        self, slot_start_s: int, entries: Sequence[Delivery] | None = None
    ) -> SlotSettlement:
        """Settle a traded slot's imbalances with the root of its stored meter readings.

        ``entries`` are the accounts' traded and metered positions; by default they are derived
        from the store (:func:`~gridledger.operator.delivery.delivery_positions`: the slot's trades
        against its BEC register deltas; registered energy companies have no meter position).
        The readings root is computed from the store (:func:`gridledger.ledger.merkle.reading_leaf`
        of each stored payload) and written to the stored settlement too.
        """
        recorded = self.store.get_settlement(self.region, slot_start_s)
        if recorded is None:
            raise LedgerError(
                f"slot {slot_start_s} of {self.region!r} has no recorded trade settlement; "
                "settle its trades first"
            )
        if self.market.slot(slot_start_s).status >= SlotStatus.DELIVERED:
            raise LedgerError(
                f"the delivery of slot {slot_start_s} of {self.region!r} is settled already"
            )
        if entries is None:
            registry = self.deployment.registry
            entries = delivery_positions(
                self.store, self.region, slot_start_s, self.slot_seconds,
                is_unmetered=lambda account: registry.role_of(account) == Role.COMPANY,
            )  # fmt: skip
        readings = self.slot_readings(slot_start_s)
        root = merkle.merkle_root(merkle.reading_leaf(r.payload) for r in readings)
        batch = self.market.settle_delivery(
            self.operator, slot_start_s, entries, readings_root=root
        )
        block = _last_block(batch.receipts)
        self.store.update_settlement(
            replace(
                recorded,
                readings_root=root,
                tx_hashes=recorded.tx_hashes + tuple(r.tx_hash for r in batch.receipts),
                block_number=max(block, recorded.block_number),
            )
        )
        return SlotSettlement(
            self.region, slot_start_s, 0, 0, batch.transactions, batch.gas_used, block, root
        )
