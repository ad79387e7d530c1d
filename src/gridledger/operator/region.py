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

from collections.abc import Sequence
from pathlib import Path

from gridledger.chain.backend import LedgerBackend, Receipt
from gridledger.chain.transactions import send_many
from gridledger.errors import ConfigError, LedgerError
from gridledger.identity import (
    Domain,
    Signer,
    address_bytes,
    checksum,
    keccak,
    region_id,
)
from gridledger.ledger.deploy import RegionDeployment, Tariffs, deploy_region
from gridledger.ledger.registry import Role
from gridledger.ledger.settlement import MarketClient
from gridledger.ledger.token import MINT_GAS
from gridledger.ledger.trades import Delivery
from gridledger.market import ClearingResult, GridTariff, Order
from gridledger.operator import faultpoints, settlement
from gridledger.operator.deployment import DeploymentRecord, deployment_path, find_deployment
from gridledger.operator.settlement import SlotSettlement
from gridledger.store import ReadingRow, Settlement, Store

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
        self.record: DeploymentRecord | None = None

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
        for name, address in deployment.addresses.items():
            if not backend.code(address_bytes(address)):
                raise LedgerError(
                    f"{path.name} records the {name} contract of region {region!r} at {address}, "
                    "but the chain has no contract there: ledger_url points at another chain "
                    "than the one this data dir was settled on (or that chain was reset); point "
                    "it back, or move the data dir aside to start anew"
                )
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
        op = cls(
            backend, store, deployment, operator, region=region, slot_seconds=record.slot_seconds
        )
        op.record = record
        return op

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
        clearing_rule: str = "pay_as_clear",
        gate_closure_s: int = 60,
    ) -> RegionOperator:
        """Re-open the region recorded in ``data_dir`` (:meth:`attach`), or deploy it and record
        it there.

        A lost record is found again on the chain (never deployed twice); settings that conflict
        with the deployed region (slot length, tariff, clearing rule) are refused with
        :class:`~gridledger.errors.ConfigError` before anything is written.
        """
        tariffs = tariffs or Tariffs()
        path = deployment_path(data_dir, region)
        if not path.exists():
            # a lost record is found again on the chain, never deployed twice
            found = find_deployment(
                backend, region, slot_seconds, operator.address_bytes,
                clearing_rule=clearing_rule, gate_closure_s=gate_closure_s,
            )  # fmt: skip
            if found is not None:
                found.save(data_dir)
        if path.exists():
            op = cls.attach(backend, store, data_dir, region, operator)
            op.check_settings(
                slot_seconds=slot_seconds, tariffs=tariffs, clearing_rule=clearing_rule
            )
            return op
        deployment = deploy_region(
            backend, admin=admin, operator=operator, region=region_id(region), tariffs=tariffs
        )
        faultpoints.reached("deploy:after_contracts")
        addresses = deployment.addresses
        DeploymentRecord(
            region=region,
            chain_id=backend.chain_id,
            registry=addresses["registry"],
            token=addresses["token"],
            market=addresses["market"],
            operator=operator.address,
            slot_seconds=slot_seconds,
            clearing_rule=clearing_rule,
            gate_closure_s=gate_closure_s,
        ).save(data_dir)
        faultpoints.reached("deploy:after_record")
        return cls.attach(backend, store, data_dir, region, operator)

    def check_settings(
        self, *, slot_seconds: int, tariffs: Tariffs, clearing_rule: str = "pay_as_clear"
    ) -> None:
        """Refuse settings that conflict with the deployed region, before anything is written."""
        recorded_rule = self.record.clearing_rule if self.record else clearing_rule
        if clearing_rule != recorded_rule:
            raise ConfigError(
                f"region {self.region!r} in this data dir clears by {recorded_rule}, the settings "
                f"say {clearing_rule}: set clearing_rule = {recorded_rule!r}, or use another "
                "data_dir"
            )
        if slot_seconds != self.slot_seconds:
            raise ConfigError(
                f"region {self.region!r} in this data dir runs {self.slot_seconds // 60}-minute "
                f"slots, the settings say {slot_seconds // 60}: set slot_minutes = "
                f"{self.slot_seconds // 60}, or use another data_dir"
            )
        retail, feed_in, fee = self.market.grid_prices()
        if (retail, feed_in, fee) != (
            tariffs.retail_micro_per_kwh,
            tariffs.feed_in_micro_per_kwh,
            tariffs.fee_micro_per_kwh,
        ):
            raise ConfigError(
                f"region {self.region!r} on chain charges retail {retail}, feed-in {feed_in} and "
                f"fee {fee} micro-units/kWh, the settings say {tariffs.retail_micro_per_kwh}, "
                f"{tariffs.feed_in_micro_per_kwh} and {tariffs.fee_micro_per_kwh}: set the "
                "tariff settings to the region's, or use another data_dir"
            )

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
        wanted = list(dict.fromkeys(households))
        fresh = [a for a in wanted if d.registry.role_of(a) == Role.NONE]
        receipts: list[Receipt] = []
        if fresh:
            receipts += d.registry.register_many(self.operator, fresh, role, d.region)
            faultpoints.reached("onboard:after_register")
        if not deposit_micro:
            return receipts
        # registered but never funded (a crash between the steps): funded now, once
        unfunded = [a for a in wanted if d.market.escrow_of(a) == 0]
        if not unfunded:
            return receipts
        total = deposit_micro * len(unfunded)
        short = total - d.token.balance_of(issuer.address_bytes)
        if short > 0:
            mint = d.token.make_call(issuer, "mint", issuer.address_bytes, short, gas=MINT_GAS)
            receipts += send_many(self.backend, [(issuer, [mint])])
            faultpoints.reached("onboard:after_mint")
        receipts += d.market.deposit_for(issuer, [(a, deposit_micro) for a in unfunded])
        return receipts

    # --- trades --------------------------------------------------------------------------------

    def settle(self, result: ClearingResult, orders: Sequence[Order]) -> SlotSettlement:
        """Store a cleared slot's orders and trades, settle them on chain, record the settlement.

        ``orders`` are the slot's signed orders (the book the result was cleared from); their
        Merkle root is recorded on chain. Every trade must name two of them. The steps follow the
        settlement protocol (:mod:`gridledger.operator.settlement`): a re-run after a crash
        completes the slot, a run with other orders for a recorded slot is refused before it
        writes anything.
        """
        return settlement.settle_slot(self, result, orders)

    # --- delivery ------------------------------------------------------------------------------

    def slot_readings(self, slot_start_s: int) -> list[ReadingRow]:
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
        of each stored payload), recorded as the intent, then settled on chain.
        """
        return settlement.settle_delivery(self, slot_start_s, entries)

    def complete(self, slot_start_s: int) -> Settlement | None:
        """Finish what a crash left of a slot from the chain's record (``gridledger repair``)."""
        return settlement.complete_slot(self, slot_start_s)
