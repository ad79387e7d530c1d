"""The public surface of gridledger.ledger is pinned (STYLE.md #4)."""

from __future__ import annotations

import gridledger.ledger as ledger


def test_exported_members() -> None:
    assert ledger.__all__ == [
        "Delivery",
        "MarketClient",
        "RegionDeployment",
        "RegistryClient",
        "Role",
        "SettledTrade",
        "SignedTrade",
        "SlotState",
        "SlotStatus",
        "Tariffs",
        "TokenClient",
        "deploy_region",
        "encode_order",
        "trade_hash",
        "verify_slot",
    ]
    assert all(hasattr(ledger, name) for name in ledger.__all__)
