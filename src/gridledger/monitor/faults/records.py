"""A :class:`~gridledger.monitor.faults.model.Fault` as a store row and back.

The store sits below the monitor in the layers, so it cannot know the ``Fault`` class; it keeps
faults as rows of :data:`gridledger.store.FAULT_COLUMNS` (times in integer ms since the epoch,
the acknowledging account as 20 raw bytes). These two functions are the only mapping, as the
store's ``_order_row``/``_order`` are for the market's ``Order``: there is one fault type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gridledger.identity import address_bytes, checksum
from gridledger.monitor.faults.model import Fault, FaultKind, FaultStatus, Severity
from gridledger.store import from_ms, to_ms


def fault_row(fault: Fault) -> dict[str, Any]:
    """The store row of ``fault`` (a mapping of :data:`gridledger.store.FAULT_COLUMNS`)."""
    return {
        "site_id": fault.site,
        "device_id": fault.device,
        "kind": str(fault.kind),
        "first_seen_ms": to_ms(fault.first_seen),
        "severity": str(fault.severity),
        "last_seen_ms": to_ms(fault.last_seen),
        "raised_at_ms": to_ms(fault.raised_at),
        "state": str(fault.status),
        "explanation": fault.explanation,
        "evidence": dict(fault.evidence),
        "acknowledged_at_ms": None
        if fault.acknowledged_at is None
        else to_ms(fault.acknowledged_at),
        "acknowledged_by": None
        if fault.acknowledged_by is None
        else address_bytes(fault.acknowledged_by),
        "closed_at_ms": None if fault.closed_at is None else to_ms(fault.closed_at),
    }


def fault_from_row(row: Mapping[str, Any]) -> Fault:
    """The :class:`Fault` a store row holds (the inverse of :func:`fault_row`)."""
    acked_at, acked_by, closed_at = (
        row["acknowledged_at_ms"],
        row["acknowledged_by"],
        row["closed_at_ms"],
    )
    return Fault(
        site=row["site_id"],
        device=row["device_id"],
        kind=FaultKind(row["kind"]),
        severity=Severity(row["severity"]),
        first_seen=from_ms(row["first_seen_ms"]),
        last_seen=from_ms(row["last_seen_ms"]),
        raised_at=from_ms(row["raised_at_ms"]),
        evidence={str(k): float(v) for k, v in row["evidence"].items()},
        explanation=row["explanation"],
        status=FaultStatus(row["state"]),
        closed_at=None if closed_at is None else from_ms(closed_at),
        acknowledged_at=None if acked_at is None else from_ms(acked_at),
        acknowledged_by=None if acked_by is None else checksum(bytes(acked_by)),
    )


__all__ = ["fault_from_row", "fault_row"]
