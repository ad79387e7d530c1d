"""SIGKILL the embedded chain between and during batches: what a caller was told survives, intact.

A child process mines batches of ``touch(n)`` transactions (n counts up across batches and runs)
and, after each ``send_raw_transactions`` returns, appends the receipts to a journal and flushes
it. The parent kills it with SIGKILL at random moments (or, deterministically, inside the SQL
commit of a batch), reopens the chain and checks: every journaled receipt is on the chain with the
same block and status; every block holds a whole batch; the event counter has no gap and no
duplicate; the header chain, the state trie and a full replay from genesis verify.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import vyper

from gridledger.chain.embedded.node import EmbeddedLedger
from gridledger.chain.embedded.verify import verify_embedded_chain
from gridledger.identity import keccak

BATCH = 40

COUNTER_SOURCE = """
event Touched:
    value: uint256

last: public(uint256)

@external
def touch(v: uint256):
    self.last = v
    log Touched(value=v)
"""

CHILD = r"""
import json, os, signal, sys
from eth_account import Account
from gridledger.identity import keccak
from gridledger.chain.embedded.node import EmbeddedLedger

path, journal_path, code_hex = sys.argv[1:4]
kill_at_commit = int(sys.argv[4])
BATCH = int(os.environ["BATCH"])
account = Account.from_key(keccak(b"crash test"))
me = bytes.fromhex(account.address[2:])
ledger = EmbeddedLedger(path, synchronous="NORMAL")
commits = 0

class KillingConnection:
    def __init__(self, conn):
        self._conn = conn
    def __getattr__(self, name):
        return getattr(self._conn, name)
    def execute(self, sql, *args):
        global commits
        if sql == "COMMIT":
            commits += 1
            if commits == kill_at_commit:
                os.kill(os.getpid(), signal.SIGKILL)
        return self._conn.execute(sql, *args)

ledger._kv._conn = KillingConnection(ledger._kv._conn)

def sign(nonce, to, data, gas):
    fields = dict(nonce=nonce, gas=gas, maxFeePerGas=0, maxPriorityFeePerGas=0, data=data,
                  value=0, chainId=ledger.chain_id)
    if to is not None:
        fields["to"] = to
    return bytes(account.sign_transaction(fields).raw_transaction)

journal = open(journal_path, "a")
nonce = ledger.nonce(me)
if nonce == 0:
    (receipt,) = ledger.send_raw_transactions([sign(0, None, bytes.fromhex(code_hex), 500_000)])
    journal.write(json.dumps({"contract": receipt.contract_address.hex()}) + "\n")
    journal.flush()
    nonce = 1
contract = None
for line in open(journal_path):
    if "contract" in line:
        contract = bytes.fromhex(json.loads(line)["contract"])
counter = len(ledger.get_logs(contract))
touch = keccak(b"touch(uint256)")[:4]
while True:
    raws = [sign(nonce + i, contract, touch + (counter + i).to_bytes(32, "big"), 60_000)
            for i in range(BATCH)]
    receipts = ledger.send_raw_transactions(raws)
    nonce += BATCH
    counter += BATCH
    rows = [[r.tx_hash.hex(), r.block_number, r.status] for r in receipts]
    journal.write(json.dumps(rows) + "\n")
    journal.flush()
"""


@pytest.fixture(scope="module")
def counter_code() -> bytes:
    out = vyper.compile_code(COUNTER_SOURCE, output_formats=["bytecode"])
    return bytes.fromhex(out["bytecode"][2:])


def _run_child(chain: Path, journal: Path, code: bytes, kill_after_s: float, kill_at: int) -> None:
    env = dict(os.environ, BATCH=str(BATCH))
    args = [sys.executable, "-c", CHILD, str(chain), str(journal), code.hex(), str(kill_at)]
    child = subprocess.Popen(args, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        if kill_at:  # the child kills itself inside its kill_at-th commit
            _, err = child.communicate(timeout=60)
            assert child.returncode == -signal.SIGKILL, err.decode()
            return
        # wait until the child mines (the journal has the contract line), then a random moment
        while not journal.exists() or journal.stat().st_size == 0:
            assert child.poll() is None, child.communicate()[1].decode()
            assert time.monotonic() < deadline, "child did not start mining"
            time.sleep(0.02)
        time.sleep(kill_after_s)
        assert child.poll() is None, child.communicate()[1].decode()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stderr is not None:
            child.stderr.close()


def _check(chain: Path, journal: Path) -> int:
    lines = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    contract = bytes.fromhex(lines[0]["contract"])
    batches = lines[1:]
    with EmbeddedLedger(chain) as ledger:
        for batch in batches:
            blocks = {number for _, number, _ in batch}
            assert len(blocks) == 1, "a batch of this size is one block"
            for tx_hash, number, status in batch:
                receipt = ledger.receipt(bytes.fromhex(tx_hash))
                assert receipt is not None, f"journaled transaction {tx_hash} lost"
                assert (receipt.block_number, receipt.status) == (number, status)
        logs = ledger.get_logs(contract)
        values = [int.from_bytes(log.data, "big") for log in logs]
        assert values == list(range(len(values))), "events have a gap or a duplicate"
        assert len(values) >= BATCH * len(batches)
        assert len(values) % BATCH == 0, "a half batch is on the chain"
        per_block: dict[int, int] = {}
        for log in logs:
            per_block[log.block_number] = per_block.get(log.block_number, 0) + 1
        assert set(per_block.values()) <= {BATCH}
        last = int.from_bytes(ledger.call(contract, keccak(b"last()")[:4]), "big")
        assert last == (values[-1] if values else 0)
        check = verify_embedded_chain(ledger, replay=True)
        assert check.replayed_blocks == ledger.block_number()
        return len(values)


def test_sigkill_between_and_during_batches(tmp_path: Path, counter_code: bytes) -> None:
    chain = tmp_path / "chain.sqlite"
    journal = tmp_path / "journal.jsonl"
    rng = random.Random(5)
    seen = 0
    # random kills (mostly during mining or between batches), then kills inside the SQL commit
    plan = [(rng.uniform(0.05, 0.6), 0) for _ in range(4)] + [(0.0, 2), (0.0, 1)]
    for kill_after_s, kill_at in plan:
        _run_child(chain, journal, counter_code, kill_after_s, kill_at)
        events = _check(chain, journal)
        assert events >= seen
        seen = events
    assert seen >= BATCH
