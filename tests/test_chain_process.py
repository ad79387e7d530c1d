"""The embedded chain in a child process: the same answers and errors as in process, one
holder per file, and no orphan after the parent is SIGKILLed, even in the middle of a batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vyper
from eth_account import Account
from serve_process import process_gone

from gridledger.chain import open_ledger
from gridledger.chain.backend import LedgerBackend
from gridledger.chain.embedded.node import EmbeddedLedger
from gridledger.chain.embedded.verify import verify_embedded_chain
from gridledger.chain.process import ProcessBackend
from gridledger.errors import ContractError, LedgerError
from gridledger.identity import keccak

ROOT = Path(__file__).resolve().parent.parent

SOURCE = """
event Stored:
    who: indexed(address)
    value: uint256

x: public(uint256)

@external
def set(v: uint256):
    assert v != 13, "unlucky"
    self.x = v
    log Stored(who=msg.sender, value=v)
"""
SET = keccak(b"set(uint256)")[:4]
X = keccak(b"x()")[:4]
KEY = keccak(b"process test key")
ADDRESS = bytes.fromhex(Account.from_key(KEY).address[2:])


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


@pytest.fixture(scope="module")
def code() -> bytes:
    out = vyper.compile_code(SOURCE, output_formats=["bytecode"])
    return bytes.fromhex(out["bytecode"][2:])


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ProcessBackend]:
    with ProcessBackend(tmp_path / "chain.sqlite") as opened:
        yield opened


def tx(ledger: LedgerBackend, nonce: int, to: bytes | None, data: bytes, gas: int) -> bytes:
    fields: dict[str, Any] = {
        "nonce": nonce,
        "gas": gas,
        "maxFeePerGas": ledger.gas_price(),
        "maxPriorityFeePerGas": 0,
        "data": data,
        "value": 0,
        "chainId": ledger.chain_id,
    }
    if to is not None:
        fields["to"] = to
    return bytes(Account.sign_transaction(fields, KEY).raw_transaction)


def session(ledger: LedgerBackend, code: bytes) -> list[object]:
    """Every kind of call, answer and error of the backend, in a fixed order."""
    out: list[object] = [ledger.chain_id, ledger.block_gas_limit(), ledger.gas_price()]
    ledger.fund(ADDRESS, 10**18)
    out += [ledger.balance(ADDRESS), ledger.nonce(ADDRESS), ledger.block_number()]
    (deployed,) = ledger.send_raw_transactions([tx(ledger, 0, None, code, 1_000_000)])
    contract = deployed.contract_address
    assert contract is not None
    out.append(ledger.code(contract))
    receipts = ledger.send_raw_transactions(
        [tx(ledger, 1 + i, contract, SET + word(v), 100_000) for i, v in enumerate((12, 13, 14))]
    )
    out += [receipts, ledger.call(contract, X), ledger.get_logs(contract)]
    out += [ledger.get_logs(None, 0, 1), [ledger.receipt(r.tx_hash) for r in receipts]]
    out += [ledger.receipt(b"\x00" * 32), ledger.estimate_gas(contract, SET + word(5), ADDRESS)]
    with pytest.raises(ContractError) as reverted:
        ledger.estimate_gas(contract, SET + word(13), ADDRESS)
    out.append((reverted.value.reason, str(reverted.value)))
    with pytest.raises(ContractError) as failed_call:
        ledger.call(contract, SET + word(13))
    out.append((failed_call.value.reason, str(failed_call.value)))
    with pytest.raises(LedgerError) as refused:
        ledger.send_raw_transactions([tx(ledger, 9, contract, SET + word(1), 100_000)])
    out.append((type(refused.value), str(refused.value)))
    with pytest.raises(LedgerError) as bad_address:
        ledger.balance(b"short")
    out.append((type(bad_address.value), str(bad_address.value)))
    out.append(ledger.block_number())
    return out


def test_answers_and_errors_equal_the_in_process_chain(tmp_path: Path, code: bytes) -> None:
    with EmbeddedLedger(tmp_path / "a.sqlite") as local:
        expected = session(local, code)
    with ProcessBackend(tmp_path / "b.sqlite") as remote:
        assert isinstance(remote, LedgerBackend)
        got = session(remote, code)
        assert remote.storage(bytes(20), 0) == 0
        assert remote.disk_bytes() > 0
    # receipts, logs and hashes are the same values (blocks have the wall time, which no
    # receipt carries); errors keep their class, message and revert reason
    assert got == expected


def test_close_releases_the_file_and_a_restart_resumes(tmp_path: Path, code: bytes) -> None:
    path = tmp_path / "chain.sqlite"
    first = open_ledger("embedded", tmp_path, 1337, process=True)
    assert isinstance(first, ProcessBackend)
    first.fund(ADDRESS, 10**18)
    (deployed,) = first.send_raw_transactions([tx(first, 0, None, code, 1_000_000)])
    head, pid = first.block_number(), first.pid
    first.close()
    first.close()  # idempotent
    with pytest.raises(LedgerError, match="closed"):
        first.block_number()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the child exited (and was reaped)
    with EmbeddedLedger(path) as local:  # the lock is free
        assert local.block_number() == head
        assert local.receipt(deployed.tx_hash) == deployed
    with ProcessBackend(path) as again:
        assert again.block_number() == head
        assert again.balance(ADDRESS) == 10**18


def test_one_holder_per_file_and_open_errors(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    with EmbeddedLedger(path), pytest.raises(LedgerError, match="already open"):
        ProcessBackend(path, lock_wait_s=0.2)
    with pytest.raises(LedgerError, match="created with chain_id=1337, not 5"):
        ProcessBackend(path, chain_id=5)


def test_threads_take_turns(backend: ProcessBackend) -> None:
    backend.fund(ADDRESS, 10**18)
    errors: list[BaseException] = []

    def read(n: int) -> None:
        try:
            for _ in range(50):
                assert backend.balance(ADDRESS) == 10**18
                assert backend.nonce(bytes([n]) * 20) == 0
                assert backend.block_number() == 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_killed_chain_process_is_reported(backend: ProcessBackend) -> None:
    os.kill(backend.pid, signal.SIGKILL)
    with pytest.raises(LedgerError, match=r"exited \(code -9\); restart"):
        backend.block_number()
    with pytest.raises(LedgerError, match="closed"):
        backend.block_number()


PARENT = """
import sys, threading
from eth_account import Account
from gridledger.chain.process import ProcessBackend
from gridledger.identity import keccak

