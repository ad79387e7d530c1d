"""The SQL shared by both backends: every :class:`~gridledger.store.base.Store` method, once.

A backend subclass supplies the connection: :meth:`SqlStore._transaction` (a cursor inside one
transaction, database errors turned into :class:`StoreError`), the placeholder style, and may
replace :meth:`SqlStore._insert_reading_rows` with a faster bulk path. SQL here is written with
``?`` placeholders and no ``%`` (PostgreSQL's driver uses ``%s``); it uses only what SQLite 3.35+
and PostgreSQL 12+ both understand (``ON CONFLICT DO NOTHING``, window functions).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol

from gridledger.errors import StoreError
from gridledger.store.base import (
    Device,
    EnergyInterval,
    Order,
    Reading,
    Region,
    Rejection,
    Settlement,
    Site,
    Store,
    TimeArg,
    Trade,
    to_ms,
)
from gridledger.store.migrations import MIGRATIONS, SCHEMA_VERSION, SCHEMA_VERSION_DDL, Dialect

#: How many problems of one kind :meth:`SqlStore.integrity_check` lists before it stops.
MAX_PROBLEMS = 50

READING_COLUMNS = (
    "device_id, sequence, ts_ms, import_wh, export_wh, power_w, soc_permille, extra, payload, "
    "signature"
)
_READING_INSERT = (
    f"INSERT INTO readings ({READING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (device_id, sequence) DO NOTHING"
)
_ORDER_COLUMNS = (
    "order_id, region, slot_start_s, side, energy_wh, price_micro_per_kwh, owner, nonce, target, "
    "signature, received_at_ms, status"
)
_TRADE_COLUMNS = (
    "region, slot_start_s, idx, bid_id, ask_id, buyer, seller, energy_wh, price_micro_per_kwh, "
    "amount_micro, fee_micro"
)
_SETTLEMENT_COLUMNS = (
    "region, slot_start_s, result_hash, orders_root, readings_root, tx_hashes, block_number, "
    "settled_at_ms"
)

# Energy per interval: the last reading before ``start`` of every selected device (so the first
# delta inside the range has a base), then every reading in range; deltas along the sequence;
# each delta counts in the interval that holds the later reading.
_ENERGY_SQL = """
WITH dev AS (SELECT device_id, kind FROM devices WHERE {where}),
prev AS (
    SELECT dev.device_id, dev.kind,
        (SELECT r.sequence FROM readings r WHERE r.device_id = dev.device_id AND r.ts_ms < ?
         ORDER BY r.ts_ms DESC, r.sequence DESC LIMIT 1) AS seq
    FROM dev
),
sel AS (
    SELECT r.device_id, p.kind, r.sequence, r.ts_ms, r.import_wh, r.export_wh
    FROM prev p JOIN readings r ON r.device_id = p.device_id AND r.sequence = p.seq
    UNION ALL
    SELECT r.device_id, dev.kind, r.sequence, r.ts_ms, r.import_wh, r.export_wh
    FROM dev JOIN readings r ON r.device_id = dev.device_id
    WHERE r.ts_ms >= ? AND r.ts_ms < ?
),
d AS (
    SELECT kind, ts_ms,
        import_wh - LAG(import_wh) OVER w AS di,
        export_wh - LAG(export_wh) OVER w AS de
    FROM sel
    WINDOW w AS (PARTITION BY device_id ORDER BY sequence)
)
SELECT (ts_ms - CAST(? AS BIGINT)) / CAST(? AS BIGINT), kind,
    CAST(COALESCE(SUM(di), 0) AS BIGINT), CAST(COALESCE(SUM(de), 0) AS BIGINT)
