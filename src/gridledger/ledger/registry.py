"""Client of the ``Registry`` contract: regions, their operators, and participants by role."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Self

from gridledger.chain.backend import LedgerBackend, Receipt
from gridledger.chain.transactions import send_calls
from gridledger.identity import Signer
from gridledger.ledger.contract import ContractClient

#: Accounts per ``register_many`` transaction (the contract's bound) and its gas.
BULK = 512
BULK_BASE_GAS = 100_000
BULK_GAS_PER_ACCOUNT = 60_000


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

    def register_many(
        self, operator: Signer, accounts: Sequence[bytes], role: Role, region: bytes
    ) -> list[Receipt]:
        """The region operator registers many accounts of one role (batches of 512, one send)."""
        calls = [
            self.make_call(
                operator,
                "register_many",
                list(accounts[i : i + BULK]),
                int(role),
                region,
                gas=BULK_BASE_GAS + BULK_GAS_PER_ACCOUNT * len(accounts[i : i + BULK]),
            )
            for i in range(0, len(accounts), BULK)
        ]
        return send_calls(self.backend, operator, calls)

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
