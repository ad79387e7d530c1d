"""The embedded chain's rules: the coincurve ECRECOVER precompile, revert reasons, zero base fee."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import coincurve
import pytest
import vyper
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.precompiles.ecrecover import ecrecover as pyevm_ecrecover
from eth.vm.computation import BaseComputation
from eth_account import Account
from eth_typing import BlockNumber

from gridledger.chain.embedded.node import EmbeddedLedger
from gridledger.chain.embedded.vm import (
    BASE_FEE_WEI,
    GridLedgerComputation,
    GridLedgerState,
    GridLedgerVM,
    decode_revert_reason,
    ecrecover_precompile,
    genesis_params,
    genesis_state,
)
from gridledger.identity import SECP256K1_N, keccak


class _Message:
    def __init__(self, data: bytes) -> None:
        self.data_as_bytes = data


class _Computation:
    """Just what a precompile touches: the message data, the gas meter and the output."""

    def __init__(self, data: bytes) -> None:
        self.msg = _Message(data)
        self.output = b""
        self.gas = 0

    def consume_gas(self, amount: int, reason: str) -> None:
        self.gas += amount


def _run(precompile: Any, data: bytes) -> tuple[bytes, int]:
    computation = _Computation(data)
    precompile(computation)
    return computation.output, computation.gas


def _inputs() -> list[bytes]:
    rng = random.Random(7)
    cases: list[bytes] = []
    for i in range(40):
        key = coincurve.PrivateKey(keccak(b"key %d" % i))
        digest = keccak(b"message %d" % i)
        sig = key.sign_recoverable(digest, hasher=None)
        r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64] + 27
        high_s = SECP256K1_N - s  # the other valid s: recovers a different key, no EIP-2 here
        cases.append(digest + v.to_bytes(32, "big") + r + s.to_bytes(32, "big"))
        cases.append(digest + (55 - v).to_bytes(32, "big") + r + high_s.to_bytes(32, "big"))
    digest = keccak(b"edge")
    one = (1).to_bytes(32, "big")
    for ev, er, es in [
        (27, 0, 1),
        (27, 1, 0),
        (28, SECP256K1_N, 1),
        (28, 1, SECP256K1_N),
        (26, 1, 1),
        (29, 1, 1),
        (0, 1, 1),
        (27 + 2**255, 1, 1),
        (27, 2**256 - 1, 1),
    ]:
        cases.append(digest + b"".join(x.to_bytes(32, "big") for x in (ev, er, es)))
    cases += [b"", digest, digest + (27).to_bytes(32, "big") + one, bytes(200)]
    cases += [rng.randbytes(rng.randrange(0, 160)) for _ in range(30)]
    good = cases[0]
    cases.append(good + b"trailing bytes are ignored")
    return cases


@pytest.mark.parametrize("data", _inputs())
def test_ecrecover_matches_pyevm(data: bytes) -> None:
    assert _run(ecrecover_precompile, data) == _run(pyevm_ecrecover, data)


def test_revert_reasons() -> None:
    message = "escrow too low"
    encoded = (
        bytes.fromhex("08c379a0")
        + (32).to_bytes(32, "big")
        + len(message).to_bytes(32, "big")
        + message.encode().ljust(32, b"\x00")
    )
    assert decode_revert_reason(encoded) == message
    assert decode_revert_reason(bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big")) == (
        "panic 0x11"
    )
    assert decode_revert_reason(b"") is None
    assert decode_revert_reason(encoded[:50]) is None
    assert BASE_FEE_WEI == 0


WORK_SOURCE = """
interface Child:
    def bump(x: uint256) -> uint256: nonpayable

event Did:
    who: indexed(address)
    value: uint256

marks: public(HashMap[bytes32, uint256])
counts: public(HashMap[address, uint256])
child: public(address)

@external
def set_child(c: address):
    self.child = c

@external
def bump(x: uint256) -> uint256:
    self.counts[msg.sender] += x
    return self.counts[msg.sender]

@external
def work(n: uint256, digest: bytes32, v: uint8, r: bytes32, s: bytes32) -> address:
    signer: address = ecrecover(digest, v, r, s)
    h: bytes32 = digest
    for i: uint256 in range(n, bound=200):
        h = keccak256(concat(h, convert(i, bytes32)))
        self.marks[h] += i
    if self.child != empty(address):
        extcall Child(self.child).bump(n)
    assert n != 13, "unlucky"
    log Did(who=signer, value=n)
    return signer
"""


class _StockLoopComputation(GridLedgerComputation):
    """py-evm's unmodified opcode loop (the reference for the fast one)."""

    apply_computation: Any = classmethod(BaseComputation.apply_computation.__func__)  # type: ignore[attr-defined]


