"""The SQL shared by both backends: every :class:`~gridledger.store.base.Store` method, once.

A backend subclass supplies the connection: :meth:`SqlStore._transaction` (a cursor inside one
transaction, database errors turned into :class:`StoreError`), the placeholder style, and may
replace :meth:`SqlStore._insert_reading_rows` with a faster bulk path. SQL here is written with
``?`` placeholders and no ``%`` (PostgreSQL's driver uses ``%s``); it uses only what SQLite 3.35+
and PostgreSQL 12+ both understand (``ON CONFLICT DO NOTHING``, window functions).

This module holds :class:`SqlStore` itself: lifetime, schema migration and the integrity check.
It is assembled from one part per concept: :mod:`~gridledger.store._sql_base` (backend hooks,
query plumbing, :class:`Cursor`), :mod:`~gridledger.store._sql_registry` (regions, sites,
devices), :mod:`~gridledger.store._sql_readings` (readings, energy per interval, rejections) and
:mod:`~gridledger.store._sql_market` (orders, trades, settlements) and
:mod:`~gridledger.store._sql_faults` (the plant's faults).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from gridledger.errors import StoreError
from gridledger.store._sql_base import Cursor
from gridledger.store._sql_faults import FaultsSql
from gridledger.store._sql_market import MarketSql
from gridledger.store._sql_readings import READING_COLUMNS, ReadingsSql
from gridledger.store._sql_registry import RegistrySql
from gridledger.store.base import Store
from gridledger.store.migrations import MIGRATIONS, SCHEMA_VERSION, SCHEMA_VERSION_DDL, Dialect

__all__ = ["MAX_PROBLEMS", "READING_COLUMNS", "Cursor", "SqlStore", "now_ms"]

#: How many problems of one kind :meth:`SqlStore.integrity_check` lists before it stops.
MAX_PROBLEMS = 50

_BACKWARDS_SQL = """
SELECT device_id, sequence, import_wh, p_imp, export_wh, p_exp, ts_ms, p_ts FROM (
    SELECT device_id, sequence, import_wh, export_wh, ts_ms,
        LAG(import_wh) OVER w AS p_imp,
        LAG(export_wh) OVER w AS p_exp,
        LAG(ts_ms) OVER w AS p_ts
    FROM readings
    WINDOW w AS (PARTITION BY device_id ORDER BY sequence)
) x
WHERE import_wh < p_imp OR export_wh < p_exp OR ts_ms < p_ts
ORDER BY device_id, sequence
LIMIT ?
"""


def now_ms() -> int:
    """The current time in integer milliseconds since the Unix epoch (UTC)."""
    return time.time_ns() // 1_000_000


class SqlStore(RegistrySql, ReadingsSql, MarketSql, FaultsSql):
    """Every store operation in SQL common to SQLite and PostgreSQL; see the module docstring."""

    dialect: Dialect

    def _migrate(self) -> None:
        with self._lock, self._tx() as cur:
            self._lock_schema(cur)
            self._exec(cur, SCHEMA_VERSION_DDL)
            self._exec(cur, "SELECT COALESCE(MAX(version), 0) FROM schema_version")
            current = int(cur.fetchone()[0])
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the store at {self.url} has schema version {current}, newer than this "
                    f"gridledger supports ({SCHEMA_VERSION}); upgrade gridledger to open it"
                )
            for migration in MIGRATIONS[current:]:
                for statement in migration.sql(self.dialect):
                    self._exec(cur, statement)
                self._exec(
                    cur,
                    "INSERT INTO schema_version (version, description, applied_at_ms) "
                    "VALUES (?, ?, ?)",
                    (migration.version, migration.description, now_ms()),
                )
            self._version = max(current, SCHEMA_VERSION)

    # -- Store: lifetime -----------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close_connection()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- maintenance ---------------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        problems: list[str] = []
        checks: list[tuple[str, Callable[[Cursor], list[str]]]] = [
            ("database", self._database_checks),
            ("registers", self._check_backwards),
            ("devices", self._check_devices),
            ("trades", self._check_trades),
        ]
        with self._lock:
            for name, check in checks:
                try:
                    with self._tx() as cur:
                        problems += check(cur)
                except StoreError as exc:  # a damaged database can fail the query itself
                    problems.append(f"{name}: the check could not run: {exc}")
        return problems

    def _check_backwards(self, cur: Cursor) -> list[str]:
        problems = []
        self._exec(cur, _BACKWARDS_SQL, (MAX_PROBLEMS,))
        for dev, seq, imp, p_imp, exp, p_exp, ts, p_ts in cur.fetchall():
            what = []
            if imp is not None and p_imp is not None and imp < p_imp:
                what.append(f"import_wh {p_imp} -> {imp}")
            if exp is not None and p_exp is not None and exp < p_exp:
                what.append(f"export_wh {p_exp} -> {exp}")
            if ts is not None and p_ts is not None and ts < p_ts:
                what.append(f"ts_ms {p_ts} -> {ts}")
            problems.append(f"readings: device {dev} sequence {seq} goes back: " + ", ".join(what))
        return problems

    def _check_devices(self, cur: Cursor) -> list[str]:
        self._exec(
            cur,
            "SELECT DISTINCT device_id FROM readings WHERE device_id NOT IN "
            "(SELECT device_id FROM devices) ORDER BY 1 LIMIT ?",
            (MAX_PROBLEMS,),
        )
        return [f"readings: unknown device {r[0]}" for r in cur.fetchall()]

    def _check_trades(self, cur: Cursor) -> list[str]:
        self._exec(
            cur,
            "SELECT region, slot_start_s, idx, amount_micro, energy_wh * price_micro_per_kwh "
            "/ 1000 FROM trades WHERE amount_micro <> energy_wh * price_micro_per_kwh / 1000 "
            "ORDER BY 1, 2, 3 LIMIT ?",
            (MAX_PROBLEMS,),
        )
        return [
            f"trades: {r[0]} slot {r[1]} trade {r[2]} amount_micro {r[3]} != "
            f"energy_wh * price // 1000 = {r[4]}"
            for r in cur.fetchall()
        ]
