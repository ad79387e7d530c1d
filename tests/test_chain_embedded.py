"""The embedded ledger backend: batches mined as blocks, restarts, refused transactions."""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import vyper
from eth_account import Account

from gridledger.chain.backend import LedgerBackend
from gridledger.chain.embedded.node import EmbeddedLedger
from gridledger.chain.embedded.verify import verify_embedded_chain
from gridledger.errors import ContractError, LedgerError, VerificationError
from gridledger.identity import keccak

STORE_SOURCE = """
event Stored:
    who: indexed(address)
    value: uint256

event Touched:
    value: uint256

x: public(uint256)

@external
def set(v: uint256):
    assert v != 13, "unlucky"
    self.x = v
    log Stored(who=msg.sender, value=v)

@external
def touch(v: uint256):
    log Touched(value=v)
"""

STORED_TOPIC = keccak(b"Stored(address,uint256)")
TOUCHED_TOPIC = keccak(b"Touched(uint256)")
SET = keccak(b"set(uint256)")[:4]
TOUCH = keccak(b"touch(uint256)")[:4]
X = keccak(b"x()")[:4]


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


@pytest.fixture(scope="module")
def store_code() -> bytes:
    out = vyper.compile_code(STORE_SOURCE, output_formats=["bytecode"])
    return bytes.fromhex(out["bytecode"][2:])


class Signer:
    """A dev account that signs EIP-1559 transactions for one ledger."""

    def __init__(self, ledger: EmbeddedLedger, seed: int = 1) -> None:
        self.account = Account.from_key(keccak(b"test key %d" % seed))
        self.address = bytes.fromhex(self.account.address[2:])
        self.ledger = ledger
        self.next_nonce = ledger.nonce(self.address)

    def tx(
        self, to: bytes | None, data: bytes = b"", gas: int = 200_000, **overrides: Any
    ) -> bytes:
        fields: dict[str, Any] = {
            "nonce": self.next_nonce,
            "gas": gas,
            "maxFeePerGas": self.ledger.gas_price(),
            "maxPriorityFeePerGas": 0,
            "data": data,
            "value": 0,
            "chainId": self.ledger.chain_id,
        }
        if to is not None:
            fields["to"] = to
        fields.update(overrides)
        self.next_nonce = fields["nonce"] + 1
        return bytes(self.account.sign_transaction(fields).raw_transaction)


@pytest.fixture
def chain_path(tmp_path: Path) -> Path:
    return tmp_path / "chain.sqlite"


@pytest.fixture
def ledger(chain_path: Path) -> Iterator[EmbeddedLedger]:
    with EmbeddedLedger(chain_path) as opened:
        yield opened


def deploy(signer: Signer, code: bytes) -> bytes:
    (receipt,) = signer.ledger.send_raw_transactions([signer.tx(None, code, gas=1_000_000)])
    assert receipt.status == 1 and receipt.contract_address is not None
    return receipt.contract_address


def test_is_a_ledger_backend(ledger: EmbeddedLedger) -> None:
    assert isinstance(ledger, LedgerBackend)
    assert ledger.block_number() == 0
    assert ledger.chain_id == 1337
    assert ledger.gas_price() == 0
    assert ledger.block_gas_limit() >= 30_000_000


def test_genesis_is_fixed(tmp_path: Path) -> None:
    with EmbeddedLedger(tmp_path / "a.sqlite") as a, EmbeddedLedger(tmp_path / "b.sqlite") as b:
        genesis = a.genesis_hash
        assert b.genesis_hash == genesis
    with EmbeddedLedger(tmp_path / "a.sqlite") as again:
        assert again.genesis_hash == genesis
    with EmbeddedLedger(tmp_path / "c.sqlite", chain_id=7) as other:
        assert other.genesis_hash != genesis


def test_batch_is_one_block_with_logs_and_revert_reason(
    ledger: EmbeddedLedger, store_code: bytes
) -> None:
    signer = Signer(ledger)
    contract = deploy(signer, store_code)
    head = ledger.block_number()
    receipts = ledger.send_raw_transactions(
        [signer.tx(contract, SET + word(v), gas=100_000) for v in range(10, 20)]
    )
    assert [r.block_number for r in receipts] == [head + 1] * 10
    assert ledger.block_number() == head + 1
    reverted = receipts[3]
    assert reverted.status == 0 and reverted.revert_reason == "unlucky" and not reverted.logs
    assert all(r.status == 1 for i, r in enumerate(receipts) if i != 3)
    assert receipts[0].logs[0].topics == (STORED_TOPIC, bytes(12) + signer.address)
    assert receipts[0].gas_used > 21_000
    assert ledger.call(contract, X) == word(19)
    logs = ledger.get_logs(contract, topic0=STORED_TOPIC)
    assert [int.from_bytes(lg.data, "big") for lg in logs] == [v for v in range(10, 20) if v != 13]
    assert [lg.log_index for lg in logs] == list(range(9))
    assert ledger.get_logs(contract, topic0=TOUCHED_TOPIC) == []
    assert ledger.get_logs(contract, 0, head) == []


