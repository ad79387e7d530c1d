"""``gridledger repair``: rebuild the store's settlement records from the chain, the truth of what
settled, and say exactly what can no longer be proven.

For every region (those with a deployment record in the data dir, those the store names, and
those given by name):

1. a lost ``deployment-<region>.json`` is found again on the chain
   (:func:`~gridledger.operator.deployment.find_deployment`), never deployed anew;
2. a slot a crash left half-recorded (``pending`` / ``delivering``) is completed
   (:func:`~gridledger.operator.settlement.complete_slot`; sending needs the operator's key);
3. a slot the chain settled but the store does not hold is rebuilt from the chain: its
   settlement (roots, state, transactions, block) and its trades (from ``TradeSettled`` events; a
   trade whose buyer is a registered energy company is a company trade). Its result hash is
   unknown (:data:`~gridledger.operator.audit_checks.REBUILT_RESULT_HASH`);
4. orders and meter readings exist only in the store (the chain holds their roots): a slot whose
   stored orders or readings no longer give the chain's root is listed as **unprovable**. Nothing
   is invented; a later run that clears the same orders (same settings) restores them, and they
   are proven against the chain's root as they are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from gridledger.chain.backend import LedgerBackend
from gridledger.errors import LedgerError
from gridledger.identity import Signer, address_bytes
from gridledger.ledger import merkle
from gridledger.ledger.registry import Role
from gridledger.ledger.settlement import SlotStatus
from gridledger.operator.deployment import (
    DeploymentRecord,
    find_deployment,
    load_deployments,
)
from gridledger.operator.region import RegionOperator
from gridledger.operator.settlement import (
    REBUILT_RESULT_HASH,
    now_ms,
    slot_readings_root,
    slot_receipts,
)
from gridledger.store import Region, Settlement, Store


@dataclass
class RepairReport:
    """What :func:`repair` did and what it found that cannot be proven any more."""

    recovered_deployments: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    unprovable: list[str] = field(default_factory=list)
    needs_key: list[str] = field(default_factory=list)
    regions: int = 0
    slots: int = 0

    def lines(self) -> list[str]:
        out = [f"recovered the deployment record of region {r} from the chain"
               for r in self.recovered_deployments]  # fmt: skip
        out += [f"completed {s}" for s in self.completed]
        out += [f"rebuilt {s} from the chain" for s in self.rebuilt]
        out += [f"UNPROVABLE {s}" for s in self.unprovable]
        out += [
            f"NEEDS THE OPERATOR KEY {s} (gridledger repair --key NAME)" for s in self.needs_key
        ]
        return out

    def summary(self) -> str:
        return (
            f"{self.regions} regions, {self.slots} slots on chain: "
            f"{len(self.recovered_deployments)} deployment records recovered, "
            f"{len(self.completed)} slots completed, {len(self.rebuilt)} rebuilt, "
            f"{len(self.unprovable)} unprovable"
        )


def _records(
    store: Store, backend: LedgerBackend, data_dir: Path, names: Iterable[str],
    slot_seconds: int, clearing_rule: str, report: RepairReport,
) -> list[DeploymentRecord]:  # fmt: skip
    wanted = {r.region for r in store.list_regions()} | set(names)
    records = {r.region: r for r in load_deployments(data_dir)}
    for region in sorted(wanted - set(records)):
        found = find_deployment(backend, region, slot_seconds, clearing_rule=clearing_rule)
        if found is None:
            raise LedgerError(
                f"region {region!r} is named in the store but the chain holds no deployment of "
                "it: is ledger_url the chain this data dir was settled on?"
            )
        found.save(data_dir)
        records[region] = found
        report.recovered_deployments.append(region)
    return [records[r] for r in sorted(records)]


def repair(
    store: Store,
    backend: LedgerBackend,
    data_dir: Path | str,
    *,
    operator: Signer | None = None,
    regions: Iterable[str] = (),
    slot_seconds: int = 900,
    clearing_rule: str = "pay_as_clear",
    on_slot: Callable[[int], None] | None = None,
) -> RepairReport:
    """Bring the store back in line with the chain (see the module doc); return what was done.

    ``operator`` signs what must still be sent (a ``pending`` slot the chain never saw, a
    half-delivered slot); without it such slots are listed in ``report.needs_key``.
    ``on_slot(1)`` is called per slot looked at (a progress bar).
    """
    report = RepairReport()
    data = Path(data_dir)
    for record in _records(
        store, backend, data, regions, slot_seconds, clearing_rule, report
    ):  # fmt: skip
        # without the operator's key only reads happen (can_send below guards every send)
        signer = operator or Signer(bytes(31) + b"\x01")
        op = RegionOperator(
            backend, store, record.attach(backend), signer,
            region=record.region, slot_seconds=record.slot_seconds,
        )  # fmt: skip
        op.record = record
        report.regions += 1
        operator_address = op.market.operator()
        if not any(r.region == record.region for r in store.list_regions()):
            store.add_region(Region(record.region, record.region, operator_address))
        chain_slots = sorted({int(e.args["slot"]) for e in op.market.events("SlotOpened")})
        stored = {s.slot_start_s: s for s in store.list_settlements(record.region)}
        for slot in sorted(set(chain_slots) | set(stored)):
            where = f"region {record.region} slot {slot}"
            recorded = stored.get(slot)
            can_send = operator is not None and operator.address_bytes == operator_address
            if recorded is None:
                _rebuild(op, slot)
                report.rebuilt.append(where)
            elif recorded.state in ("pending", "delivering"):
                if can_send or _chain_has_it(op, recorded):
                    op.complete(slot)
                    report.completed.append(where)
                else:
                    report.needs_key.append(where)
            _list_unprovable(op, slot, where, report)
            report.slots += 1
            if on_slot is not None:
                on_slot(1)
    return report


def _chain_has_it(op: RegionOperator, recorded: Settlement) -> bool:
    status = op.market.slot(recorded.slot_start_s).status
    if recorded.state == "pending":
        return status >= SlotStatus.TRADED
    return status == SlotStatus.DELIVERED


def _rebuild(op: RegionOperator, slot: int) -> None:
    state = op.market.slot(slot)
    names = ["SlotOpened", "TradeSettled", "SlotSettled"]
    if state.status >= SlotStatus.DELIVERING:
        names += ["DeliverySettled", "SlotDelivered"]
    hashes, block = slot_receipts(op.market, slot, names)
    registry = op.deployment.registry
    companies: dict[bytes, bool] = {}

    def is_company(account: str) -> bool:
        key = address_bytes(account)
        if key not in companies:
            companies[key] = registry.role_of(key) == Role.COMPANY
        return companies[key]

    trades = [
        replace(e.trade, company=is_company(e.trade.buyer)) for e in op.market.settled_trades(slot)
    ]
    status = {SlotStatus.TRADING: "pending", SlotStatus.TRADED: "traded",
              SlotStatus.DELIVERING: "delivering", SlotStatus.DELIVERED: "delivered"}  # fmt: skip
    settlement = Settlement(
        op.region, slot, REBUILT_RESULT_HASH, state.orders_root,
        state.readings_root if state.status >= SlotStatus.DELIVERING else merkle.EMPTY_ROOT,
        tuple(hashes), block, now_ms(), state=status[state.status],
    )  # fmt: skip
    op.store.record_slot(settlement, [], trades, now_ms())


def _list_unprovable(op: RegionOperator, slot: int, where: str, report: RepairReport) -> None:
    recorded = op.store.get_settlement(op.region, slot)
    if recorded is None:
        return
    orders = op.store.list_orders(op.region, slot)
    root = merkle.merkle_root(merkle.order_leaf(o.order_id) for o in orders)
    lost = []
    if root != recorded.orders_root:
        lost.append(f"its orders ({len(orders)} in the store do not give the chain's root)")
    if recorded.state == "delivered" and slot_readings_root(op, slot) != recorded.readings_root:
        lost.append("its meter readings (the store's do not give the chain's root)")
    if lost:
        report.unprovable.append(f"{where}: {' and '.join(lost)} are lost")
