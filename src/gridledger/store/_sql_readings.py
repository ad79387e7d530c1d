"""The readings part of :class:`~gridledger.store._sql.SqlStore`: meter readings and rejections.

Readings are keyed by ``(device_id, sequence)`` (a duplicate is skipped); times are integer
milliseconds since the Unix epoch (UTC), energy registers watt-hours. Also here: energy per
interval (``interval_s`` in seconds) and the log of rejected messages. A backend may replace
:meth:`ReadingsSql._insert_reading_rows` with a faster bulk path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from gridledger.errors import StoreError
from gridledger.store._sql_base import Cursor, SqlBase, _json
from gridledger.store.base import EnergyInterval, ReadingRow, Rejection, TimeArg, to_ms

READING_COLUMNS = (
    "device_id, sequence, ts_ms, import_wh, export_wh, power_w, soc_permille, extra, payload, "
    "signature"
)
_READING_INSERT = (
    f"INSERT INTO readings ({READING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (device_id, sequence) DO NOTHING"
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


def _reading_row(r: ReadingRow) -> tuple[Any, ...]:
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


def _reading(row: Sequence[Any]) -> ReadingRow:
    return ReadingRow(
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


def _interval_ms(interval_s: int) -> int:
    if isinstance(interval_s, bool) or not isinstance(interval_s, int) or interval_s <= 0:
        raise StoreError(f"interval_s must be a positive integer of seconds, got {interval_s!r}")
    return interval_s * 1000


class ReadingsSql(SqlBase):
    """The :class:`~gridledger.store.base.Store` methods on readings and rejections."""

    # -- backend hook --------------------------------------------------------------------------
    def _insert_reading_rows(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> int:
        before = self._changes(cur)
        cur.executemany(self._sql(_READING_INSERT), rows)
        return self._changes(cur) - before if before >= 0 else cur.rowcount

    # -- readings ------------------------------------------------------------------------------
    def insert_readings(self, batch: Iterable[ReadingRow]) -> int:
        with self._lock, self._tx() as cur:
            rows = [_reading_row(r) for r in batch]
            if not rows:
                return 0
            return self._insert_reading_rows(cur, rows)

    def get_reading(self, device_id: str, sequence: int) -> ReadingRow | None:
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

    def readings(self, device_id: str, start: TimeArg, end: TimeArg) -> list[ReadingRow]:
        rows = self._query(
            f"SELECT {READING_COLUMNS} FROM readings WHERE device_id = ? AND ts_ms >= ? "
            "AND ts_ms < ? ORDER BY sequence",
            (device_id, to_ms(start, "start"), to_ms(end, "end")),
        )
        return [_reading(r) for r in rows]

    def region_readings(self, region: str, start: TimeArg, end: TimeArg) -> list[ReadingRow]:
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

    def latest_state(self, site_id: str | None = None) -> dict[str, ReadingRow]:
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