def test_call_and_estimate_gas(ledger: EmbeddedLedger, store_code: bytes) -> None:
    signer = Signer(ledger)
    contract = deploy(signer, store_code)
    gas = ledger.estimate_gas(contract, SET + word(5), signer.address)
    (receipt,) = ledger.send_raw_transactions([signer.tx(contract, SET + word(5), gas=gas)])
    assert receipt.status == 1 and receipt.gas_used <= gas
    with pytest.raises(ContractError) as failed:
        ledger.estimate_gas(contract, SET + word(13), signer.address)
    assert failed.value.reason == "unlucky"
    with pytest.raises(ContractError, match="unlucky"):
        ledger.call(contract, SET + word(13))
    assert ledger.estimate_gas(None, store_code, signer.address) > 50_000


def test_restart_keeps_head_state_logs_and_receipts(chain_path: Path, store_code: bytes) -> None:
    with EmbeddedLedger(chain_path) as ledger:
        signer = Signer(ledger)
        ledger.fund(signer.address, 10**18)
        contract = deploy(signer, store_code)
        receipts = ledger.send_raw_transactions(
            [signer.tx(contract, SET + word(v)) for v in (1, 13, 3)]
        )
        head, head_hash = ledger.block_number(), ledger.head().hash
        logs = ledger.get_logs(contract)
    with EmbeddedLedger(chain_path) as ledger:
        assert ledger.block_number() == head and ledger.head().hash == head_hash
        assert ledger.balance(signer.address) == 10**18
        assert ledger.nonce(signer.address) == 4
        assert ledger.call(contract, X) == word(3)
        assert ledger.get_logs(contract) == logs
        assert [ledger.receipt(r.tx_hash) for r in receipts] == receipts
        assert ledger.receipt(b"\x00" * 32) is None
        check = verify_embedded_chain(ledger, replay=True)
        assert check.head_number == head and check.replayed_blocks == head
        signer = Signer(ledger)
        (more,) = ledger.send_raw_transactions([signer.tx(contract, SET + word(4))])
        assert more.block_number == head + 1


def test_gas_limit_packs_as_few_blocks_as_fit(tmp_path: Path, store_code: bytes) -> None:
    with EmbeddedLedger(tmp_path / "small.sqlite", gas_limit=1_000_000) as ledger:
        signer = Signer(ledger)
        contract = deploy(signer, store_code)
        start = ledger.block_number()
        receipts = ledger.send_raw_transactions(
            [signer.tx(contract, TOUCH + word(v), gas=300_000) for v in range(7)]
        )
        assert [r.block_number - start for r in receipts] == [1, 1, 1, 2, 2, 2, 3]
        assert [lg.log_index for lg in ledger.get_logs(contract, start + 2, start + 2)] == [0, 1, 2]
        with pytest.raises(LedgerError, match="more than a block holds"):
            ledger.send_raw_transactions([signer.tx(contract, TOUCH, gas=1_000_001)])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda s, c: b"\x02garbage", "not a signed Ethereum transaction"),
        (lambda s, c: s.tx(c, SET + word(1), nonce=5), "has nonce 5, expected"),
        (lambda s, c: s.tx(c, SET + word(1), chainId=1), "chain id 1"),
        (lambda s, c: s.tx(c, SET + word(1), value=10**30), "insufficient funds"),
        (lambda s, c: s.tx(c, SET + word(1), maxFeePerGas=10**12), "insufficient funds"),
        (lambda s, c: _high_s(s.tx(c, SET + word(1))), "bad signature"),
    ],
)
def test_refused_batch_changes_nothing(
    ledger: EmbeddedLedger, store_code: bytes, make: Any, message: str
) -> None:
    signer = Signer(ledger)
    contract = deploy(signer, store_code)
    good = signer.tx(contract, SET + word(7))
    bad = make(signer, contract)
    head = ledger.head()
    with pytest.raises(LedgerError, match=message):
        ledger.send_raw_transactions([good, bad])
    assert ledger.head() == head
    assert ledger.call(contract, X) == word(0)
    assert ledger.nonce(signer.address) == 1
    (receipt,) = ledger.send_raw_transactions([good])
    assert receipt.status == 1 and ledger.call(contract, X) == word(7)
    verify_embedded_chain(ledger, replay=True)


def _high_s(raw: bytes) -> bytes:
    # an EIP-1559 raw transaction ends with s as 0xa0 and 32 bytes: make s larger than the order
    assert raw[-33] == 0xA0
    return raw[:-32] + b"\xff" * 32


def test_fund_and_arguments(ledger: EmbeddedLedger) -> None:
    who = b"\x42" * 20
    ledger.fund(who, 123)
    ledger.fund(who, 7)
    assert ledger.balance(who) == 130 and ledger.block_number() == 2
    with pytest.raises(LedgerError, match="20 raw bytes"):
        ledger.balance(b"\x42" * 19)
    with pytest.raises(LedgerError, match="non-negative"):
        ledger.fund(who, -1)


