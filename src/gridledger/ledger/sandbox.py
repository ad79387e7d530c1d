"""A region on a chain with funded households, in a few batches: for tests, benchmarks, demos.

``Sandbox.create(backend, households=1000)`` deploys the contracts, registers the households,
mints them tokens and deposits part into escrow, with one batch of transactions per step.
:meth:`Sandbox.random_trades` builds signed trades between them for a slot.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from gridledger.chain.backend import LedgerBackend
from gridledger.chain.transactions import provide_gas, send_many
from gridledger.identity import Domain, Signer, checksum, keccak, region_id
from gridledger.ledger import merkle
from gridledger.ledger.deploy import GAS_ALLOWANCE_WEI, RegionDeployment, Tariffs, deploy_region
from gridledger.ledger.registry import Role
from gridledger.ledger.token import MINT_GAS
from gridledger.ledger.trades import SignedTrade, order_leaf
from gridledger.market import Order, Side

REGISTER_GAS = 120_000
#: Transactions per batch while setting up (keeps JSON-RPC requests a sensible size).
SETUP_CHUNK = 500


def deterministic_signer(seed: bytes, index: int) -> Signer:
    """A reproducible key (tests and benchmarks only: the key is public)."""
    return Signer(keccak(seed + index.to_bytes(8)))


@dataclass
class Sandbox:
    """One region, its operator and its households on ``backend``."""

    backend: LedgerBackend
    deployment: RegionDeployment
    admin: Signer
    operator: Signer
    households: list[Signer]
    domain: Domain
    region: str
    _nonces: dict[bytes, int] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        backend: LedgerBackend,
        *,
        households: int,
        region: str = "central",
        seed: bytes = b"gridledger sandbox",
        mint_micro: int = 10**12,
        deposit_micro: int = 10**11,
        operator_deposit_micro: int = 10**11,
        tariffs: Tariffs | None = None,
        household_gas: bool = True,
    ) -> Sandbox:
        admin = deterministic_signer(seed + b"admin", 0)
        operator = deterministic_signer(seed + b"operator", 0)
        homes = [deterministic_signer(seed + b"household", i) for i in range(households)]
        deployment = deploy_region(
            backend,
            admin=admin,
            operator=operator,
            region=region_id(region),
            tariffs=tariffs or Tariffs(),
        )
        domain = Domain.of_contract(backend.chain_id, deployment.market.address)
        bed = cls(backend, deployment, admin, operator, homes, domain, region)
        bed.join(homes, mint_micro=mint_micro, deposit_micro=deposit_micro, gas=household_gas)
        if operator_deposit_micro:
            deployment.token.mint(admin, operator.address_bytes, operator_deposit_micro)
            deployment.market.deposit(operator, operator_deposit_micro)
        return bed

    def join(
        self, homes: Sequence[Signer], *, mint_micro: int, deposit_micro: int, gas: bool = True
    ) -> None:
        """Register ``homes``, mint to them and fund their escrow: a few bulk transactions.

        The operator registers them (``register_many``), the admin mints them ``mint_micro``
        and deposits ``deposit_micro`` into each one's escrow (``deposit_for``); with ``gas``
        they also get gas money, to send transactions of their own.
        """
        d = self.deployment
        addresses = [h.address_bytes for h in homes]
        if gas:
            provide_gas(self.backend, addresses, GAS_ALLOWANCE_WEI)
        d.registry.register_many(self.operator, addresses, Role.HOUSEHOLD, d.region)
        calls = []
        if mint_micro:
            calls += [
                d.token.make_call(self.admin, "mint", a, mint_micro, gas=MINT_GAS)
                for a in addresses
            ]
        if deposit_micro:
            total = deposit_micro * len(addresses)
            calls.append(
                d.token.make_call(self.admin, "mint", self.admin.address_bytes, total, gas=MINT_GAS)
            )
        for start in range(0, len(calls), SETUP_CHUNK):
            send_many(self.backend, [(self.admin, calls[start : start + SETUP_CHUNK])])
        if deposit_micro:
            d.market.deposit_for(self.admin, [(a, deposit_micro) for a in addresses])

    def order(
        self,
        owner: Signer,
        slot: int,
        side: int,
        energy_wh: int,
        price_micro_per_kwh: int,
        target: bytes = bytes(20),
    ) -> Order:
        """A fresh signed order of ``owner`` (nonces count up per owner)."""
        nonce = self._nonces.get(owner.address_bytes, 0)
        self._nonces[owner.address_bytes] = nonce + 1
        return Order.create(
            owner,
            self.domain,
            region=self.region,
            slot_start_s=slot,
            side=side,
            energy_wh=energy_wh,
            price_micro_per_kwh=price_micro_per_kwh,
            nonce=nonce,
            target=checksum(target),
        )

    @property
    def fee_micro_per_kwh(self) -> int:
        """The region's network fee rate as the contract holds it [micro-units/kWh]."""
        return self.deployment.market.grid_prices()[2]

    def trade(
        self, bid: Order, ask: Order, energy_wh: int, price_micro_per_kwh: int
    ) -> SignedTrade:
        """The trade between two orders with the amounts the contract charges."""
        return SignedTrade.of(bid, ask, energy_wh, price_micro_per_kwh, self.fee_micro_per_kwh)

    def random_trades(self, slot: int, count: int, rng: random.Random) -> list[SignedTrade]:
        """``count`` trades between distinct random households, each from its own two orders."""
        fee = self.deployment.market.grid_prices()[2]
        trades = []
        homes = self.households
        for _ in range(count):
            buyer, seller = rng.sample(homes, 2)
            energy = rng.randint(1, 5_000)
            price = rng.randint(50_000, 250_000)
            bid = self.order(buyer, slot, Side.BID, energy, price + fee + rng.randint(0, 20_000))
            ask = self.order(seller, slot, Side.ASK, energy, price - rng.randint(0, 20_000))
            trades.append(SignedTrade.of(bid, ask, energy, price, fee))
        return trades

    @staticmethod
    def orders_root(trades: Sequence[SignedTrade]) -> bytes:
        """Merkle root of the orders behind ``trades`` (each order once)."""
        leaves = {order_leaf(t.bid) for t in trades} | {order_leaf(t.ask) for t in trades}
        return merkle.merkle_root(leaves)
