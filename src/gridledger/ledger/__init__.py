"""The ledger: Vyper contracts on an EVM, behind one backend interface.

* :mod:`~gridledger.ledger.backend`: the :class:`LedgerBackend` protocol; :func:`open_ledger`
  picks the embedded chain (``ledger_url = "embedded"``) or a JSON-RPC node (``http(s)://...``).
* contracts and their clients: :class:`RegistryClient`, :class:`TokenClient`,
  :class:`MarketClient` (escrow, batched slot settlement, delivery, events, trade proofs);
  :func:`deploy_region` deploys a region.
* :mod:`~gridledger.ledger.merkle` (proofs) and :func:`verify_slot` (store vs chain).
* :class:`RegionOperator` (deploy or re-open a region, onboard households, settle cleared slots
  into the store and onto the chain) and :func:`verify_store` (``gridledger verify``: replay the
  whole store against the chain; an :class:`AuditReport` with the first mismatch).

Heavy modules (py-evm, web3) are imported only when a backend is opened.
"""

from __future__ import annotations

from pathlib import Path

from gridledger.errors import ConfigError
from gridledger.ledger.audit import AuditReport, verify_store
from gridledger.ledger.backend import LedgerBackend, Log, Receipt
from gridledger.ledger.deploy import RegionDeployment, Tariffs, deploy_region
from gridledger.ledger.operator import RegionOperator
from gridledger.ledger.registry import RegistryClient, Role
from gridledger.ledger.settlement import MarketClient, SettledTrade, SlotState, SlotStatus
from gridledger.ledger.token import TokenClient
from gridledger.ledger.trades import Delivery, SettlementTrade, SignedOrder
from gridledger.ledger.verify import ExpectedTrade, verify_slot

__all__ = [
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

EMBEDDED_CHAIN_FILE = "chain.sqlite"


def open_ledger(url: str, data_dir: Path | str = "var", chain_id: int = 1337) -> LedgerBackend:
    """The backend for a ``ledger_url`` setting: ``embedded`` or an ``http(s)://`` node URL.

    The embedded chain lives in ``data_dir/chain.sqlite`` (created with ``chain_id`` when
    missing); a node must report ``chain_id``, since every signature is bound to it.
    """
    if url == "embedded":
        from gridledger.ledger.embedded import EmbeddedLedger

        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / EMBEDDED_CHAIN_FILE
        return EmbeddedLedger(path, chain_id=None if path.exists() else chain_id)
    if url.startswith(("http://", "https://")):
        from gridledger.ledger.rpc import RpcBackend

        backend = RpcBackend(url)
        if backend.chain_id != chain_id:
            backend.close()
            raise ConfigError(
                f"the node at {url} runs chain id {backend.chain_id}, the settings say {chain_id}; "
                "set chain_id to the network's (signatures are bound to it)"
            )
        return backend
    raise ConfigError(f"ledger_url {url!r} is neither 'embedded' nor an http(s):// node URL")
