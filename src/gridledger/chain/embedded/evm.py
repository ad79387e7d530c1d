"""The embedded chain's interpreter: py-evm's Cancun computation, made faster, same results.

Two changes, both checked by ``tests/test_ledger_embedded_vm.py`` (ECRECOVER against py-evm's on
valid and malformed input; blocks mined here replayed through py-evm's unmodified loop give the
same block hashes, including stack overflow/underflow, bad jumps and out-of-gas cases):

* precompile 0x01 (ECRECOVER) on libsecp256k1 via coincurve, about 2.5x faster than py-evm's;
* :meth:`GridLedgerComputation.apply_computation` is py-evm 0.12's own except in the opcode loop:
  an opcode of fixed gas cost (py-evm's ``_FastOpcode``, nearly all of them) has its gas charged
  inline (same check, same ``OutOfGas``), and the commonest opcodes, about 85 % of a settlement's
  instructions, run inline as copies of py-evm's logic working on the stack list directly, with
  the same limits and errors: PUSH0-32, DUP1-16, SWAP1-16, POP, JUMPDEST, ADD, SUB, LT, GT, EQ,
  AND, OR, ISZERO, JUMP, JUMPI, and MLOAD/MSTORE when memory need not grow (else py-evm's own code
  runs: expansion gas unchanged). SHA3 uses the project's Keccak. Per-opcode debug logging is
  gone. Which opcodes run inline is checked at import against py-evm's Cancun table (opcode
  class and mnemonic); anything unexpected runs py-evm's code.
"""

from __future__ import annotations

from typing import cast

import coincurve
from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.constants import GAS_SHA3WORD
from eth.exceptions import (
    FullStack,
    Halt,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfGas,
)
from eth.vm.computation import NO_RESULT
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.state import CancunState
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory
from eth.vm.opcode import _FastOpcode
from eth_typing import Address

from gridledger.identity import keccak

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_GAS_ECRECOVER = 3000


def ecrecover_precompile(computation: ComputationAPI) -> ComputationAPI:
    """Precompile 0x01 (ECRECOVER) on libsecp256k1 via coincurve.

    Same result and gas as py-evm's own (empty output on any bad input), about 2.5x faster: the
    settlement contract calls it twice per trade.
    """
    computation.consume_gas(_GAS_ECRECOVER, reason="ECRecover Precompile")
    data = computation.msg.data_as_bytes[:128].ljust(128, b"\x00")
    v = int.from_bytes(data[32:64], "big")
    r = int.from_bytes(data[64:96], "big")
    s = int.from_bytes(data[96:128], "big")
    if v not in (27, 28) or not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N):
        return computation
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            data[64:128] + bytes((v - 27,)), data[:32], hasher=None
        )
    except Exception:  # libsecp256k1 found no key for this signature
        return computation
    computation.output = bytes(12) + keccak(public_key.format(compressed=False)[1:])[12:]
    return computation


_CALL, _PUSH, _DUP, _SWAP, _POP, _JUMPDEST, _MLOAD, _MSTORE = range(8)
_BINARY, _ISZERO, _JUMP, _JUMPI, _SHA3 = range(8, 13)
_UINT256_MAX = 2**256 - 1
_JUMPDEST_BYTE = 0x5B


def _sha3(computation: ComputationAPI) -> None:
    """eth.vm.logic.sha3.sha3 with the project's faster Keccak (same digest)."""
    start_position, size = computation.stack_pop_ints(2)
    computation.extend_memory(start_position, size)
    sha3_bytes = computation.memory_read_bytes(start_position, size)
    word_count = (len(sha3_bytes) + 31) // 32
    computation.consume_gas(GAS_SHA3WORD * word_count, reason="SHA3: word gas cost")
    computation.stack_push_bytes(keccak(sha3_bytes))


