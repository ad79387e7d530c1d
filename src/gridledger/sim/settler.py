"""Settle a simulated city on the ledger: the simulation runner's hooks on a real chain.

:class:`CitySettler` implements the three hooks of :func:`gridledger.sim.simulate_city`:

* ``market_address(region)``, before a region's first slot: opens (or deploys) the region with
  :meth:`~gridledger.operator.region.RegionOperator.open`, registers and funds its households, its
  energy company (``Role.COMPANY``) and the operator's escrow (which pays feed-in credits), and
  returns the market contract the households sign their orders for;
* ``on_cleared(region, slot, result, orders)``: stores and settles the cleared slot on chain;
* ``on_metered(region, slot, import_wh, export_wh)`` (with ``meter=True``): every household's
  bidirectional energy counter (BEC, its own key) reports its cumulative OBIS 1.8.0 / 2.8.0
  registers as a signed reading, which goes through the real
  :class:`~gridledger.telemetry.ingest.Ingestor` (signature, sequence, registers checked) into the
  store; then the slot's delivery is settled from the stored readings
  (:func:`~gridledger.operator.delivery.delivery_positions`), so the grid fallback of every
  household is paid on chain at the slot's grid prices and the readings root is recorded.

Meter keys and site ids are derived from the household addresses (public: development chains
only, like the demo's admin and operator keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gridledger.chain.backend import LedgerBackend
from gridledger.devices.messages import DeviceKind
from gridledger.devices.messages import Reading as DeviceReading
from gridledger.errors import LedgerError
from gridledger.identity import Domain, Signer, keccak
from gridledger.ledger.deploy import Tariffs
from gridledger.ledger.registry import Role
from gridledger.market import ClearingResult
from gridledger.market import Order as MarketOrder
from gridledger.operator.manifest import claim
from gridledger.operator.region import DEFAULT_DEPOSIT_MICRO, RegionOperator
from gridledger.operator.settlement import SlotSettlement
from gridledger.store import Device, Site, Store
from gridledger.store import Region as StoredRegion
from gridledger.telemetry.ingest import BatchResult, Ingestor

if TYPE_CHECKING:
    from gridledger.sim.city import RegionHouseholds as SimRegion
    from gridledger.slots import Slot

#: Escrow given to the region operator on opening: it pays the feed-in credits [micro-units].
OPERATOR_DEPOSIT_MICRO = 10**12


def meter_key(household: bytes) -> Signer:
    """The demo key of ``household``'s BEC meter (derived, public: development chains only)."""
    return Signer(keccak(b"gridledger example meter " + household))


def site_id(region: str, index: int) -> str:
    """The store's id of household ``index``'s site in ``region``."""
    return f"{region}-{index:04d}"


@dataclass
class _Meter:
    """One household's BEC: its key, device id and the last reading it sent."""

    key: Signer
    device_id: str
    sequence: int
    import_wh: int
    export_wh: int
    ts_ms: int = -1


@dataclass
class SettlementTotals:
    """Running totals of the slots a :class:`CitySettler` settled."""

    regions: int = 0
    households: int = 0
    companies: int = 0
    slots: int = 0
    orders: int = 0
    trades: int = 0
    transactions: int = 0
    gas_used: int = 0
    readings: int = 0
    delivered_slots: int = 0


