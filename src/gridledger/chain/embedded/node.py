"""The ``embedded`` ledger backend: py-evm in this process, its chain persisted in one SQLite file.

Open a chain file (created with a fixed genesis when missing, resumed from its stored head
otherwise), hand it batches of signed raw transactions, and read state, calls and logs::

    ledger = EmbeddedLedger("var/chain.sqlite")        # or EmbeddedLedger.open(path), same thing
    ledger.fund(address, 10**18)
    receipts = ledger.send_raw_transactions([raw1, raw2, ...])   # one block per batch
    ledger.close()

How it persists (see also ``docs/architecture.md``, "Embedded chain"):

* py-evm's whole database (headers, bodies, receipts, state trie) lives in a key-value table of the
  SQLite file (:mod:`gridledger.chain.embedded.db`); an index of transactions and logs sits next to
  it. A call to :meth:`EmbeddedLedger.send_raw_transactions` is written in **one** SQL transaction
  after all its blocks are mined: a crash leaves the old head or the new one, never half a batch,
  and the receipts a caller got are on disk (``synchronous=FULL`` by default: this also holds
  across a power cut).
* A batch is checked before anything runs (decoding, signature, chain id, nonces, gas, funds); a
  refused batch raises :class:`~gridledger.errors.LedgerError` and leaves the chain untouched.
* The rules (Cancun EVM, zero base fee, constant gas limit, fixed genesis) are in
  :mod:`gridledger.chain.embedded.vm`.

Only one :class:`EmbeddedLedger` may hold a chain file at a time (an exclusive ``flock`` on
``<file>.lock``, released by the OS even after SIGKILL). Its methods may be called from several
threads: they take turns on one lock.
"""

from __future__ import annotations

import functools
import gc
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

from eth.abc import BlockHeaderAPI, SignedTransactionAPI, StateAPI
from eth.db.atomic import AtomicDB
from eth.db.trie import _make_trie_root_and_nodes
from eth.vm.chain_context import ChainContext
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address, BlockNumber
from eth_utils.exceptions import ValidationError as EthValidationError

from gridledger.chain.backend import Log, Receipt
from gridledger.chain.embedded.db import (
    SCHEMA_VERSION,
    LogRow,
    SQLiteKV,
    Synchronous,
    TxRow,
    lock_chain_file,
)
from gridledger.chain.embedded.vm import (
    BASE_FEE_WEI,
    DEFAULT_GAS_LIMIT,
    FAUCET_ADDRESS,
    FAUCET_PRIVATE_KEY,
    GridLedgerVM,
    chain_class,
    computation_error,
    estimate_gas,
    genesis_params,
    genesis_state,
)
from gridledger.errors import ContractError, LedgerError

