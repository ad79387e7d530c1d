"""The contracts: Vyper sources, compiled artifacts, typed clients, Merkle proofs and deploy.

* contracts and their clients: :class:`RegistryClient`, :class:`TokenClient`,
  :class:`MarketClient` (escrow, batched slot settlement, delivery, events, trade proofs);
  :func:`deploy_region` deploys a region's three contracts;
* :mod:`~gridledger.ledger.merkle` (proofs) and :func:`verify_slot` (a slot's trades against the
  chain's events);
* :mod:`~gridledger.ledger.trades`: how a market order, trade and delivery position are encoded
  for the contract's ABI.

The engines the contracts run on are in :mod:`gridledger.chain`; the operator's pipeline that
drives them from the store is :mod:`gridledger.operator`.
"""

from __future__ import annotations

from gridledger.ledger.deploy import RegionDeployment, Tariffs, deploy_region
from gridledger.ledger.registry import RegistryClient, Role
from gridledger.ledger.settlement import MarketClient, SettledTrade, SlotState, SlotStatus
from gridledger.ledger.token import TokenClient
from gridledger.ledger.trades import Delivery, SettlementTrade, SignedOrder
from gridledger.ledger.verify import ExpectedTrade, verify_slot

__all__ = [
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
