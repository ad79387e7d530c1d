"""The embedded store: one SQLite file through the standard library's :mod:`sqlite3`.

The database runs in WAL mode with ``synchronous=NORMAL`` (a committed transaction survives a
crash of the process; only a power loss can drop the last commits) and foreign keys on. Every
write is one explicit transaction (``BEGIN IMMEDIATE``, so concurrent writers queue on
``busy_timeout`` instead of failing); one store object may be used from several threads.

Single-statement reads (``_query``) run on a second, read-only connection of the same file: in
WAL mode a reader sees the last committed state without any lock a writer holds, so the API's
reads (on the server's event loop) no longer queue behind ingest's or settlement's writes on the
one connection's lock, nor pay a write transaction's ``BEGIN IMMEDIATE``/``COMMIT`` each. An
in-memory database has one connection only and reads on it as before.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gridledger.errors import StoreError
from gridledger.store._sql import Cursor, SqlStore
from gridledger.store.migrations import Dialect
from gridledger.wal import enter_wal

#: How long a writer waits for another process's write lock [ms].
BUSY_TIMEOUT_MS = 10_000


def sqlite_path(url: str) -> str:
    """The file path of an ``sqlite:///PATH`` URL (``sqlite:////abs`` is absolute)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StoreError(
            f"bad SQLite store URL {url!r}; use sqlite:///relative/path.sqlite, "
            "sqlite:////absolute/path.sqlite or sqlite:///:memory:"
        )
    return url[len(prefix) :]


class SqliteStore(SqlStore):
    """A :class:`~gridledger.store.base.Store` in one SQLite file."""

    dialect: Dialect = "sqlite"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        path = sqlite_path(url)
        if path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of store {path}: {exc}") from exc
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {path}: {exc}") from exc
        try:
            enter_wal(self._conn, BUSY_TIMEOUT_MS / 1000)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(
                f"cannot open SQLite store {path}: {exc}; is it a gridledger SQLite database?"
            ) from exc
        except BaseException:
            self._conn.close()
            raise
        if path != ":memory:":
            self._reader = self._open_reader(path)

    def _open_reader(self, path: str) -> sqlite3.Connection:
        try:
            reader = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
            reader.execute("PRAGMA query_only=ON")
            return reader
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot open SQLite store {path} for reading: {exc}") from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """One SELECT on the read connection (its own implicit read transaction)."""
        reader = self._reader
        if reader is None:
            return super()._query(sql, params)
        if self._closed:
            raise StoreError(f"store {self.url} is closed; open it again with open_store()")
        with self._read_lock:
            try:
                rows: list[Any] = reader.execute(self._sql(sql), tuple(params)).fetchall()
            except (sqlite3.Error, OverflowError, TypeError, ValueError) as exc:
                raise StoreError(f"store {self.url}: {exc}; nothing was read") from exc
        return rows

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.url}: cannot begin a transaction: {exc}") from exc
        try:
            yield cur
            cur.execute("COMMIT")
        except (sqlite3.Error, OverflowError, TypeError, ValueError) as exc:
            self._rollback()
            raise StoreError(
                f"store {self.url}: {exc}; the transaction was rolled back, "
                "nothing of it was stored"
            ) from exc
        except BaseException:
            self._rollback()
            raise
        finally:
            cur.close()

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _changes(self, cur: Cursor) -> int:
        return self._conn.total_changes

    def _close_connection(self) -> None:
        if self._reader is not None:
            with self._read_lock:
                self._reader.close()
        self._conn.close()

    def _database_checks(self, cur: Cursor) -> list[str]:
        problems: list[str] = []
        cur.execute("PRAGMA integrity_check")
        rows: list[Any] = cur.fetchall()
        problems += [f"sqlite: {r[0]}" for r in rows if r[0] != "ok"]
        cur.execute("PRAGMA foreign_key_check")
        problems += [
            f"sqlite: foreign key: row {r[1]} of {r[0]} refers to a missing row of {r[2]}"
            for r in cur.fetchall()
        ]
        return problems
