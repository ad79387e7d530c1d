"""The public surface of gridledger.operator is pinned (STYLE.md #4)."""

from __future__ import annotations

import gridledger.operator as operator


def test_exported_members() -> None:
    assert operator.__all__ == [
        "AuditReport",
        "DeploymentRecord",
        "RegionOperator",
        "SlotSettlement",
        "delivery_positions",
        "demo_keys",
        "load_deployments",
        "verify_store",
    ]
    assert all(hasattr(operator, name) for name in operator.__all__)
