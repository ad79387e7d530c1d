"""The faults part of :class:`~gridledger.store._sql.SqlStore`: the plant's faults, persisted.

A fault is the monitor's own value (:class:`gridledger.monitor.Fault`, a layer above the store);
the monitor maps it to a row of :data:`~gridledger.store.base.FAULT_COLUMNS` and back
(:mod:`gridledger.monitor.faults.records`), so the store keeps no second fault class. A row is
keyed by ``(site_id, device_id, kind, first_seen_ms)``: saving it again updates it in place, so
running the detectors over the same slots twice keeps one row. The copy seen last (the larger
``last_seen_ms``) gives the severity, explanation and evidence, so an older copy saved late
changes nothing of them. The update never moves a fault back in its life cycle: a closed fault
stays closed, an acknowledged one stays acknowledged (with its first acknowledgement) until it
closes. Times are integer milliseconds since the Unix epoch.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from gridledger.errors import StoreError
from gridledger.store._sql_base import SqlBase, _opt_bytes
from gridledger.store.base import FAULT_COLUMNS, FAULT_STATES, SEVERITIES

_COLUMNS = ", ".join(FAULT_COLUMNS)

_UPSERT = f"""
INSERT INTO faults ({_COLUMNS}) VALUES ({", ".join("?" for _ in FAULT_COLUMNS)})
ON CONFLICT (site_id, device_id, kind, first_seen_ms) DO UPDATE SET
    severity = CASE WHEN excluded.last_seen_ms >= faults.last_seen_ms
        THEN excluded.severity ELSE faults.severity END,
    explanation = CASE WHEN excluded.last_seen_ms >= faults.last_seen_ms
        THEN excluded.explanation ELSE faults.explanation END,
    evidence = CASE WHEN excluded.last_seen_ms >= faults.last_seen_ms
        THEN excluded.evidence ELSE faults.evidence END,
    last_seen_ms = CASE WHEN excluded.last_seen_ms > faults.last_seen_ms
        THEN excluded.last_seen_ms ELSE faults.last_seen_ms END,
    state = CASE
        WHEN faults.state = 'closed' OR excluded.state = 'closed' THEN 'closed'
        WHEN faults.state = 'acknowledged' OR excluded.state = 'acknowledged'
            THEN 'acknowledged'
        ELSE 'open' END,
    acknowledged_at_ms = COALESCE(faults.acknowledged_at_ms, excluded.acknowledged_at_ms),
    acknowledged_by = COALESCE(faults.acknowledged_by, excluded.acknowledged_by),
    closed_at_ms = COALESCE(faults.closed_at_ms, excluded.closed_at_ms)
"""


def _row(values: Mapping[str, Any]) -> tuple[Any, ...]:
    missing = [c for c in FAULT_COLUMNS if c not in values]
    if missing:
        raise StoreError(f"a fault row needs the columns {', '.join(missing)}")
    if values["state"] not in FAULT_STATES:
        raise StoreError(f"fault state {values['state']!r} is not one of {FAULT_STATES}")
    if values["severity"] not in SEVERITIES:
        raise StoreError(f"fault severity {values['severity']!r} is not one of {SEVERITIES}")
    out = []
    for column in FAULT_COLUMNS:
        value = values[column]
        if column == "evidence":
            value = json.dumps(dict(value), sort_keys=True, separators=(",", ":"))
        elif column == "acknowledged_by" and value is not None:
            value = bytes(value)
        out.append(value)
    return tuple(out)


def _mapping(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(FAULT_COLUMNS, row, strict=True))
    out["evidence"] = json.loads(out["evidence"])
    out["acknowledged_by"] = _opt_bytes(out["acknowledged_by"])
    return out


class FaultsSql(SqlBase):
    """The :class:`~gridledger.store.base.Store` methods on faults."""

    def save_faults(self, rows: Iterable[Mapping[str, Any]]) -> int:
        batch = [_row(r) for r in rows]
        if not batch:
            return 0
        with self._lock, self._tx() as cur:
            cur.executemany(self._sql(_UPSERT), batch)
        return len(batch)

    def list_faults(
        self, site_id: str | None = None, states: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        params: list[Any] = []
        if site_id is not None:
            where.append("site_id = ?")
            params.append(site_id)
        if states is not None:
            unknown = set(states) - set(FAULT_STATES)
            if unknown:
                raise StoreError(f"unknown fault states {sorted(unknown)}; use {FAULT_STATES}")
            if not states:
                return []
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            params += sorted(states)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM faults {clause} "
            "ORDER BY first_seen_ms, site_id, device_id, kind",
            params,
        )
        return [_mapping(r) for r in rows]