class _StockLoopState(GridLedgerState):
    computation_class = _StockLoopComputation


class _StockLoopVM(GridLedgerVM):
    _state_class = _StockLoopState


def _replay_on_pyevm_loop(ledger: EmbeddedLedger) -> None:
    """Import every block of ``ledger`` into a chain running py-evm's own loop: same hashes."""
    reference = MiningChain.configure(
        __name__="StockLoopChain", vm_configuration=((0, _StockLoopVM),), chain_id=ledger.chain_id
    ).from_genesis(
        AtomicDB(), genesis_params(ledger.chain_id, ledger.block_gas_limit()), genesis_state()
    )
    head = ledger.head()
    for number in range(1, head.block_number + 1):
        reference.import_block(ledger._chain.get_canonical_block_by_number(BlockNumber(number)))
    assert reference.get_canonical_head().hash == head.hash


def _initcode(runtime: bytes) -> bytes:
    """Creation code returning ``runtime``: PUSH2 n DUP1 PUSH1 10 PUSH0 CODECOPY PUSH0 RETURN."""
    return b"\x61" + len(runtime).to_bytes(2, "big") + b"\x80\x60\x0a\x5f\x39\x5f\xf3" + runtime


STACK_PROGRAMS = {
    # PUSH2 0x1234 DUP1 SWAP1 POP PUSH0 SSTORE JUMPDEST PUSH1 1 PUSH1 1 SSTORE: slots 0, 1 set
    "ok": (bytes.fromhex("6112348090505f555b6001600155"), 1),
    "push_overflow": (b"\x5f" * 1025, 0),
    "dup_overflow": (b"\x5f" + b"\x80" * 1024, 0),
    "pop_underflow": (b"\x50", 0),
    "dup16_underflow": (b"\x5f" * 3 + b"\x8f", 0),
    "swap16_underflow": (b"\x5f" * 3 + b"\x9f", 0),
    "swap16_exact": (b"\x5f" * 17 + b"\x9f", 1),
    "push32_truncated": (b"\x7f\x01\x02\x03", 1),
    "full_stack_exact": (b"\x5f" * 1024, 1),
    # MSTORE/MLOAD with and without memory growth, int and bytes words, unaligned: slots 1-4
    "memory": (
        bytes.fromhex(
            "60056007015f52"  # MSTORE(0, 5 + 7): memory grows to 32 (py-evm's code)
            "6112345f52"  # MSTORE(0, 0x1234): inline
            "5f51600155"  # slot 1 = MLOAD(0)
            "60036001015f52"  # MSTORE(0, 3 + 1): an int word, inline
            "5f51600255"  # slot 2 = MLOAD(0)
            "60ab600152"  # MSTORE(1, 0xab): unaligned, memory grows to 64
            "6001516003556020516004"
            "55"  # slot 3 = MLOAD(1), slot 4 = MLOAD(32)
        ),
        1,
    ),
    # ADD/SUB/LT/GT/EQ/AND/OR/ISZERO/SHA3 on ints and bytes, with wrap-around: slots 5-15
    "arithmetic": (
        bytes.fromhex(
            "60036005036005"
            "55"  # slot 5 = 5 - 3
            "60056003036006"
            "55"  # slot 6 = 3 - 5 (wraps)
            "60056003106007"
            "55"  # slot 7 = 3 < 5
            "60056003116008"
            "55"  # slot 8 = 3 > 5
            "600760036004011460"
            "0955"  # slot 9 = 7 == 3 + 4
            "60f0600f17600a"
            "55"  # slot 10 = 0xf0 | 0x0f
            "60f060ff16600b"
            "55"  # slot 11 = 0xff & 0xf0
            "5f15600c"
            "55"  # slot 12 = iszero(PUSH0)
            "600160010115600d"
            "55"  # slot 13 = iszero(1 + 1)
            "7f" + "ff" * 32 + "600201600e"
            "55"  # slot 14 = (2**256 - 1) + 2
            "60205f20600f"
            "55"  # slot 15 = keccak(32 zero bytes)
        ),
        1,
    ),
    "jump": (bytes.fromhex("600456fe5b6001600155"), 1),
    "jumpi_taken": (bytes.fromhex("6001600657fe5b"), 1),
    "jumpi_not_taken": (bytes.fromhex("5f60065700fe5b"), 1),
    "jump_bad_destination": (bytes.fromhex("60035600"), 0),
    "jump_into_push_data": (bytes.fromhex("600456605b"), 0),
    "add_underflow": (bytes.fromhex("600101"), 0),
    "iszero_empty_stack": (bytes.fromhex("15"), 0),
    "jumpi_underflow": (bytes.fromhex("600157"), 0),
    "sha3_huge": (b"\x7f" + b"\xff" * 32 + b"\x5f\x20", 0),
    "mstore_huge_offset": (b"\x7f" + b"\xff" * 32 + b"\x5f\x90\x52", 0),
    "mload_empty_stack": (b"\x51", 0),
    "mstore_one_item": (b"\x5f\x52", 0),
}


