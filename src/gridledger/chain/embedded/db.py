"""The embedded chain's storage: py-evm's key-value database and index tables in one SQLite file.

py-evm keeps everything (headers, bodies, receipts, state trie nodes) in a flat key-value store
(:class:`eth.abc.AtomicDatabaseAPI`). :class:`SQLiteKV` implements it over a ``kv`` table. Every
write lands first in an in-memory *pending* overlay that reads see at once; :meth:`SQLiteKV.commit`
writes the overlay, plus the rows of the index tables, in **one** SQL transaction. The embedded
chain commits once per ``send_raw_transactions`` call (after its blocks are mined), so a crash at
any moment leaves the file at the old head or at the new one, never in between.

Tables::

    kv(key BLOB PRIMARY KEY, value BLOB)                py-evm's database (WITHOUT ROWID)
    meta(name TEXT PRIMARY KEY, value BLOB)             chain_id, gas_limit, genesis_hash, schema
    txs(tx_hash BLOB PRIMARY KEY, block_number, tx_index, status, gas_used,
        contract_address, revert_reason)                one row per mined transaction
    logs(block_number, log_index, address, topic0, tx_hash, topics, data)
                                                        one row per event, indexed by
                                                        (address, topic0, block_number)
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from eth.db.atomic import AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB

from gridledger.errors import LedgerError
from gridledger.wal import enter_wal

SCHEMA_VERSION = 1

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS txs (
    tx_hash BLOB PRIMARY KEY,
    block_number INTEGER NOT NULL,
    tx_index INTEGER NOT NULL,
    status INTEGER NOT NULL,
    gas_used INTEGER NOT NULL,
    contract_address BLOB,
    revert_reason TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    block_number INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    address BLOB NOT NULL,
    topic0 BLOB,
    tx_hash BLOB NOT NULL,
    topics BLOB NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (block_number, log_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logs_by_address ON logs (address, topic0, block_number);
CREATE INDEX IF NOT EXISTS txs_by_block ON txs (block_number, tx_index);
"""


@dataclass(frozen=True)
class TxRow:
    """Index row of one mined transaction (see the ``txs`` table)."""

    tx_hash: bytes
    block_number: int
    tx_index: int
    status: int
    gas_used: int
    contract_address: bytes | None
    revert_reason: str | None


@dataclass(frozen=True)
class LogRow:
    """Index row of one event log; ``log_index`` counts within the block, as on Ethereum."""

    block_number: int
    log_index: int
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    tx_hash: bytes


