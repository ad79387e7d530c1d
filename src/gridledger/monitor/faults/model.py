"""The fault value and its life cycle: what a detector raises and what the app, API and CLI show.

A :class:`Fault` names the site and device, the :class:`FaultKind` (what was found), a
:class:`Severity`, when it was first and last seen, when it was raised (the moment the rule fired,
which is later than ``first_seen`` by the persistence the rule needs), the numbers that triggered
it (``evidence``), a plain-language explanation with what to do, and its :class:`FaultStatus`:
``open`` -> ``acknowledged`` (the owner saw it) -> ``closed`` (the symptom went away, or the owner
closed it). Faults are immutable values; life-cycle changes return a new value.

:class:`FaultBook` keeps the faults of a fleet keyed by ``(site, device, kind)``: a symptom seen
again while its fault is open or acknowledged extends that fault (``last_seen``) instead of
raising a second one; a symptom seen again after its fault closed raises a new fault.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from gridledger.errors import ValidationError


class FaultKind(StrEnum):
    """What a detector found. The value is the machine name used in the API and ground truth."""

    OUTAGE = "outage"  #: PV production near zero while the region produces
    UNDER_PERFORMANCE = "under_performance"  #: PV ratio to expected persistently low (step)
    DEGRADATION = "degradation"  #: PV ratio declining slowly and steadily [%/year]
    SHADING = "shading"  #: a dip at the same solar positions over several days
    SOILING = "soiling"  #: a slow loss that a rain or a cleaning recovers
    CLIPPING = "clipping"  #: flat tops at the inverter limit (informational)
    STUCK_REGISTER = "stuck_register"  #: a device repeats the same values while energy flows
    OFFLINE_DEVICE = "offline_device"  #: a device sends no readings
    CLOCK_DRIFT = "clock_drift"  #: a device's clock runs away from the site's other devices
    BATTERY_INCONSISTENCY = "battery_inconsistency"  #: SoC change != metered energy in/out
    BATTERY_COMMAND_MISMATCH = "battery_command_mismatch"  #: actual power != commanded power
    BATTERY_FADE = "battery_fade"  #: state of health falling faster than normal ageing
    BATTERY_ALARM = "battery_alarm"  #: the battery raised a SunSpec 802 alarm
    BYPASSED_LOAD = "bypassed_load"  #: the BEC sees energy the site's devices do not explain


class Severity(StrEnum):
    """How urgent: ``info`` needs no action, ``minor`` within weeks, ``major`` now."""

    INFO = "info"
    MINOR = "minor"
    MAJOR = "major"


class FaultStatus(StrEnum):
    """Life cycle: ``open`` -> ``acknowledged`` -> ``closed`` (``open`` -> ``closed`` too)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