def test_inline_stack_opcodes_match_pyevm_at_the_limits(tmp_path: Path) -> None:
    account = Account.from_key(keccak(b"stack test"))
    with EmbeddedLedger(tmp_path / "chain.sqlite") as ledger:
        nonce = 0

        def tx(to: bytes | None, data: bytes, gas: int = 1_000_000) -> bytes:
            nonlocal nonce
            fields: dict[str, Any] = {
                "nonce": nonce,
                "gas": gas,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
                "data": data,
                "value": 0,
                "chainId": ledger.chain_id,
            }
            if to is not None:
                fields["to"] = to
            nonce += 1
            return bytes(account.sign_transaction(fields).raw_transaction)

        programs = list(STACK_PROGRAMS.values())
        deployed = ledger.send_raw_transactions([tx(None, _initcode(code)) for code, _ in programs])
        addresses = [r.contract_address for r in deployed]
        assert all(a is not None for a in addresses)
        receipts = ledger.send_raw_transactions(
            [tx(a, b"") for a in addresses if a is not None]
            + [tx(addresses[0], b"", gas=21_000 + 10)]  # out of gas inside the PUSH run
        )
        assert [r.status for r in receipts] == [ok for _, ok in programs] + [0]
        assert "FullStack" in (receipts[1].revert_reason or "")
        assert "InsufficientStack" in (receipts[3].revert_reason or "")
        assert addresses[0] is not None and ledger.storage(addresses[0], 0) == 0x1234
        assert ledger.storage(addresses[0], 1) == 1
        memory = addresses[list(STACK_PROGRAMS).index("memory")]
        assert memory is not None
        assert [ledger.storage(memory, slot) for slot in (1, 2, 3, 4)] == [
            0x1234,
            4,
            0xAB,
            0xAB << 248,
        ]
        arithmetic = addresses[list(STACK_PROGRAMS).index("arithmetic")]
        assert arithmetic is not None
        assert [ledger.storage(arithmetic, slot) for slot in range(5, 16)] == [
            2,
            2**256 - 2,
            1,
            0,
            1,
            0xFF,
            0xF0,
            1,
            0,
            1,
            int.from_bytes(keccak(bytes(32)), "big"),
        ]
        _replay_on_pyevm_loop(ledger)


def test_fast_opcode_loop_gives_the_blocks_of_pyevm_loop(tmp_path: Path) -> None:
    out = vyper.compile_code(WORK_SOURCE, output_formats=["bytecode", "abi"])
    code = bytes.fromhex(out["bytecode"][2:])
    account = Account.from_key(keccak(b"loop test"))
    key = coincurve.PrivateKey(keccak(b"signer"))
    digest = keccak(b"digest")
    sig = key.sign_recoverable(digest, hasher=None)
    vrs = (sig[64] + 27).to_bytes(32, "big") + sig[:64]
    work = keccak(b"work(uint256,bytes32,uint8,bytes32,bytes32)")[:4]
    with EmbeddedLedger(tmp_path / "chain.sqlite") as ledger:
        nonce = 0

        def tx(to: bytes | None, data: bytes, gas: int = 6_000_000) -> bytes:
            nonlocal nonce
            fields: dict[str, Any] = {
                "nonce": nonce,
                "gas": gas,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
                "data": data,
                "value": 0,
                "chainId": ledger.chain_id,
            }
            if to is not None:
                fields["to"] = to
            nonce += 1
            return bytes(account.sign_transaction(fields).raw_transaction)

        parent, child = (
            r.contract_address
            for r in ledger.send_raw_transactions([tx(None, code), tx(None, code)])
        )
        assert parent is not None and child is not None
        calls = [work + n.to_bytes(32, "big") + digest + vrs for n in (0, 1, 13, 60, 199)]
        receipts = ledger.send_raw_transactions(
            [tx(parent, keccak(b"set_child(address)")[:4] + bytes(12) + child)]
            + [tx(parent, data) for data in calls]
            + [tx(parent, calls[4], gas=200_000), tx(None, code)]
        )
        assert [r.status for r in receipts] == [1, 1, 1, 0, 1, 1, 0, 1]
        assert receipts[3].revert_reason == "unlucky"
        assert receipts[6].revert_reason is not None and "OutOfGas" in receipts[6].revert_reason
        _replay_on_pyevm_loop(ledger)
    assert _StockLoopComputation.apply_computation.__func__ is not (
        GridLedgerComputation.apply_computation.__func__  # type: ignore[attr-defined]
    )