FROM d WHERE ts_ms >= ?
GROUP BY 1, 2 ORDER BY 1, 2
"""

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


def _reading_row(r: Reading) -> tuple[Any, ...]:
    return (
        r.device_id,
        r.sequence,
        r.ts_ms,
        r.import_wh,
        r.export_wh,
        r.power_w,
        r.soc_permille,
        _json(r.extra),
        r.payload,
        r.signature,
    )


def _reading(row: Sequence[Any]) -> Reading:
    return Reading(
        device_id=row[0],
        sequence=row[1],
        ts_ms=row[2],
        import_wh=row[3],
        export_wh=row[4],
        power_w=row[5],
        soc_permille=row[6],
        extra=json.loads(row[7]) if row[7] else None,
        payload=bytes(row[8]),
        signature=bytes(row[9]),
    )


def _opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _order(row: Sequence[Any]) -> Order:
    return Order(
        bytes(row[0]), row[1], row[2], row[3], row[4], row[5], bytes(row[6]), row[7],
        _opt_bytes(row[8]), bytes(row[9]), row[10], row[11],
    )  # fmt: skip


def _trade(row: Sequence[Any]) -> Trade:
    return Trade(
        row[0], row[1], row[2], bytes(row[3]), bytes(row[4]), bytes(row[5]), bytes(row[6]),
        row[7], row[8], row[9], row[10],
    )  # fmt: skip


def _settlement(row: Sequence[Any]) -> Settlement:
    hashes = bytes(row[5])
    return Settlement(
        row[0], row[1], bytes(row[2]), bytes(row[3]), bytes(row[4]),
        tuple(hashes[i : i + 32] for i in range(0, len(hashes), 32)), row[6], row[7],
    )  # fmt: skip


def _interval_ms(interval_s: int) -> int:
    if isinstance(interval_s, bool) or not isinstance(interval_s, int) or interval_s <= 0:
        raise StoreError(f"interval_s must be a positive integer of seconds, got {interval_s!r}")
    return interval_s * 1000


def now_ms() -> int:
    """The current time in integer milliseconds since the Unix epoch (UTC)."""
    return time.time_ns() // 1_000_000


class SqlStore:
    """Every store operation in SQL common to SQLite and PostgreSQL; see the module docstring."""

    dialect: Dialect

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

    def _insert_reading_rows(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> int:
        before = self._changes(cur)
        cur.executemany(self._sql(_READING_INSERT), rows)
        return self._changes(cur) - before if before >= 0 else cur.rowcount

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

    # -- Store: properties and lifetime --------------------------------------------------------
    @property
    def url(self) -> str:
        return self._url

    @property
    def schema_version(self) -> int:
        return self._version

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

    # -- registry ------------------------------------------------------------------------------
    def add_region(self, region: Region) -> None:
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO regions (region, name, operator) VALUES (?, ?, ?) "
                "ON CONFLICT (region) DO NOTHING",
                (region.region, region.name, region.operator),
            )

    def list_regions(self) -> list[Region]:
        rows = self._query("SELECT region, name, operator FROM regions ORDER BY region")
        return [Region(r[0], r[1], _opt_bytes(r[2])) for r in rows]

    def add_site(self, site: Site) -> None:
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO sites (site_id, region, owner, registered_at_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (site_id) DO NOTHING",
                (site.site_id, site.region, site.owner, site.registered_at_ms),
            )

    def get_site(self, site_id: str) -> Site | None:
        sites = self._sites("WHERE site_id = ?", (site_id,))
        return sites[0] if sites else None

    def list_sites(self, region: str | None = None) -> list[Site]:
        if region is None:
            return self._sites("", ())
        return self._sites("WHERE region = ?", (region,))

    def _sites(self, where: str, params: Sequence[Any]) -> list[Site]:
        rows = self._query(
            f"SELECT site_id, region, owner, registered_at_ms FROM sites {where} ORDER BY site_id",
            params,
        )
        return [Site(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    def add_device(self, device: Device) -> None:
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO devices (device_id, site_id, kind, address, registered_at_ms, params) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO NOTHING",
                (
                    device.device_id,
                    device.site_id,
                    device.kind,
                    device.address,
                    device.registered_at_ms,
                    _json(device.params) or "{}",
                ),
            )

    def get_device(self, device_id: str) -> Device | None:
        devices = self._devices("WHERE device_id = ?", (device_id,))
        return devices[0] if devices else None

    def list_devices(self, site_id: str | None = None) -> list[Device]:
        if site_id is None:
            return self._devices("", ())
        return self._devices("WHERE site_id = ?", (site_id,))

    def _devices(self, where: str, params: Sequence[Any]) -> list[Device]:
        rows = self._query(
            "SELECT device_id, site_id, kind, address, registered_at_ms, params FROM devices "
            f"{where} ORDER BY device_id",
            params,
        )
        return [Device(r[0], r[1], r[2], bytes(r[3]), r[4], json.loads(r[5])) for r in rows]

    # -- readings ------------------------------------------------------------------------------
    def insert_readings(self, batch: Iterable[Reading]) -> int:
        with self._lock, self._tx() as cur:
            rows = [_reading_row(r) for r in batch]
            if not rows:
                return 0
            return self._insert_reading_rows(cur, rows)

    def get_reading(self, device_id: str, sequence: int) -> Reading | None:
        rows = self._query(
            f"SELECT {READING_COLUMNS} FROM readings WHERE device_id = ? AND sequence = ?",
            (device_id, sequence),
        )
        return _reading(rows[0]) if rows else None

    def last_sequence(self, device_id: str) -> int | None:
        rows = self._query("SELECT MAX(sequence) FROM readings WHERE device_id = ?", (device_id,))
        return None if rows[0][0] is None else int(rows[0][0])

    def last_sequences(self) -> dict[str, int]:
        rows = self._query("SELECT device_id, MAX(sequence) FROM readings GROUP BY device_id")
        return {r[0]: int(r[1]) for r in rows}

    def readings(self, device_id: str, start: TimeArg, end: TimeArg) -> list[Reading]:
        rows = self._query(
            f"SELECT {READING_COLUMNS} FROM readings WHERE device_id = ? AND ts_ms >= ? "
            "AND ts_ms < ? ORDER BY sequence",
            (device_id, to_ms(start, "start"), to_ms(end, "end")),
        )
        return [_reading(r) for r in rows]

    def region_readings(self, region: str, start: TimeArg, end: TimeArg) -> list[Reading]:
        cols = ", ".join("r." + c.strip() for c in READING_COLUMNS.split(","))
        rows = self._query(
            f"SELECT {cols} FROM readings r JOIN devices d ON d.device_id = r.device_id "
            "JOIN sites s ON s.site_id = d.site_id "
            "WHERE s.region = ? AND r.ts_ms >= ? AND r.ts_ms < ? ORDER BY r.device_id, r.sequence",
            (region, to_ms(start, "start"), to_ms(end, "end")),
        )
        return [_reading(r) for r in rows]

    def reading_count(self, device_id: str | None = None) -> int:
        if device_id is None:
            rows = self._query("SELECT COUNT(*) FROM readings")
        else:
            rows = self._query("SELECT COUNT(*) FROM readings WHERE device_id = ?", (device_id,))
        return int(rows[0][0])

    def latest_state(self, site_id: str | None = None) -> dict[str, Reading]:
        where = "" if site_id is None else "WHERE device_id IN (SELECT device_id FROM devices "
        where += "" if site_id is None else "WHERE site_id = ?)"
        cols = ", ".join("r." + c.strip() for c in READING_COLUMNS.split(","))
        rows = self._query(
            f"SELECT {cols} FROM readings r JOIN (SELECT device_id, MAX(sequence) AS seq "
            f"FROM readings {where} GROUP BY device_id) m "
            "ON r.device_id = m.device_id AND r.sequence = m.seq ORDER BY r.device_id",
            () if site_id is None else (site_id,),
        )
        return {r[0]: _reading(r) for r in rows}

    def energy_per_interval(
        self, site_id: str, start: TimeArg, end: TimeArg, interval_s: int
    ) -> list[EnergyInterval]:
        return self._energy("site_id = ?", site_id, start, end, interval_s)

    def region_energy_per_interval(
        self, region: str, start: TimeArg, end: TimeArg, interval_s: int
    ) -> list[EnergyInterval]:
        return self._energy(
            "site_id IN (SELECT site_id FROM sites WHERE region = ?)",
            region,
            start,
            end,
            interval_s,
        )

    def _energy(
        self, where: str, key: str, start: TimeArg, end: TimeArg, interval_s: int
    ) -> list[EnergyInterval]:
        step = _interval_ms(interval_s)
        t0, t1 = to_ms(start, "start"), to_ms(end, "end")
        rows = self._query(_ENERGY_SQL.format(where=where), (key, t0, t0, t1, t0, step, t0))
        return [EnergyInterval(t0 + int(r[0]) * step, r[1], int(r[2]), int(r[3])) for r in rows]

    # -- rejections ----------------------------------------------------------------------------
    def record_rejections(self, batch: Iterable[Rejection]) -> int:
        with self._lock, self._tx() as cur:
            rows = [(r.received_at_ms, r.device_id, r.reason, r.detail, r.payload) for r in batch]
            return self._many(
                cur,
                "INSERT INTO rejections (received_at_ms, device_id, reason, detail, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def rejection_counts(self) -> dict[str, int]:
        rows = self._query("SELECT reason, COUNT(*) FROM rejections GROUP BY reason ORDER BY 1")
        return {r[0]: int(r[1]) for r in rows}

    def rejections(self, limit: int = 100) -> list[Rejection]:
        rows = self._query(
            "SELECT received_at_ms, device_id, reason, detail, payload FROM rejections "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [Rejection(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    # -- market and ledger ---------------------------------------------------------------------
    def add_orders(self, batch: Iterable[Order]) -> int:
        with self._lock, self._tx() as cur:
            rows = [
                (o.order_id, o.region, o.slot_start_s, o.side, o.energy_wh,
                 o.price_micro_per_kwh, o.owner, o.nonce, o.target, o.signature,
                 o.received_at_ms, o.status)
                for o in batch
            ]  # fmt: skip
            return self._many(
                cur,
                f"INSERT INTO orders ({_ORDER_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING",
                rows,
            )

    def get_order(self, order_id: bytes) -> Order | None:
        rows = self._query(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_id = ?", (order_id,))
        return _order(rows[0]) if rows else None

    def list_orders(self, region: str, slot_start_s: int | None = None) -> list[Order]:
        where: str = "region = ?"
        params: list[Any] = [region]
        if slot_start_s is not None:
            where, params = where + " AND slot_start_s = ?", [region, slot_start_s]
        rows = self._query(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {where} ORDER BY slot_start_s, order_id",
            params,
        )
        return [_order(r) for r in rows]

    def set_order_status(self, order_id: bytes, status: str) -> None:
        with self._lock, self._tx() as cur:
            self._exec(cur, "UPDATE orders SET status = ? WHERE order_id = ?", (status, order_id))
            if cur.rowcount != 1:
                raise StoreError(f"no order 0x{order_id.hex()} in the store; store it first")

    def add_trades(self, batch: Iterable[Trade]) -> int:
        with self._lock, self._tx() as cur:
            rows = [
                (t.region, t.slot_start_s, t.index, t.bid_id, t.ask_id, t.buyer, t.seller,
                 t.energy_wh, t.price_micro_per_kwh, t.amount_micro, t.fee_micro)
                for t in batch
            ]  # fmt: skip
            return self._many(
                cur,
                f"INSERT INTO trades ({_TRADE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (region, slot_start_s, idx) DO NOTHING",
                rows,
            )

    def list_trades(self, region: str, slot_start_s: int | None = None) -> list[Trade]:
        where: str = "region = ?"
        params: list[Any] = [region]
        if slot_start_s is not None:
            where, params = where + " AND slot_start_s = ?", [region, slot_start_s]
        rows = self._query(
            f"SELECT {_TRADE_COLUMNS} FROM trades WHERE {where} ORDER BY slot_start_s, idx", params
        )
        return [_trade(r) for r in rows]

    def add_settlement(self, settlement: Settlement) -> None:
        s = settlement
        if any(len(h) != 32 for h in s.tx_hashes):
            raise StoreError("every settlement tx hash must be 32 bytes")
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                f"INSERT INTO settlements ({_SETTLEMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (s.region, s.slot_start_s, s.result_hash, s.orders_root, s.readings_root,
                 b"".join(s.tx_hashes), s.block_number, s.settled_at_ms),
            )  # fmt: skip

    def update_settlement(self, settlement: Settlement) -> None:
        s = settlement
        if any(len(h) != 32 for h in s.tx_hashes):
            raise StoreError("every settlement tx hash must be 32 bytes")
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                "UPDATE settlements SET result_hash = ?, orders_root = ?, readings_root = ?, "
                "tx_hashes = ?, block_number = ?, settled_at_ms = ? "
                "WHERE region = ? AND slot_start_s = ?",
                (s.result_hash, s.orders_root, s.readings_root, b"".join(s.tx_hashes),
                 s.block_number, s.settled_at_ms, s.region, s.slot_start_s),
            )  # fmt: skip
            if cur.rowcount != 1:
                raise StoreError(
                    f"no settlement of region {s.region!r} slot {s.slot_start_s} in the store; "
                    "record it with add_settlement first"
                )

    def get_settlement(self, region: str, slot_start_s: int) -> Settlement | None:
        rows = self._query(
            f"SELECT {_SETTLEMENT_COLUMNS} FROM settlements WHERE region = ? AND slot_start_s = ?",
            (region, slot_start_s),
        )
        return _settlement(rows[0]) if rows else None

    def list_settlements(self, region: str | None = None) -> list[Settlement]:
        where = "" if region is None else "WHERE region = ?"
        rows = self._query(
            f"SELECT {_SETTLEMENT_COLUMNS} FROM settlements {where} ORDER BY region, slot_start_s",
            () if region is None else (region,),
        )
        return [_settlement(r) for r in rows]

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