class SQLiteKV(BaseAtomicDB):
    """py-evm's key-value database over one SQLite file, with a pending overlay committed at once.

    Writes (``db[key] = value``, ``del db[key]``, ``atomic_batch()``) go to the overlay; nothing
    reaches the file before :meth:`commit`. :meth:`rollback` drops the overlay. Not thread-safe by
    itself: :class:`~gridledger.chain.embedded.node.EmbeddedLedger` serializes the calls.
    """

    def __init__(self, path: str | Path, synchronous: Synchronous = "FULL") -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False
            )
            enter_wal(self._conn, timeout_s=10.0)
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(
                f"cannot open the embedded chain file {self.path}: {exc}; check the path and that "
                "no other program holds it"
            ) from exc
        self._pending: dict[bytes, bytes | None] = {}

    # --- key-value interface used by py-evm -------------------------------------------------

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._pending:
            value = self._pending[key]
            if value is None:
                raise KeyError(key)
            return value
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[bytes(key)] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending[bytes(key)] = None

    def _exists(self, key: bytes) -> bool:
        if key in self._pending:
            return self._pending[key] is not None
        row = self._conn.execute("SELECT 1 FROM kv WHERE key = ?", (key,)).fetchone()
        return row is not None

    def atomic_batch(self) -> AbstractContextManager[Any]:
        """A write batch that lands in the pending overlay when its context exits cleanly."""
        return AtomicDBWriteBatch._commit_unless_raises(self)

    # --- commit, rollback, index tables -----------------------------------------------------

    @property
    def pending_keys(self) -> int:
        """Number of key-value writes not yet committed."""
        return len(self._pending)

    def commit(
        self,
        txs: Sequence[TxRow] = (),
        logs: Sequence[LogRow] = (),
        meta: dict[str, bytes] | None = None,
    ) -> None:
        """Write the overlay and the given index rows in one SQL transaction."""
        puts = [(k, v) for k, v in self._pending.items() if v is not None]
        deletes = [(k,) for k, v in self._pending.items() if v is None]
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", puts)
                if deletes:
                    conn.executemany("DELETE FROM kv WHERE key = ?", deletes)
                conn.executemany(
                    "INSERT OR REPLACE INTO txs VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            t.tx_hash,
                            t.block_number,
                            t.tx_index,
                            t.status,
                            t.gas_used,
                            t.contract_address,
                            t.revert_reason,
                        )
                        for t in txs
                    ],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO logs VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            lg.block_number,
                            lg.log_index,
                            lg.address,
                            lg.topics[0] if lg.topics else None,
                            lg.tx_hash,
                            b"".join(lg.topics),
                            lg.data,
                        )
                        for lg in logs
                    ],
                )
                for name, value in (meta or {}).items():
                    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise LedgerError(
                f"cannot write the embedded chain file {self.path}: {exc}; the chain is unchanged "
                "(check free disk space and permissions)"
            ) from exc
        self._pending.clear()

    def rollback(self) -> None:
        """Drop every write since the last commit."""
        self._pending.clear()

    def get_meta(self, name: str) -> bytes | None:
        """A value of the ``meta`` table, or None."""
        row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def get_tx(self, tx_hash: bytes) -> TxRow | None:
        """The index row of a mined transaction, or None when the chain does not have it."""
        row = self._conn.execute("SELECT * FROM txs WHERE tx_hash = ?", (tx_hash,)).fetchone()
        if row is None:
            return None
        return TxRow(
            bytes(row[0]),
            row[1],
            row[2],
            row[3],
            row[4],
            None if row[5] is None else bytes(row[5]),
            row[6],
        )

    def iter_logs(
        self,
        address: bytes | None,
        from_block: int,
        to_block: int,
        topic0: bytes | None = None,
        tx_hash: bytes | None = None,
    ) -> Iterator[LogRow]:
        """Log rows in block/log order, filtered by emitter, block range, topic and transaction."""
        sql = "SELECT * FROM logs WHERE block_number BETWEEN ? AND ?"
        args: list[Any] = [from_block, to_block]
        if address is not None:
            sql += " AND address = ?"
            args.append(address)
        if topic0 is not None:
            sql += " AND topic0 = ?"
            args.append(topic0)
        if tx_hash is not None:
            sql += " AND tx_hash = ?"
            args.append(tx_hash)
        sql += " ORDER BY block_number, log_index"
        for row in self._conn.execute(sql, args):
            topics_blob = bytes(row[5])
            topics = tuple(topics_blob[i : i + 32] for i in range(0, len(topics_blob), 32))
            yield LogRow(row[0], row[1], bytes(row[2]), topics, bytes(row[6]), bytes(row[4]))

    def file_bytes(self) -> int:
        """Size of the database on disk, WAL included [bytes]."""
        total = 0
        for suffix in ("", "-wal"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file (e.g. before measuring its size)."""
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Drop pending writes and close the connection."""
        self._pending.clear()
        self._conn.close()


def lock_chain_file(path: Path, wait_s: float = 0.0) -> IO[bytes]:
    """Hold the chain file's ``.lock`` exclusively (one process per chain file), waiting up to
    ``wait_s`` [s] for another holder; the returned file keeps the lock until it is closed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = open(str(path) + ".lock", "a+b")  # noqa: SIM115 - held until the node closes
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock_file
        except OSError as exc:
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            lock_file.close()
            raise LedgerError(
                f"the embedded chain {path} is already open (in this or another process); "
                "close that EmbeddedLedger first"
            ) from exc
