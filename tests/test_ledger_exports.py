"""The public surface of gridledger.ledger is pinned (STYLE.md #4)."""

from __future__ import annotations

import gridledger.ledger as ledger


def test_exported_members() -> None:
    assert ledger.__all__ == [
        "Delivery",
        "ExpectedTrade",
        "MarketClient",
        "RegionDeployment",
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
        "verify_slot",
    ]
    assert all(hasattr(ledger, name) for name in ledger.__all__)