backend = ProcessBackend(sys.argv[1])
key = keccak(b"process test key")
address = bytes.fromhex(Account.from_key(key).address[2:])
backend.fund(address, 10**18)
start = backend.nonce(address)
raws = [
    bytes(Account.sign_transaction(
        {"nonce": start + i, "gas": 21_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
         "to": bytes(19) + bytes([1]), "value": 1, "data": b"", "chainId": 1337}, key
    ).raw_transaction)
    for i in range(int(sys.argv[2]))
]
print(backend.pid, backend.block_number(), flush=True)
backend.send_raw_transactions(raws)  # SIGKILLed while the child mines this
print("mined", flush=True)
"""


@pytest.mark.parametrize("transfers", [0, 600])
def test_the_child_dies_with_its_parent(tmp_path: Path, transfers: int) -> None:
    """SIGKILL the parent while the child waits (0) or mines a batch (600 transfers): the child
    exits within a second and leaves the chain at a whole batch, which opens and replays."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "chain.sqlite"), str(transfers)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child_pid, head = (int(v) for v in parent.stdout.readline().split())
        time.sleep(0.3)  # the batch is in the child now
        parent.kill()
        parent.wait(10)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()
    # the watchdog of an orphan: it is no child of ours, so it is gone once it exits
    assert process_gone(child_pid, 3.0), "the chain process outlived its parent"
    with EmbeddedLedger(tmp_path / "chain.sqlite") as ledger:
        assert ledger.block_number() in (head, head + 1)
        check = verify_embedded_chain(ledger, replay=True)
        assert check.head_number == ledger.block_number()
