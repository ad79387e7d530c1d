"""The embedded chain's rules: the coincurve ECRECOVER precompile, revert reasons, zero base fee."""

from __future__ import annotations

import random
from typing import Any

import coincurve
import pytest
from eth.precompiles.ecrecover import ecrecover as pyevm_ecrecover

from gridledger.identity import SECP256K1_N, keccak
from gridledger.ledger.embedded_vm import (
    BASE_FEE_WEI,
    decode_revert_reason,
    ecrecover_precompile,
)


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
