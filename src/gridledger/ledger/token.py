"""Client of the ``Token`` contract: the ERC-20 payment token in micro-units."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from gridledger.chain.backend import LedgerBackend, Receipt
from gridledger.chain.transactions import send_calls
from gridledger.identity import Signer
from gridledger.ledger.contract import ContractClient

#: Gas of one mint to a fresh account, with headroom; used when minting to many at once.
MINT_GAS = 90_000


class TokenClient(ContractClient):
    """The community currency: 6 decimals, minted only by the issuer."""

    NAME = "Token"

    @classmethod
    def deploy(
        cls,
        backend: LedgerBackend,
        deployer: Signer,
        issuer: bytes,
        name: str = "Grid Credit",
        symbol: str = "GRID",
    ) -> Self:
        return cls._deploy(backend, deployer, name, symbol, issuer)

    def mint(self, issuer: Signer, receiver: bytes, amount_micro: int) -> Receipt:
        return self.transact(issuer, "mint", receiver, amount_micro)

    def mint_many(self, issuer: Signer, grants: Sequence[tuple[bytes, int]]) -> list[Receipt]:
        """Mint to many accounts in one batch of transactions."""
        calls = [self.make_call(issuer, "mint", a, m, gas=MINT_GAS) for a, m in grants]
        return send_calls(self.backend, issuer, calls)

    def transfer(self, sender: Signer, receiver: bytes, amount_micro: int) -> Receipt:
        return self.transact(sender, "transfer", receiver, amount_micro)

    def approve(self, owner: Signer, spender: bytes, amount_micro: int) -> Receipt:
        return self.transact(owner, "approve", spender, amount_micro)

    def balance_of(self, account: bytes) -> int:
        return int(self.call("balanceOf", account))

    def allowance(self, owner: bytes, spender: bytes) -> int:
        return int(self.call("allowance", owner, spender))

    def total_supply(self) -> int:
        return int(self.call("totalSupply"))

    def issuer(self) -> bytes:
        result: bytes = self.call("issuer")
        return result