DEFAULT_CHAIN_ID = 1337
_TX_BUILDER = GridLedgerVM.get_transaction_builder()


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _serialized(method: _Method) -> _Method:
    """Run ``method`` under the ledger's lock: one thread at a time uses the chain."""

    @functools.wraps(method)
    def locked(self: EmbeddedLedger, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            return method(self, *args, **kwargs)

    return cast(_Method, locked)


def _address(value: bytes | None, title: str) -> Address:
    if not isinstance(value, bytes | bytearray) or len(value) != 20:
        raise LedgerError(f"{title} must be 20 raw bytes, got {value!r}")
    return Address(bytes(value))


def use_fast_keccak() -> bool:
    """Point py-evm's and py-trie's shared Keccak (``eth_hash.auto.keccak``) at safe-pysha3.

    eth-hash picks pycryptodome first when both backends are installed; pysha3 hashes the short
    trie nodes of a settlement about 3x faster (15-20% of a 1,000-household slot). The digest is
    the same Keccak-256, so chain data does not change. Returns whether pysha3 is in use.
    """
    try:
        from sha3 import keccak_256
    except ImportError:  # the `fast` extra is not installed; stay on the default backend
        return False
    from eth_hash.auto import keccak

    def pysha3_keccak(in_data: bytearray | bytes) -> bytes:
        return keccak_256(in_data).digest()  # type: ignore[no-any-return]

    keccak.hasher = pysha3_keccak
    return True


def _expected_genesis_hash(chain_id: int, gas_limit: int) -> bytes:
    chain = chain_class(chain_id).from_genesis(
        AtomicDB(), genesis_params(chain_id, gas_limit), genesis_state()
    )
    return chain.get_canonical_block_header_by_number(BlockNumber(0)).hash


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch is mined.

    Mining allocates hundreds of thousands of short-lived lists (RLP items, trie nodes, stack
    words) that are freed by reference counting; the collector's generation-0/1 passes they
    trigger would only rescan the heap: measured with ``gc.callbacks``, 0.03-0.11 s of a
    500-trade slot's ~1 s, the larger figure when a full (generation-2) pass falls inside it. The
    pause is process-wide but bounded by one batch; the previous state is restored after it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class EmbeddedLedger:
    """A :class:`~gridledger.chain.backend.LedgerBackend` running py-evm over one SQLite file.

    ``chain_id`` and ``gas_limit`` [gas] apply when the file is created; for an existing file they
    default to the stored values and must match them when given. ``synchronous`` is SQLite's
    durability level: ``FULL`` (default) survives power cuts, ``NORMAL`` survives process crashes
    (SIGKILL) and saves one fsync per batch. ``lock_wait_s`` [s] is how long to wait for a chain
    file another process holds (default 0: refuse at once); the chain process of
    :mod:`gridledger.chain.process` waits, since the child of a killed server may still be
    exiting.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        chain_id: int | None = None,
        gas_limit: int | None = None,
        synchronous: Synchronous = "FULL",
        lock_wait_s: float = 0.0,
    ) -> None:
        use_fast_keccak()
        self.path = Path(path)
        self._mutex = threading.RLock()
        self._lock_file = lock_chain_file(self.path, lock_wait_s)
        try:
            self._kv = SQLiteKV(self.path, synchronous)
            try:
                self._chain_id, self._gas_limit = self._open_chain(chain_id, gas_limit)
            except BaseException:
                self._kv.close()
                raise
        except BaseException:
            self._lock_file.close()
            raise
        self._chain_context = ChainContext(self._chain_id)
        self._closed = False

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: Any) -> EmbeddedLedger:
        """Open (or create) the chain in ``path``; time this to measure a restart."""
        return cls(path, **options)

    # --- opening --------------------------------------------------------------------------

    def _open_chain(self, chain_id: int | None, gas_limit: int | None) -> tuple[int, int]:
        kv = self._kv
        stored_genesis = kv.get_meta("genesis_hash")
        if stored_genesis is None:
            cid = DEFAULT_CHAIN_ID if chain_id is None else chain_id
            limit = DEFAULT_GAS_LIMIT if gas_limit is None else gas_limit
            if not 0 < cid < 2**64 or limit < 5000:
                raise LedgerError(f"chain_id must be > 0 and gas_limit >= 5000, got {cid}, {limit}")
            chain = chain_class(cid).from_genesis(kv, genesis_params(cid, limit), genesis_state())
            genesis_hash = chain.get_canonical_block_header_by_number(BlockNumber(0)).hash
            kv.commit(
                meta={
                    "schema": str(SCHEMA_VERSION).encode(),
                    "chain_id": str(cid).encode(),
                    "gas_limit": str(limit).encode(),
                    "genesis_hash": genesis_hash,
                }
            )
        else:
            schema = int(kv.get_meta("schema") or b"0")
            if schema != SCHEMA_VERSION:
                raise LedgerError(
                    f"the embedded chain {self.path} has file layout {schema}, this gridledger "
                    f"reads layout {SCHEMA_VERSION}; use the gridledger version that wrote it"
                )
            cid = int(kv.get_meta("chain_id") or b"0")
            limit = int(kv.get_meta("gas_limit") or b"0")
            for name, given, stored in (
                ("chain_id", chain_id, cid),
                ("gas_limit", gas_limit, limit),
            ):
                if given is not None and given != stored:
                    raise LedgerError(
                        f"the embedded chain {self.path} was created with {name}={stored}, not "
                        f"{given}; open it without {name} or use a new file"
                    )
            if _expected_genesis_hash(cid, limit) != stored_genesis:
                raise LedgerError(
                    f"the embedded chain {self.path} has a genesis block this gridledger version "
                    "does not produce; it was made by another version: use a new file"
                )
        self._chain = chain_class(cid)(kv)
        if self._chain.get_canonical_block_header_by_number(BlockNumber(0)).hash != kv.get_meta(
            "genesis_hash"
        ):
            raise LedgerError(f"the embedded chain {self.path} is damaged: genesis block mismatch")
        return cid, limit

    # --- reading --------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        """The chain id transactions and EIP-712 domains must carry."""
        return self._chain_id

    def block_gas_limit(self) -> int:
        """Gas limit of the next block [gas] (constant: the genesis value)."""
        return self._gas_limit

    @_serialized
    def head(self) -> BlockHeaderAPI:
        """Header of the latest mined block."""
        self._check_open()
        return self._chain.get_canonical_head()

    @_serialized
    def block_number(self) -> int:
        """Number of the latest mined block."""
        return int(self.head().block_number)

    @property
    def genesis_hash(self) -> bytes:
        """Hash of block 0."""
        with self._mutex:
            self._check_open()
            return bytes(self._chain.get_canonical_block_header_by_number(BlockNumber(0)).hash)

    def _state(self) -> StateAPI:
        return GridLedgerVM.build_state(self._kv, self.head(), self._chain_context)

    @_serialized
    def nonce(self, address: bytes) -> int:
        """Next transaction nonce of ``address`` (mined transactions; there is no pending pool)."""
        return int(self._state().get_nonce(_address(address, "address")))

    def gas_price(self) -> int:
        """Gas price the next block accepts [wei]: the constant base fee (0)."""
        return BASE_FEE_WEI

    @_serialized
    def balance(self, address: bytes) -> int:
        """Native-currency balance of ``address`` [wei]."""
        return int(self._state().get_balance(_address(address, "address")))

    @_serialized
    def code(self, address: bytes) -> bytes:
        """Contract code at ``address`` (empty for plain accounts)."""
        return bytes(self._state().get_code(_address(address, "address")))

    @_serialized
    def storage(self, address: bytes, slot: int) -> int:
        """Value of a storage slot of ``address`` at the head."""
        return int(self._state().get_storage(_address(address, "address"), slot))

    # --- calls ----------------------------------------------------------------------------

    def _spoof(self, to: Address | None, data: bytes, sender: Address, gas: int) -> Any:
        unsigned = GridLedgerVM.create_unsigned_transaction(
            nonce=self.nonce(sender),
            gas_price=0,
            gas=gas,
            to=to or Address(b""),
            value=0,
            data=data,
        )
        return SpoofTransaction(unsigned, from_=sender)

    def _costless_state(self) -> AbstractContextManager[StateAPI]:
        return self._chain.get_vm(self.head()).in_costless_state()

    @_serialized
    def call(self, to: bytes, data: bytes, sender: bytes | None = None) -> bytes:
        """Execute a read-only call against the head state; raises ``ContractError`` on revert."""
        self._check_open()
        tx = self._spoof(
            _address(to, "to"),
            bytes(data),
            Address(b"\x00" * 20) if sender is None else _address(sender, "sender"),
            self._gas_limit,
        )
        with self._costless_state() as state:
            computation = state.costless_execute_transaction(tx)
        if computation.is_error:
            reason = computation_error(computation)
            raise ContractError(f"call to 0x{to.hex()} failed: {reason}", reason)
        return bytes(computation.output)

    @_serialized
    def estimate_gas(self, to: bytes | None, data: bytes, sender: bytes) -> int:
        """Gas a transaction would use now [gas]; raises ``ContractError`` on revert."""
        self._check_open()
        target = None if to is None else _address(to, "to")
        who = _address(sender, "sender")
        return estimate_gas(
            self._costless_state,
            lambda gas: self._spoof(target, bytes(data), who, gas),
            self._gas_limit,
        )

    # --- logs and receipts ----------------------------------------------------------------

    @_serialized
    def get_logs(
        self,
        address: bytes | None,
        from_block: int = 0,
        to_block: int | None = None,
        topic0: bytes | None = None,
    ) -> list[Log]:
        """Logs emitted by ``address`` (``None``: any) in the block range (inclusive),
        optionally by event topic."""
        self._check_open()
        last = self.block_number() if to_block is None else to_block
        where = None if address is None else _address(address, "address")
        rows = self._kv.iter_logs(where, from_block, last, topic0)
        return [_log(row) for row in rows]

    @_serialized
    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The receipt of a mined transaction (an index lookup, no block scan), or None."""
        self._check_open()
        row = self._kv.get_tx(bytes(tx_hash))
        if row is None:
            return None
        logs = self._kv.iter_logs(None, row.block_number, row.block_number, tx_hash=row.tx_hash)
        return _receipt(row, tuple(_log(lg) for lg in logs))

    # --- writing --------------------------------------------------------------------------

    @_serialized
    def send_raw_transactions(self, raw_transactions: Sequence[bytes]) -> list[Receipt]:
        """Check, mine and persist signed transactions; one block per batch when the gas fits.

        The whole batch is refused with ``LedgerError`` (and nothing recorded) when any
        transaction cannot be decoded, has a bad signature or chain id, a nonce out of sequence,
        more gas than a block holds, or a sender without the funds for value plus gas.
        """
        self._check_open()
        transactions = self._decode_and_check(raw_transactions)
        return self._mine(transactions)

    @_serialized
    def fund(self, address: bytes, amount_wei: int) -> None:
        """Send ``amount_wei`` [wei] to ``address`` from the genesis faucet, in a mined block."""
        self._check_open()
        target = _address(address, "address")
        if not isinstance(amount_wei, int) or amount_wei < 0:
            raise LedgerError(f"amount_wei must be a non-negative int, got {amount_wei!r}")
        if amount_wei > self.balance(FAUCET_ADDRESS):
            raise LedgerError(f"the faucet holds less than {amount_wei} wei; fund less")
        unsigned = GridLedgerVM.create_unsigned_transaction(
            nonce=self.nonce(FAUCET_ADDRESS),
            gas_price=BASE_FEE_WEI,
            gas=21_000,
            to=target,
            value=amount_wei,
            data=b"",
        )
        self._mine([unsigned.as_signed_transaction(FAUCET_PRIVATE_KEY, chain_id=self._chain_id)])

    def _decode_and_check(self, raw_transactions: Sequence[bytes]) -> list[SignedTransactionAPI]:
        state = self._state()
        nonces: dict[bytes, int] = {}
        budgets: dict[bytes, int] = {}
        transactions: list[SignedTransactionAPI] = []
        for i, raw in enumerate(raw_transactions):
            where = f"transaction {i} of the batch"
            try:
                tx = _TX_BUILDER.decode(bytes(raw))
            except Exception as exc:
                raise LedgerError(f"{where} is not a signed Ethereum transaction: {exc}") from exc
            if getattr(tx, "type_id", None) == 3:
                raise LedgerError(f"{where} is a blob transaction (EIP-4844): not supported here")
            try:
                tx.check_signature_validity()
                sender = tx.sender
            except Exception as exc:
                raise LedgerError(f"{where} has a bad signature: {exc}; re-sign it") from exc
            try:
                tx.validate()
            except Exception as exc:
                raise LedgerError(f"{where} is malformed: {exc}") from exc
            tx_chain_id = getattr(tx, "chain_id", None)
            if tx_chain_id != self._chain_id:
                raise LedgerError(
                    f"{where} is signed for chain id {tx_chain_id}, this chain is "
                    f"{self._chain_id}; sign with chain_id={self._chain_id} (EIP-155)"
                )
            expected = nonces.get(sender)
            if expected is None:
                expected = state.get_nonce(sender)
            if tx.nonce != expected:
                raise LedgerError(
                    f"{where} from 0x{sender.hex()} has nonce {tx.nonce}, expected {expected}; "
                    "use nonce() and count up within the batch"
                )
            nonces[sender] = expected + 1
            if tx.gas > self._gas_limit:
                raise LedgerError(
                    f"{where} asks for {tx.gas} gas, more than a block holds ({self._gas_limit})"
                )
            if tx.max_fee_per_gas < BASE_FEE_WEI:
                raise LedgerError(f"{where} pays less than the base fee {BASE_FEE_WEI} wei/gas")
            budget = budgets.get(sender)
            if budget is None:
                budget = state.get_balance(sender)
            cost = tx.gas * tx.max_fee_per_gas + tx.value
            if cost > budget:
                raise LedgerError(
                    f"{where}: insufficient funds: 0x{sender.hex()} has {budget} wei left, the "
                    f"transaction may cost {cost} wei (gas x max fee + value); fund the account"
                )
            budgets[sender] = budget - cost
            transactions.append(tx)
        return transactions

    def _pack(
        self, transactions: Sequence[SignedTransactionAPI]
    ) -> list[list[SignedTransactionAPI]]:
        blocks: list[list[SignedTransactionAPI]] = []
        gas = 0
        for tx in transactions:
            if not blocks or gas + tx.gas > self._gas_limit:
                blocks.append([])
                gas = 0
            blocks[-1].append(tx)
            gas += tx.gas
        return blocks

    def _mine(self, transactions: Sequence[SignedTransactionAPI]) -> list[Receipt]:
        chain = self._chain
        receipts: list[Receipt] = []
        tx_rows: list[TxRow] = []
        log_rows: list[LogRow] = []
        try:
            with _gc_paused():
                for block_txs in self._pack(transactions):
                    parent = chain.get_canonical_head()
                    chain.header = chain.create_header_from_parent(
                        parent, timestamp=max(int(time.time()), parent.timestamp + 1)
                    )
                    result, evm_receipts, computations = chain.mine_all(block_txs)
                    number = int(result.imported_block.header.block_number)
                    log_index = 0
                    cumulative = 0
                    for index, (tx, evm_receipt, computation) in enumerate(
                        zip(block_txs, evm_receipts, computations, strict=True)
                    ):
                        gas_used = evm_receipt.gas_used - cumulative
                        cumulative = evm_receipt.gas_used
                        ok = not computation.is_error
                        created = computation.msg.storage_address if ok and not tx.to else None
                        row = TxRow(
                            tx_hash=bytes(tx.hash),
                            block_number=number,
                            tx_index=index,
                            status=1 if ok else 0,
                            gas_used=gas_used,
                            contract_address=None if created is None else bytes(created),
                            revert_reason=None if ok else computation_error(computation),
                        )
                        logs: list[LogRow] = []
                        for evm_log in evm_receipt.logs:
                            logs.append(
                                LogRow(
                                    block_number=number,
                                    log_index=log_index,
                                    address=bytes(evm_log.address),
                                    topics=tuple(t.to_bytes(32, "big") for t in evm_log.topics),
                                    data=bytes(evm_log.data),
                                    tx_hash=row.tx_hash,
                                )
                            )
                            log_index += 1
                        tx_rows.append(row)
                        log_rows.extend(logs)
                        receipts.append(_receipt(row, tuple(_log(lg) for lg in logs)))
            self._kv.commit(tx_rows, log_rows)
        except BaseException as exc:
            self._kv.rollback()
            chain.header = chain.create_header_from_parent(chain.get_canonical_head())
            if isinstance(exc, EthValidationError):
                raise LedgerError(
                    f"the chain refused the batch while mining it: {exc}; nothing was recorded"
                ) from exc
            raise
        finally:
            # py-evm memoizes the transaction and receipt tries of the last 128 blocks (it builds
            # each twice while mining); a settlement block's are ~1 MB, so drop them per batch.
            _make_trie_root_and_nodes.cache_clear()
        return receipts

    # --- lifecycle ------------------------------------------------------------------------

    @_serialized
    def disk_bytes(self) -> int:
        """Size of the chain file, write-ahead log included [bytes]."""
        return self._kv.file_bytes()

    @_serialized
    def checkpoint(self) -> None:
        """Fold SQLite's write-ahead log into the chain file."""
        self._kv.checkpoint()

    def _check_open(self) -> None:
        if self._closed:
            raise LedgerError(f"the embedded chain {self.path} is closed; open it again")

    @_serialized
    def close(self) -> None:
        """Release the file (pending writes cannot exist between calls: each batch commits)."""
        if self._closed:
            return
        self._closed = True
        self._kv.close()
        self._lock_file.close()

    def __enter__(self) -> EmbeddedLedger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"head #{self.block_number()}"
        return f"EmbeddedLedger({str(self.path)!r}, chain_id={self._chain_id}, {state})"


def _log(row: LogRow) -> Log:
    return Log(
        address=row.address,
        topics=row.topics,
        data=row.data,
        block_number=row.block_number,
        tx_hash=row.tx_hash,
        log_index=row.log_index,
    )


def _receipt(row: TxRow, logs: tuple[Log, ...]) -> Receipt:
    return Receipt(
        tx_hash=row.tx_hash,
        block_number=row.block_number,
        status=row.status,
        gas_used=row.gas_used,
        contract_address=row.contract_address,
        logs=logs,
        revert_reason=row.revert_reason,
    )
