"""The public surface of gridledger.chain is pinned (STYLE.md #4)."""

from __future__ import annotations

import gridledger.chain as chain


def test_exported_members() -> None:
    assert chain.__all__ == [
        "EMBEDDED_CHAIN_FILE",
        "LedgerBackend",
        "Log",
        "Receipt",
        "open_ledger",
    ]
    assert all(hasattr(chain, name) for name in chain.__all__)
