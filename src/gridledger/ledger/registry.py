"""Client of the ``Registry`` contract: regions, their operators, and participants by role."""

from __future__ import annotations

import enum
from typing import Self

from gridledger.identity import Signer
from gridledger.ledger.backend import LedgerBackend, Receipt
from gridledger.ledger.contract import ContractClient


class Role(enum.IntEnum):
    """A participant's role, as the contract stores it."""

    NONE = 0
    HOUSEHOLD = 1
    COMPANY = 2
    OPERATOR = 3
    DEVICE = 4


class RegistryClient(ContractClient):
    """Regions with their operator; households, companies and devices registered in them."""

    NAME = "Registry"

    @classmethod
    def deploy(cls, backend: LedgerBackend, admin: Signer) -> Self:
        """Deploy a registry whose admin (the city) is ``admin``."""
        return cls._deploy(backend, admin)

    def add_region(self, admin: Signer, region: bytes, operator: bytes) -> Receipt:
        """Add ``region`` (32 bytes, :func:`gridledger.identity.region_id`) and its operator."""
        return self.transact(admin, "add_region", region, operator)

    def register(self, sender: Signer, account: bytes, role: Role, region: bytes) -> Receipt:
        """Register ``account`` in ``region``: a household itself, anything by the operator."""
        return self.transact(sender, "register", account, int(role), region)

    def deregister(self, sender: Signer, account: bytes) -> Receipt:
        return self.transact(sender, "deregister", account)

    def admin(self) -> bytes:
        result: bytes = self.call("admin")
        return result

    def operator_of(self, region: bytes) -> bytes:
        result: bytes = self.call("operator_of", region)
        return result

    def role_of(self, account: bytes) -> Role:
        return Role(self.call("role_of", account))

    def region_of(self, account: bytes) -> bytes:
        result: bytes = self.call("region_of", account)
        return result
