"""The embedded store: one SQLite file through the standard library's :mod:`sqlite3`.

The database runs in WAL mode with ``synchronous=NORMAL`` (a committed transaction survives a
crash of the process; only a power loss can drop the last commits) and foreign keys on. Every
operation is one explicit transaction (``BEGIN IMMEDIATE`` for writes, so concurrent writers queue
on ``busy_timeout`` instead of failing); one store object may be used from several threads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
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