def test_one_holder_per_file_and_settings_must_match(chain_path: Path) -> None:
    with (
        EmbeddedLedger(chain_path, chain_id=99, gas_limit=40_000_000),
        pytest.raises(LedgerError, match="already open"),
    ):
        EmbeddedLedger(chain_path)
    with pytest.raises(LedgerError, match="created with chain_id=99"):
        EmbeddedLedger(chain_path, chain_id=1337)
    with EmbeddedLedger(chain_path) as reopened:
        assert reopened.chain_id == 99 and reopened.block_gas_limit() == 40_000_000
    closed = EmbeddedLedger(chain_path)
    closed.close()
    with pytest.raises(LedgerError, match="closed"):
        closed.block_number()


def test_threads_take_turns(ledger: EmbeddedLedger, store_code: bytes) -> None:
    signer = Signer(ledger)
    contract = deploy(signer, store_code)
    batches = [[signer.tx(contract, TOUCH + word(b * 10 + i)) for i in range(10)] for b in range(5)]
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                ledger.block_number()
                ledger.balance(signer.address)
                ledger.get_logs(contract, topic0=TOUCHED_TOPIC)
                ledger.call(contract, X)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for batch in batches:
            ledger.send_raw_transactions(batch)
    finally:
        done.set()
        for thread in readers:
            thread.join()
    assert errors == []
    assert len(ledger.get_logs(contract, topic0=TOUCHED_TOPIC)) == 50


def test_legacy_transactions_empty_batches_and_failed_deploys(
    ledger: EmbeddedLedger, store_code: bytes
) -> None:
    signer = Signer(ledger)
    contract = deploy(signer, store_code)
    legacy = signer.account.sign_transaction(
        {
            "nonce": signer.next_nonce,
            "gas": 100_000,
            "gasPrice": 0,
            "to": contract,
            "data": SET + word(8),
            "value": 0,
            "chainId": ledger.chain_id,
        }
    )
    (receipt,) = ledger.send_raw_transactions([bytes(legacy.raw_transaction)])
    assert receipt.status == 1 and ledger.call(contract, X) == word(8)
    head = ledger.block_number()
    assert ledger.send_raw_transactions([]) == []
    assert ledger.block_number() == head
    signer.next_nonce += 1
    # init code that reverts at once (PUSH0 PUSH0 REVERT): status 0, no contract
    (failed,) = ledger.send_raw_transactions([signer.tx(None, bytes.fromhex("5f5ffd"))])
    assert failed.status == 0 and failed.contract_address is None
    assert failed.revert_reason == "reverted without a reason"


def test_verify_finds_damage(chain_path: Path, store_code: bytes) -> None:
    with EmbeddedLedger(chain_path) as ledger:
        signer = Signer(ledger)
        contract = deploy(signer, store_code)
        ledger.send_raw_transactions([signer.tx(contract, SET + word(v)) for v in (1, 2, 3)])
        check = verify_embedded_chain(ledger, replay=True)
        assert check.accounts == 3 and check.storage_slots == 1 and check.trie_nodes >= 3
        state_root = ledger.head().state_root
        parent_hash = ledger.head().parent_hash
    with closing(sqlite3.connect(chain_path)) as conn, conn:
        (node,) = conn.execute("SELECT value FROM kv WHERE key = ?", (state_root,)).fetchone()
        conn.execute("UPDATE kv SET value = ? WHERE key = ?", (node + b"\x00", state_root))
    with EmbeddedLedger(chain_path) as ledger, pytest.raises(VerificationError, match="hash"):
        verify_embedded_chain(ledger)
    with closing(sqlite3.connect(chain_path)) as conn, conn:
        conn.execute("DELETE FROM kv WHERE key = ?", (parent_hash,))
    with EmbeddedLedger(chain_path) as ledger, pytest.raises(VerificationError, match="missing"):
        verify_embedded_chain(ledger)


def test_mining_pauses_the_collector_and_restores_it(
    ledger: EmbeddedLedger, store_code: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = Signer(ledger)
    contract = deploy(signer, store_code)
    seen: list[bool] = []
    real_mine_all = ledger._chain.mine_all

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        if len(seen) == 2:
            raise RuntimeError("crash inside the block")
        return real_mine_all(*args, **kwargs)

    monkeypatch.setattr(ledger._chain, "mine_all", spy)
    assert gc.isenabled()
    ledger.send_raw_transactions([signer.tx(contract, SET + word(1))])
    assert seen == [False] and gc.isenabled()
    # a batch that fails while mining restores it too, and changes nothing
    with pytest.raises(RuntimeError, match="crash inside"):
        ledger.send_raw_transactions([signer.tx(contract, SET + word(2))])
    assert gc.isenabled() and ledger.call(contract, X) == word(1)
    # a collector the caller had turned off stays off
    signer.next_nonce -= 1
    gc.disable()
    try:
        ledger.send_raw_transactions([signer.tx(contract, SET + word(3))])
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert seen == [False, False, False] and ledger.call(contract, X) == word(3)
