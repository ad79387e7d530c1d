"""The contracts: Vyper sources, compiled artifacts, typed clients, Merkle proofs and deploy.

* contracts and their clients: :class:`RegistryClient`, :class:`TokenClient`,
  :class:`MarketClient` (escrow, batched slot settlement, delivery, events, trade proofs);
  :func:`deploy_region` deploys a region's three contracts;
* :mod:`~gridledger.ledger.merkle` (proofs) and :func:`verify_slot` (a slot's trades against the
  chain's events);
* :mod:`~gridledger.ledger.trades`: how the market's orders and trades (and a delivery position)
  are encoded for the contract's ABI; the ledger has no order or trade type of its own.

The engines the contracts run on are in :mod:`gridledger.chain`; the operator's pipeline that
drives them from the store is :mod:`gridledger.operator`.
"""

from __future__ import annotations

from gridledger.ledger.deploy import RegionDeployment, Tariffs, deploy_region
from gridledger.ledger.registry import RegistryClient, Role
from gridledger.ledger.settlement import MarketClient, SettledTrade, SlotState, SlotStatus
from gridledger.ledger.token import TokenClient
from gridledger.ledger.trades import Delivery, SignedTrade, encode_order, trade_hash
from gridledger.ledger.verify import verify_slot

__all__ = [
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