_SEVERITY_RANK = {Severity.INFO: 0, Severity.MINOR: 1, Severity.MAJOR: 2}


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault of one device of one site.

    ``device`` is the device id (``<site>-pv``...) or the site id when the fault concerns the site
    as a whole. Times are aware UTC datetimes. ``evidence`` maps names (with their unit in the
    name: ``ratio``, ``loss_pct``, ``gap_min``, ``residual_wh``...) to the numbers that triggered
    the rule; ``explanation`` says in plain language what is wrong and what to do.
    """

    site: str
    device: str
    kind: FaultKind
    severity: Severity
    first_seen: datetime
    last_seen: datetime
    raised_at: datetime
    evidence: Mapping[str, float] = field(default_factory=dict)
    explanation: str = ""
    status: FaultStatus = FaultStatus.OPEN
    closed_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None

    def __post_init__(self) -> None:
        for name in ("first_seen", "last_seen", "raised_at"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ValidationError(f"Fault.{name} must be timezone-aware UTC, got {value!r}")
        if self.last_seen < self.first_seen:
            raise ValidationError(
                f"Fault.last_seen {self.last_seen} is before first_seen {self.first_seen}"
            )
        object.__setattr__(self, "evidence", MappingProxyType(dict(self.evidence)))

    @property
    def key(self) -> tuple[str, str, FaultKind]:
        """``(site, device, kind)``: at most one fault per key is open at a time."""
        return (self.site, self.device, self.kind)

    @property
    def is_active(self) -> bool:
        """Open or acknowledged (not closed)."""
        return self.status is not FaultStatus.CLOSED

    def acknowledge(self, at: datetime | None = None, by: str | None = None) -> Fault:
        """The owner has seen it (at ``at``, account ``by``); refused for a closed fault.

        Acknowledging an acknowledged fault changes nothing (the first acknowledgement stays)."""
        if self.status is FaultStatus.CLOSED:
            raise ValidationError(
                f"{self.kind} fault of {self.device} is closed; cannot acknowledge"
            )
        if self.status is FaultStatus.ACKNOWLEDGED:
            return self
        return replace(
            self, status=FaultStatus.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=by
        )

    def close(self, at: datetime) -> Fault:
        """The symptom went away (or the owner fixed it) at ``at``."""
        if self.status is FaultStatus.CLOSED:
            return self
        return replace(self, status=FaultStatus.CLOSED, closed_at=at)

    def seen_again(
        self, last_seen: datetime, severity: Severity, evidence: Mapping[str, float]
    ) -> Fault:
        """The symptom persists: extend ``last_seen``, keep the worst severity, newest evidence."""
        worst = severity if _SEVERITY_RANK[severity] > _SEVERITY_RANK[self.severity] else None
        return replace(
            self,
            last_seen=max(last_seen, self.last_seen),
            severity=worst or self.severity,
            evidence=evidence,
        )

    def to_json(self) -> dict[str, object]:
        """A JSON-able dict (times as ISO 8601 strings), for the API, the CLI and ground truth."""
        return {
            "site": self.site,
            "device": self.device,
            "kind": str(self.kind),
            "severity": str(self.severity),
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "raised_at": self.raised_at.isoformat(),
            "evidence": dict(self.evidence),
            "explanation": self.explanation,
            "status": str(self.status),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "acknowledged_at": self.acknowledged_at.isoformat() if self.acknowledged_at else None,
            "acknowledged_by": self.acknowledged_by,
        }


@dataclass
class FaultBook:
    """The faults of a fleet: at most one active fault per ``(site, device, kind)``."""

    _active: dict[tuple[str, str, FaultKind], Fault] = field(default_factory=dict)
    _closed: list[Fault] = field(default_factory=list)

    def raise_or_extend(self, fault: Fault) -> Fault:
        """Record ``fault``; if one with its key is active, extend that one instead."""
        current = self._active.get(fault.key)
        if current is None:
            self._active[fault.key] = fault
            return fault
        updated = current.seen_again(fault.last_seen, fault.severity, fault.evidence)
        self._active[fault.key] = updated
        return updated

    def extend(
        self,
        key: tuple[str, str, FaultKind],
        last_seen: datetime,
        evidence: Mapping[str, float] | None = None,
    ) -> None:
        """Extend the active fault ``key`` (if any) to ``last_seen`` (with fresh evidence)."""
        current = self._active.get(key)
        if current is not None:
            fresh = current.evidence if evidence is None else evidence
            self._active[key] = current.seen_again(last_seen, current.severity, fresh)

    def close(self, key: tuple[str, str, FaultKind], at: datetime) -> Fault | None:
        """Close the active fault ``key``; return it closed, or ``None`` if none was active."""
        current = self._active.pop(key, None)
        if current is None:
            return None
        closed = current.close(at)
        self._closed.append(closed)
        return closed

    def acknowledge(
        self, key: tuple[str, str, FaultKind], at: datetime | None = None, by: str | None = None
    ) -> Fault:
        """Acknowledge the active fault ``key`` (at ``at``, by account ``by``); raise
        :class:`ValidationError` if none."""
        current = self._active.get(key)
        if current is None:
            raise ValidationError(f"no open fault {key}; list the open faults to see their keys")
        self._active[key] = current.acknowledge(at, by)
        return self._active[key]

    def is_active(self, key: tuple[str, str, FaultKind]) -> bool:
        return key in self._active

    def active(self, site: str | None = None) -> list[Fault]:
        """Open and acknowledged faults (of one site), by ``(first_seen, site, device, kind)``."""
        faults = [f for f in self._active.values() if site is None or f.site == site]
        return sorted(faults, key=lambda f: (f.first_seen, f.site, f.device, str(f.kind)))

    def all(self, site: str | None = None) -> list[Fault]:
        """Every fault, closed ones included, by ``(first_seen, site, device, kind)``."""
        faults = [f for f in self._closed if site is None or f.site == site]
        faults += self.active(site)
        return sorted(faults, key=lambda f: (f.first_seen, f.site, f.device, str(f.kind)))

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._active) + len(self._closed)
