"""The one interface every ledger backend implements: a minimal Ethereum node.

Two implementations sit behind it (DESIGN.md, "Parts and their real engines"):

* ``embedded``: py-evm in this process, state persisted in a local SQLite file
  (:mod:`gridledger.chain.embedded.node`);
* ``rpc``: any Ethereum JSON-RPC node reached through web3.py (:mod:`gridledger.chain.rpc`),
  e.g. anvil in the tests, Besu/geth PoA or Energy Web Chain in production.

Everything above this interface (contract clients, settlement, proofs, verify) is backend-agnostic:
it signs raw transactions itself and hands them over in batches. Addresses are 20 raw bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Log:
    """One event log as the chain recorded it."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True)
class Receipt:
    """The outcome of one mined transaction. ``status`` is 1 for success, 0 for a revert."""

    tx_hash: bytes
    block_number: int
    status: int
    gas_used: int
    contract_address: bytes | None = None
    logs: tuple[Log, ...] = field(default_factory=tuple)
    revert_reason: str | None = None


@runtime_checkable
class LedgerBackend(Protocol):
    """A chain that accepts signed raw transactions and answers calls and log queries."""

    @property
    def chain_id(self) -> int:
        """The chain id transactions and EIP-712 domains must carry."""
        ...

    def block_gas_limit(self) -> int:
        """Gas limit of the next block [gas]."""
        ...

    def block_number(self) -> int:
        """Number of the latest mined block."""
        ...

    def nonce(self, address: bytes) -> int:
        """Next transaction nonce of ``address`` (including pending transactions)."""
        ...

    def gas_price(self) -> int:
        """A gas price [wei] (or max fee per gas) that the next block accepts."""
        ...

    def balance(self, address: bytes) -> int:
        """Native-currency balance of ``address`` [wei]."""
        ...

    def send_raw_transactions(self, raw_transactions: Sequence[bytes]) -> list[Receipt]:
        """Submit signed transactions in order and wait until all are mined.

        The embedded chain mines them together in as few blocks as the gas limit allows; an RPC
        node gets them as one JSON-RPC batch. Returns one receipt per transaction, in order.
        A reverted transaction yields a receipt with ``status == 0``; a transaction the chain will
        not even accept (bad nonce, bad signature, too little gas money) raises ``LedgerError``.
        """
        ...

    def call(self, to: bytes, data: bytes, sender: bytes | None = None) -> bytes:
        """Execute a read-only call against the latest state; raises ``ContractError`` on revert."""
        ...

    def estimate_gas(self, to: bytes | None, data: bytes, sender: bytes) -> int:
        """Gas a transaction would use now [gas]; raises ``ContractError`` on revert."""
        ...

    def get_logs(
        self,
        address: bytes | None,
        from_block: int = 0,
        to_block: int | None = None,
        topic0: bytes | None = None,
    ) -> list[Log]:
        """Logs emitted by ``address`` (``None``: by any contract) in the block range
        (inclusive), optionally by event topic."""
        ...

    def code(self, address: bytes) -> bytes:
        """Contract code at ``address`` at the head (empty for plain accounts)."""
        ...

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The receipt of a mined transaction, or ``None`` when the chain has no such one."""
        ...

    def fund(self, address: bytes, amount_wei: int) -> None:
        """Give ``address`` native currency for gas: a genesis/dev-chain facility.

        The embedded chain and anvil support it; a production node raises ``LedgerError`` saying
        to fund the account through the network's own faucet or validator.
        """
        ...

    def close(self) -> None:
        """Flush state and release files, processes and connections."""
        ...