def _inline_table() -> tuple[int, ...]:
    """Per opcode byte: run it inline (and how) or call its logic function.

    Built from, and checked against, py-evm's Cancun opcode table: an opcode runs inline only
    where py-evm has the plain stack logic this module copies, under the expected mnemonic.
    """
    expected = {
        0x50: ("POP", _POP),
        0x51: ("MLOAD", _MLOAD),
        0x52: ("MSTORE", _MSTORE),
        0x5B: ("JUMPDEST", _JUMPDEST),
        0x15: ("ISZERO", _ISZERO),
        0x20: ("SHA3", _SHA3),
        0x56: ("JUMP", _JUMP),
        0x57: ("JUMPI", _JUMPI),
    }
    for opcode, mnemonic in (
        (0x01, "ADD"),
        (0x03, "SUB"),
        (0x10, "LT"),
        (0x11, "GT"),
        (0x14, "EQ"),
        (0x16, "AND"),
        (0x17, "OR"),
    ):
        expected[opcode] = (mnemonic, _BINARY)
    expected.update({0x5F + n: (f"PUSH{n}", _PUSH) for n in range(33)})
    expected.update({0x7F + n: (f"DUP{n}", _DUP) for n in range(1, 17)})
    expected.update({0x8F + n: (f"SWAP{n}", _SWAP) for n in range(1, 17)})
    table = [_CALL] * 256
    for opcode, (mnemonic, kind) in expected.items():
        fn = _CANCUN_OPCODES.get(opcode)
        if type(fn) is _FastOpcode and fn.mnemonic == mnemonic:
            table[opcode] = kind
    return tuple(table)


_CANCUN_OPCODES = CancunComputation.opcodes
_INLINE = _inline_table()
_NO_INLINE = (_CALL,) * 256


