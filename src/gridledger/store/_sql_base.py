"""The plumbing under :class:`~gridledger.store._sql.SqlStore`: backend hooks and query helpers.

:class:`SqlBase` holds the state every part of the SQL store shares (URL, lock, closed flag,
schema version), the hooks a backend subclass overrides (:meth:`SqlBase._transaction`,
:meth:`SqlBase._sql`, ...) and the helpers the registry, readings and market parts run their SQL
through. Also here: the :class:`Cursor` protocol and the value conversions those parts share.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from gridledger.errors import StoreError


class Cursor(Protocol):
    """The part of a DB-API cursor both drivers share."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...

    def executemany(self, sql: Any, params_seq: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


def _json(value: Any) -> str | None:
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if value else None


def _opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


class SqlBase:
    """Shared state, backend hooks and query helpers of :class:`~gridledger.store._sql.SqlStore`."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.RLock()
        self._closed = False
        self._version = 0

    # -- backend hooks -------------------------------------------------------------------------
    def _transaction(self) -> AbstractContextManager[Cursor]:
        """A cursor inside one transaction, committed on success, rolled back on any error."""
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        """``sql`` with ``?`` placeholders rewritten for the driver."""
        return sql

    def _close_connection(self) -> None:
        raise NotImplementedError

    def _lock_schema(self, cur: Cursor) -> None:
        """Serialize concurrent migrations (inside the migration transaction)."""

    def _database_checks(self, cur: Cursor) -> list[str]:
        """Engine-level checks of the database files; none by default."""
        return []

    def _changes(self, cur: Cursor) -> int:
        """A running count of changed rows (SQLite), or -1 where ``rowcount`` is exact."""
        return -1

    # -- plumbing ------------------------------------------------------------------------------
    def _tx(self) -> AbstractContextManager[Cursor]:
        if self._closed:
            raise StoreError(f"store {self.url} is closed; open it again with open_store()")
        return self._transaction()

    def _exec(self, cur: Cursor, sql: str, params: Sequence[Any] = ()) -> None:
        cur.execute(self._sql(sql), tuple(params))

    def _many(self, cur: Cursor, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """executemany of an INSERT; the number of rows it inserted."""
        if not rows:
            return 0
        before = self._changes(cur)
        cur.executemany(self._sql(sql), rows)
        return self._changes(cur) - before if before >= 0 else cur.rowcount

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock, self._tx() as cur:
            self._exec(cur, sql, params)
            return cur.fetchall()

    # -- Store: properties ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._url

    @property
    def schema_version(self) -> int:
        return self._version
