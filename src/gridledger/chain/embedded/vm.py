"""The embedded chain's rules: a Cancun EVM with a constant zero base fee and a fixed genesis.

Vyper 0.4.3 targets Cancun by default (PUSH0, MCOPY, transient storage), so the embedded chain runs
py-evm's ``CancunVM`` unchanged except for two private-chain rules, kept here as data:

* the base fee is a constant :data:`BASE_FEE_WEI` (0): settlement gas never costs the operator
  money and the base fee does not climb after full blocks (EIP-1559 would raise it 12.5 % per
  block above the gas target);
* the block gas limit is constant (the genesis value), instead of drifting with usage.

The interpreter changes (a coincurve ECRECOVER, a leaner opcode loop) are in
:mod:`gridledger.chain.embedded.evm`; they give the same blocks as py-evm's own.

Consensus is py-evm's post-merge ``PosConsensus``, which checks no seal: blocks are produced by
this process alone, so there is nothing to prove. The genesis header has a fixed timestamp and
extra data, so a given (chain id, gas limit) always yields the same genesis hash.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from eth.abc import BlockHeaderAPI, ComputationAPI, SignedTransactionAPI, StateAPI
from eth.chains.base import MiningChain
from eth.exceptions import Revert
from eth.typing import AccountState
from eth.vm.forks.cancun import CancunVM
from eth_keys.datatypes import PrivateKey
from eth_typing import Address
from eth_utils.exceptions import ValidationError as EthValidationError

from gridledger.chain.embedded.evm import (
    GridLedgerComputation,
    GridLedgerState,
    ecrecover_precompile,
)
from gridledger.errors import ContractError
from gridledger.identity import keccak

#: Base fee of every block [wei]: a private settlement chain charges no base fee.
BASE_FEE_WEI = 0
#: Genesis timestamp: 2026-01-01T00:00:00Z [s since the Unix epoch].
GENESIS_TIMESTAMP = 1_767_225_600
#: Genesis extra data, followed by the chain id as 8 bytes: distinct chains get distinct genesis.
GENESIS_EXTRA_DATA = b"gridledger embedded v1 "
#: Default block gas limit [gas]: a 1,000-trade settlement slot fits in one block.
DEFAULT_GAS_LIMIT = 100_000_000
#: Dev faucet funded at genesis. Its key is public (derived from a fixed phrase): the embedded chain
#: is a local ledger whose only writer is this process, so the faucet guards nothing.
FAUCET_PRIVATE_KEY = PrivateKey(keccak(b"gridledger embedded chain faucet"))
FAUCET_ADDRESS = Address(FAUCET_PRIVATE_KEY.public_key.to_canonical_address())
FAUCET_BALANCE_WEI = 10**30

_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

_cancun_header_from_parent = CancunVM.create_header_from_parent

__all__ = [
    "GridLedgerComputation",
    "GridLedgerState",
    "GridLedgerVM",
    "ecrecover_precompile",
]


def _create_header_from_parent(
    parent_header: BlockHeaderAPI | None, **header_params: Any
) -> BlockHeaderAPI:
    if parent_header is not None:
        header_params.setdefault("gas_limit", parent_header.gas_limit)
    header_params.pop("base_fee_per_gas", None)
    header = _cancun_header_from_parent(parent_header, **header_params)
    return header.copy(base_fee_per_gas=BASE_FEE_WEI)  # type: ignore[no-any-return]


class GridLedgerVM(CancunVM):
    """Cancun with a constant base fee and a constant gas limit (see the module docstring)."""

    fork = "gridledger-cancun"
    _state_class = GridLedgerState
    create_header_from_parent = staticmethod(_create_header_from_parent)

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        if header.gas_limit != parent_header.gas_limit:
            raise EthValidationError(
                f"gas limit changed from {parent_header.gas_limit} to {header.gas_limit}"
            )
        if header.base_fee_per_gas != BASE_FEE_WEI:
            raise EthValidationError(
                f"base fee {header.base_fee_per_gas} differs from the constant {BASE_FEE_WEI}"
            )


def chain_class(chain_id: int) -> type[MiningChain]:
    """The py-evm chain class of an embedded chain with ``chain_id``."""
    return MiningChain.configure(
        __name__="GridLedgerChain",
        vm_configuration=((0, GridLedgerVM),),
        chain_id=chain_id,
    )


def genesis_params(chain_id: int, gas_limit: int) -> dict[str, Any]:
    """Header fields of the genesis block; fixed, so restarts reproduce the same genesis hash."""
    return {
        "difficulty": 0,
        "gas_limit": gas_limit,
        "timestamp": GENESIS_TIMESTAMP,
        "extra_data": GENESIS_EXTRA_DATA + chain_id.to_bytes(8, "big"),
        "coinbase": b"\x00" * 20,
        "nonce": b"\x00" * 8,
        "mix_hash": b"\x00" * 32,
    }


def genesis_state() -> AccountState:
    """Accounts at genesis: only the dev faucet."""
    return {FAUCET_ADDRESS: {"balance": FAUCET_BALANCE_WEI, "nonce": 0, "code": b"", "storage": {}}}


def decode_revert_reason(output: bytes) -> str | None:
    """The message of a Solidity/Vyper ``Error(string)`` or ``Panic(uint256)`` revert, or None."""
    if output[:4] == _ERROR_SELECTOR and len(output) >= 68:
        offset = int.from_bytes(output[4:36], "big")
        start = 4 + offset
        length = int.from_bytes(output[start : start + 32], "big")
        raw = output[start + 32 : start + 32 + length]
        if len(raw) == length:
            return raw.decode("utf-8", errors="replace")
        return None
    if output[:4] == _PANIC_SELECTOR and len(output) == 36:
        return f"panic 0x{int.from_bytes(output[4:], 'big'):02x}"
    return None


def computation_error(computation: ComputationAPI) -> str:
    """A readable reason why a computation failed: the decoded revert reason when there is one."""
    error = computation.error
    if isinstance(error, Revert):
        output = computation.output
        reason = decode_revert_reason(output)
        if reason is not None:
            return reason
        return "reverted" + (f" with data 0x{output.hex()}" if output else " without a reason")
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def estimate_gas(
    state_factory: Callable[[], AbstractContextManager[StateAPI]],
    make_transaction: Callable[[int], SignedTransactionAPI],
    gas_cap: int,
) -> int:
    """Gas a transaction needs [gas]: one run at ``gas_cap``, then a search upward if needed.

    ``state_factory()`` yields a fresh costless state, ``make_transaction(gas)`` the transaction
    with that gas limit. Usually two executions suffice (a run at the cap measuring the gas consumed
    before refunds, and a check at that figure) instead of the ~12 of a binary search from the cap.
    Raises ``ContractError`` when the transaction fails even at the cap.
    """

    def run(gas: int) -> ComputationAPI:
        with state_factory() as state:
            return state.costless_execute_transaction(make_transaction(gas))

    first = run(gas_cap)
    if first.is_error:
        reason = computation_error(first)
        raise ContractError(f"estimate_gas: the transaction fails: {reason}", reason)
    low: int = make_transaction(gas_cap).intrinsic_gas + first.get_gas_used()
    if not run(low).is_error:
        return low
    # Calls forward at most 63/64 of the gas left (EIP-150): search between low and the cap.
    lo, hi = low, gas_cap
    step = max(low // 64, 1000)
    while low + step < hi:
        if not run(low + step).is_error:
            hi = low + step
            break
        lo = low + step
        step *= 2
    while hi - lo > 1000:
        mid = (lo + hi) // 2
        if run(mid).is_error:
            lo = mid
        else:
            hi = mid
    return hi
