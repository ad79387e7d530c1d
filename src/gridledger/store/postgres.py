"""The server store: PostgreSQL through psycopg 3 (``pip install gridledger[postgres]``).

One connection per store object, in autocommit mode with an explicit transaction per operation.
Readings go in by ``COPY`` into a temporary table and one ``INSERT ... SELECT ... ON CONFLICT DO
NOTHING``, so a batch is one round of the protocol and duplicates cost nothing. Migrations take a
transaction-scoped advisory lock so that several processes opening the same database at once
migrate it once. Integrity checks are application-level (the engine checks its own pages).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gridledger.errors import StoreError
from gridledger.store._sql import READING_COLUMNS, Cursor, SqlStore
from gridledger.store.migrations import Dialect

#: Key of the advisory lock held while migrating (any constant unique to gridledger).
MIGRATION_LOCK_KEY = 0x67726964  # "grid"

CONNECT_TIMEOUT_S = 10


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, for error messages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


class PostgresStore(SqlStore):
    """A :class:`~gridledger.store.base.Store` in a PostgreSQL database."""

    dialect: Dialect = "postgres"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - psycopg is a dev dependency
            raise StoreError(
                "the PostgreSQL store needs psycopg 3; install it with "
                "`pip install 'gridledger[postgres]'`"
            ) from exc
        self._psycopg = psycopg
        self._staging_ready = False
        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except (psycopg.Error, ValueError) as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL store {redact(url)}: {str(exc).strip()}; check the "
                "URL (postgresql://USER@HOST:PORT/DB) and that the server is running"
            ) from exc
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    @property
    def url(self) -> str:
        return redact(self._url)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        psycopg = self._psycopg
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                yield cur
        except BaseException as exc:
            self._staging_ready = False  # a rolled-back transaction may take the staging table
            if not isinstance(exc, psycopg.Error | OverflowError | TypeError | ValueError):
                raise
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(
                f"store {self.url}: {detail}; the transaction was rolled back, "
                "nothing of it was stored"
            ) from exc

    def _lock_schema(self, cur: Cursor) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))

    def _insert_reading_rows(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> int:
        if not self._staging_ready:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS readings_in "
                "(LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
        with cur.copy(f"COPY readings_in ({READING_COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO readings ({READING_COLUMNS}) SELECT {READING_COLUMNS} FROM readings_in "
            "ON CONFLICT (device_id, sequence) DO NOTHING"
        )
        inserted = cur.rowcount
        self._staging_ready = True
        return inserted

    def _close_connection(self) -> None:
        self._conn.close()