class GridLedgerComputation(CancunComputation):
    """Cancun computation with the coincurve ECRECOVER and the leaner loop (module docstring)."""

    _precompiles = {  # noqa: RUF012 - py-evm's own class attribute, read-only
        **CancunComputation.get_precompiles(),
        Address(bytes(19) + b"\x01"): ecrecover_precompile,
    }

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        with cls(state, message, transaction_context) as computation:
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)

            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation

            opcode_lookup = computation.opcodes
            inline = _INLINE if opcode_lookup is _CANCUN_OPCODES else _NO_INLINE
            meter = computation._gas_meter
            code = computation.code
            values = computation._stack.values  # type: ignore[attr-defined]  # a Stack
            memory = cast(Memory, computation._memory)
            for opcode in code:
                try:
                    opcode_fn = opcode_lookup[opcode]
                except KeyError:
                    opcode_fn = InvalidOpcode(opcode)
                try:
                    if type(opcode_fn) is not _FastOpcode:
                        opcode_fn(computation=computation)
                        continue
                    cost = opcode_fn.gas_cost
                    if cost > meter.gas_remaining:
                        raise OutOfGas(
                            f"Out of gas: Needed {cost} - Remaining {meter.gas_remaining} "
                            f"- Reason: {opcode_fn.mnemonic}"
                        )
                    meter.gas_remaining -= cost
                    kind = inline[opcode]
                    if kind == _CALL:
                        opcode_fn.logic_fn(computation)
                    elif kind == _PUSH:  # eth.vm.logic.stack.push_XX
                        size = opcode - 0x5F
                        raw = code.read(size)
                        if len(raw) != size:
                            raw = raw.ljust(size, b"\x00")
                        if len(values) > 1023:
                            raise FullStack("Stack limit reached")
                        values.append(raw)
                    elif kind == _DUP:  # eth.vm.stack.Stack.dup
                        position = opcode - 0x7F
                        if len(values) > 1023:
                            raise FullStack("Stack limit reached")
                        try:
                            values.append(values[-position])
                        except IndexError:
                            raise InsufficientStack(
                                f"Insufficient stack items for DUP{position}"
                            ) from None
                    elif kind == _SWAP:  # eth.vm.stack.Stack.swap
                        position = opcode - 0x8F
                        index = -1 * position - 1
                        try:
                            values[-1], values[index] = values[index], values[-1]
                        except IndexError:
                            raise InsufficientStack(
                                f"Insufficient stack items for SWAP{position}"
                            ) from None
                    elif kind == _POP:  # eth.vm.stack.Stack.pop1_any
                        try:
                            values.pop()
                        except IndexError:
                            raise InsufficientStack("Wanted 1 stack item, had none") from None
                    elif kind == _BINARY:  # eth.vm.logic.{arithmetic,comparison}
                        if len(values) < 2:
                            raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
                        left = values.pop()
                        right = values.pop()
                        if type(left) is not int:
                            left = int.from_bytes(left, "big")
                        if type(right) is not int:
                            right = int.from_bytes(right, "big")
                        if opcode == 0x01:
                            values.append((left + right) & _UINT256_MAX)
                        elif opcode == 0x03:
                            values.append((left - right) & _UINT256_MAX)
                        elif opcode == 0x10:
                            values.append(1 if left < right else 0)
                        elif opcode == 0x11:
                            values.append(1 if left > right else 0)
                        elif opcode == 0x14:
                            values.append(1 if left == right else 0)
                        elif opcode == 0x16:
                            values.append(left & right)
                        else:  # 0x17
                            values.append(left | right)
                    elif kind == _ISZERO:  # eth.vm.logic.comparison.iszero
                        try:
                            value = values.pop()
                        except IndexError:
                            raise InsufficientStack("Wanted 1 stack item, had none") from None
                        if type(value) is not int:
                            value = int.from_bytes(value, "big")
                        values.append(1 if value == 0 else 0)
                    elif kind in (_JUMPI, _JUMP):  # eth.vm.logic.flow.jump(i)
                        if kind == _JUMPI:
                            if len(values) < 2:
                                raise InsufficientStack(
                                    f"Wanted 2 stack items, only had {len(values)}"
                                )
                            destination = values.pop()
                            check = values.pop()
                            if type(check) is not int:
                                check = int.from_bytes(check, "big")
                            if not check:
                                continue
                        else:
                            try:
                                destination = values.pop()
                            except IndexError:
                                raise InsufficientStack("Wanted 1 stack item, had none") from None
                        if type(destination) is not int:
                            destination = int.from_bytes(destination, "big")
                        code.program_counter = destination
                        if code.peek() != _JUMPDEST_BYTE:
                            raise InvalidJumpDestination("Invalid Jump Destination")
                        if not code.is_valid_opcode(destination):
                            raise InvalidInstruction("Jump resulted in invalid instruction")
                    elif kind == _SHA3:
                        _sha3(computation)
                    elif kind == _MLOAD:  # eth.vm.logic.memory.mload, memory already that big
                        if values:
                            top = values[-1]
                            start = top if type(top) is int else int.from_bytes(top, "big")
                            data = memory._bytes
                            if start + 32 <= len(data):
                                values[-1] = bytes(data[start : start + 32])
                                continue
                        opcode_fn.logic_fn(computation)
                    elif kind == _MSTORE:  # eth.vm.logic.memory.mstore, memory already that big
                        if len(values) > 1:
                            top = values[-1]
                            start = top if type(top) is int else int.from_bytes(top, "big")
                            data = memory._bytes
                            if start + 32 <= len(data):
                                values.pop()
                                word = values.pop()
                                data[start : start + 32] = (
                                    word.to_bytes(32, "big")
                                    if type(word) is int
                                    else word.rjust(32, b"\x00")
                                )
                                continue
                        opcode_fn.logic_fn(computation)
                    # _JUMPDEST: nothing to do
                except Halt:
                    break
        return computation


class GridLedgerState(CancunState):
    """Cancun state whose computations use :class:`GridLedgerComputation`."""

    computation_class = GridLedgerComputation
