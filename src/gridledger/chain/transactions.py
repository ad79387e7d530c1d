"""Signing and sending transactions: the one place that turns calls into raw transactions.

Everything above the backend signs its own transactions (legacy EIP-155 transactions, which every
EVM chain accepts) and hands them to :meth:`LedgerBackend.send_raw_transactions` in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account import Account

from gridledger.chain.backend import LedgerBackend, Receipt
from gridledger.errors import ContractError, LedgerError
from gridledger.identity import Signer

#: Headroom over a gas estimate, for state that changes between estimate and inclusion.
GAS_HEADROOM = 1.25
GAS_MARGIN = 20_000


@dataclass(frozen=True)
class Call:
    """One transaction to sign: target (``None`` to deploy), data, gas limit and a label."""

    to: bytes | None
    data: bytes
    gas: int
    label: str = "transaction"
    value_wei: int = 0


def padded_gas(estimate: int) -> int:
    return int(estimate * GAS_HEADROOM) + GAS_MARGIN


def estimate_call(backend: LedgerBackend, sender: Signer, to: bytes | None, data: bytes) -> int:
    """Gas limit for one call: the backend's estimate plus headroom, capped at the block limit."""
    return min(
        padded_gas(backend.estimate_gas(to, data, sender.address_bytes)), backend.block_gas_limit()
    )


def sign_calls(
    backend: LedgerBackend, sender: Signer, calls: Sequence[Call], nonce: int | None = None
) -> list[bytes]:
    """Sign ``calls`` with consecutive nonces from ``nonce`` (default: the sender's next)."""
    first = backend.nonce(sender.address_bytes) if nonce is None else nonce
    gas_price = backend.gas_price()
    raws = []
    for i, call in enumerate(calls):
        tx = {
            "nonce": first + i,
            "gasPrice": gas_price,
            "gas": call.gas,
            "to": call.to if call.to is not None else b"",
            "value": call.value_wei,
            "data": call.data,
            "chainId": backend.chain_id,
        }
        if call.to is None:
            del tx["to"]
        raws.append(bytes(Account.sign_transaction(tx, sender.private_key).raw_transaction))
    return raws


def send_calls(
    backend: LedgerBackend, sender: Signer, calls: Sequence[Call], *, check: bool = True
) -> list[Receipt]:
    """Sign and send ``calls`` as one batch; with ``check``, raise on the first reverted one."""
    if not calls:
        return []
    receipts = backend.send_raw_transactions(sign_calls(backend, sender, calls))
    if len(receipts) != len(calls):
        raise LedgerError(f"sent {len(calls)} transactions, got {len(receipts)} receipts")
    if check:
        for call, receipt in zip(calls, receipts, strict=True):
            if receipt.status != 1:
                reason = receipt.revert_reason
                raise ContractError(
                    f"{call.label} reverted in block {receipt.block_number} "
                    f"(tx 0x{receipt.tx_hash.hex()}): {reason or 'no reason given'}",
                    reason,
                )
    return receipts


def send_many(
    backend: LedgerBackend,
    batches: Sequence[tuple[Signer, Sequence[Call]]],
    *,
    check: bool = True,
) -> list[Receipt]:
    """Sign the calls of many senders and send them all as one batch (receipts in order)."""
    raws: list[bytes] = []
    labels: list[str] = []
    for sender, calls in batches:
        raws.extend(sign_calls(backend, sender, calls))
        labels.extend(c.label for c in calls)
    if not raws:
        return []
    receipts = backend.send_raw_transactions(raws)
    if check:
        for label, receipt in zip(labels, receipts, strict=True):
            if receipt.status != 1:
                raise ContractError(
                    f"{label} reverted in block {receipt.block_number}: "
                    f"{receipt.revert_reason or 'no reason given'}",
                    receipt.revert_reason,
                )
    return receipts


def provide_gas(backend: LedgerBackend, addresses: Sequence[bytes], amount_wei: int) -> None:
    """Give each address gas money on a dev chain; nothing to do where gas costs nothing."""
    if backend.gas_price() == 0:
        return
    for address in addresses:
        if backend.balance(address) < amount_wei // 2:
            backend.fund(address, amount_wei)
