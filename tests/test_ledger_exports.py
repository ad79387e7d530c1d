"""The public surface of gridledger.ledger is pinned (STYLE.md #4)."""

from __future__ import annotations

import gridledger.ledger as ledger


def test_exported_members() -> None:
    assert ledger.__all__ == [
        "AuditReport",
        "Delivery",
        "ExpectedTrade",
        "LedgerBackend",
        "Log",
        "MarketClient",
        "Receipt",
        "RegionDeployment",
        "RegionOperator",
        "RegistryClient",
        "Role",
        "SettledTrade",
        "SettlementTrade",
        "SignedOrder",
        "SlotState",
        "SlotStatus",
        "Tariffs",
        "TokenClient",
        "deploy_region",
        "open_ledger",
        "verify_slot",
        "verify_store",
    ]
    assert all(hasattr(ledger, name) for name in ledger.__all__)