class CitySettler:
    """Settles every slot of a simulated city: the runner's hooks (see the module docstring).

    ``admin`` deploys and issues the token, ``operator`` runs every region; ``meter=True`` also
    meters every household each slot and settles the slot's delivery.
    """

    def __init__(
        self,
        backend: LedgerBackend,
        store: Store,
        data_dir: Path | str,
        *,
        admin: Signer,
        operator: Signer,
        tariffs: Tariffs | None = None,
        slot_seconds: int = 900,
        deposit_micro: int = DEFAULT_DEPOSIT_MICRO,
        meter: bool = False,
        deliver: bool = True,
        clearing_rule: str = "pay_as_clear",
        gate_closure_s: int = 60,
        run: Mapping[str, object] | None = None,
    ) -> None:
        """``run`` holds the settings that decide what this run writes (seed, households,
        start...); a data dir made with other values is refused before anything is written
        (:func:`gridledger.operator.manifest.claim`)."""
        if run is not None:
            claim(data_dir, "simulated city", run)
        self.backend = backend
        self.store = store
        self.data_dir = Path(data_dir)
        self.admin = admin
        self.operator = operator
        self.tariffs = tariffs
        self.slot_seconds = slot_seconds
        self.deposit_micro = deposit_micro
        self.meter = meter
        self.deliver = deliver
        self.clearing_rule = clearing_rule
        self.gate_closure_s = gate_closure_s
        self.operators: dict[str, RegionOperator] = {}
        self.totals = SettlementTotals()
        self._meters: dict[str, list[_Meter]] = {}
        self._clock_ms = 0
        self._ingestor: Ingestor | None = None

    def region_operator(self, region: SimRegion) -> RegionOperator:
        """``region``'s operator, opened and onboarded on first use."""
        op = self.operators.get(region.name)
        if op is None:
            op = RegionOperator.open(
                self.backend, self.store, self.data_dir, region.name, admin=self.admin,
                operator=self.operator, tariffs=self.tariffs, slot_seconds=self.slot_seconds,
                clearing_rule=self.clearing_rule, gate_closure_s=self.gate_closure_s,
            )  # fmt: skip
            self.store.add_region(
                StoredRegion(region.name, region.name, self.operator.address_bytes)
            )
            households = [h.address_bytes for h in region.keys]
            op.onboard(self.admin, households, deposit_micro=self.deposit_micro)
            if region.company is not None:
                op.onboard(self.admin, [region.company.key.address_bytes],
                           deposit_micro=self.deposit_micro, role=Role.COMPANY)  # fmt: skip
                self.totals.companies += 1
            if self.meter:
                self._fund_operator(op)
                self._meters[region.name] = self._install_meters(region)
            self.operators[region.name] = op
            self.totals.regions += 1
            self.totals.households += len(households)
        return op

    def market_address(self, region: SimRegion) -> bytes:
        """The address of ``region``'s market contract (deployed and onboarded on first use).

        The households sign their orders for it (the runner's ``market_address`` hook).
        """
        return self.region_operator(region).market.address

    def on_cleared(
        self,
        region: SimRegion,
        slot: Slot,
        result: ClearingResult,
        orders: Sequence[MarketOrder],
    ) -> SlotSettlement | None:
        """Settle one cleared slot (the runner's ``on_cleared`` hook); ``None`` when it had no
        orders (nothing to record)."""
        if not orders:
            return None
        done = self.region_operator(region).settle(result, orders)
        t = self.totals
        t.slots += 1
        t.orders += done.orders
        t.trades += done.trades
        t.transactions += done.transactions
        t.gas_used += done.gas_used
        return done

    def on_metered(
        self,
        region: SimRegion,
        slot: Slot,
        import_wh: npt.NDArray[np.int64],
        export_wh: npt.NDArray[np.int64],
    ) -> SlotSettlement | None:
        """Meter the slot and settle its delivery (the runner's ``on_metered`` hook).

        ``import_wh`` / ``export_wh`` [Wh] are what each household's connection took from and
        gave to the grid in the slot. Every BEC sends a signed reading at the end of the slot (its
        first also one at the start, as the baseline of its registers); the readings pass the
        ingest checks into the store, then the slot's delivery is settled. Does nothing unless
        the settler was made with ``meter=True``; ``None`` when the slot had no trade settlement.
        """
        if not self.meter:
            return None
        op = self.region_operator(region)
        start_ms = slot.start_s * 1000
        end_ms = start_ms + self.slot_seconds * 1000 - 1000
        self._clock_ms = end_ms
        payloads: list[tuple[str | None, bytes]] = []
        domain = Domain(self.backend.chain_id)
        hours = self.slot_seconds / 3600
        for meter, imp, exp in zip(self._meters[region.name], import_wh, export_wh, strict=True):
            if meter.ts_ms >= end_ms:
                continue  # metered by an earlier run on this store: its registers include it
            if meter.sequence == 0:
                payloads.append((None, self._reading(region.name, meter, start_ms, 0, domain)))
            meter.import_wh += int(imp)
            meter.export_wh += int(exp)
            # the power field: the slot's mean exchange [W], export positive
            power_w = round(int(exp - imp) / hours)
            payloads.append((None, self._reading(region.name, meter, end_ms, power_w, domain)))
        result = self._ingest().process(payloads) if payloads else BatchResult()
        if result.rejected:
            raise LedgerError(
                f"slot {slot.start_s} of {region.name!r}: the ingest refused meter readings "
                f"{dict(result.rejected)}; the meters and the store disagree"
            )
        self.totals.readings += result.accepted
        recorded = self.store.get_settlement(region.name, slot.start_s)
        if recorded is None or recorded.state == "delivered" or not self.deliver:
            # nothing traded, delivered before a restart, or left to `gridledger deliver`
            return None
        # a half-delivered slot (a crash, a locked store) is completed from the chain here
        done = op.settle_delivery(slot.start_s)
        self.totals.delivered_slots += 1
        self.totals.transactions += done.transactions
        self.totals.gas_used += done.gas_used
        return done

    # --- meters ------------------------------------------------------------------------------

    def _fund_operator(self, op: RegionOperator) -> None:
        if op.market.escrow_of(self.operator.address_bytes) >= OPERATOR_DEPOSIT_MICRO // 2:
            return  # funded by an earlier run on this chain
        token = op.deployment.token
        token.mint(self.admin, self.operator.address_bytes, OPERATOR_DEPOSIT_MICRO)
        op.market.deposit(self.operator, OPERATOR_DEPOSIT_MICRO)

    def _install_meters(self, region: SimRegion) -> list[_Meter]:
        latest = self.store.latest_state()
        meters = []
        for i, household in enumerate(region.keys):
            sid = site_id(region.name, i)
            key = meter_key(household.address_bytes)
            device_id = f"{sid}-bec"
            self.store.add_site(Site(sid, region.name, household.address_bytes))
            self.store.add_device(Device(device_id, sid, "bec", key.address_bytes))
            last = latest.get(device_id)
            meters.append(
                _Meter(key, device_id, 0, 0, 0)
                if last is None
                else _Meter(
                    key,
                    device_id,
                    last.sequence,
                    last.import_wh or 0,
                    last.export_wh or 0,
                    last.ts_ms,
                )
            )
        if self._ingestor is not None:
            self._ingestor.refresh_registry()
        return meters

    def _ingest(self) -> Ingestor:
        if self._ingestor is None:
            # the simulated clock, not the wall clock, says what is "in the future"
            self._ingestor = Ingestor(
                self.store, Domain(self.backend.chain_id), clock_ms=lambda: self._clock_ms
            )
        return self._ingestor

    @staticmethod
    def _reading(region: str, meter: _Meter, ts_ms: int, power_w: int, domain: Domain) -> bytes:
        meter.sequence += 1
        meter.ts_ms = ts_ms
        return DeviceReading(
            region, meter.key.address_bytes, meter.sequence, ts_ms, DeviceKind.BEC,
            meter.import_wh, meter.export_wh, power_w,
        ).sign(meter.key, domain)  # fmt: skip
