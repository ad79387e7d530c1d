"""The region operator's pipeline: deploy or attach a region, settle its slots, audit it all.

* :mod:`~gridledger.operator.deployment`: :class:`DeploymentRecord`, a region's contracts on
  a chain;
* :mod:`~gridledger.operator.region`: :class:`RegionOperator` (open or attach a region, onboard
  accounts, settle a cleared slot, settle a slot's delivery);
* :mod:`~gridledger.operator.delivery`: each account's traded vs metered position of a slot;
* :mod:`~gridledger.operator.audit`: :func:`verify_store` (``gridledger verify``), the whole store
  replayed against the chain.

This layer joins the market, the store, telemetry and the ledger; nothing below it knows them all.
"""

from __future__ import annotations

from gridledger.operator.audit import AuditReport, verify_store
from gridledger.operator.delivery import delivery_positions
from gridledger.operator.deployment import DeploymentRecord, load_deployments
from gridledger.operator.region import RegionOperator, demo_keys
from gridledger.operator.settlement import SlotSettlement

__all__ = [
    "AuditReport",
    "DeploymentRecord",
    "RegionOperator",
    "SlotSettlement",
    "delivery_positions",
    "demo_keys",
    "load_deployments",
    "verify_store",
]
