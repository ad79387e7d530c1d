"""OpenADR 3 values of the region operator: programs, events and reports, in the JSON shape of
the OpenADR 3.0.1 specification (no HTTP here; the VTN endpoints serve these documents).

The shapes follow the 3.0.1 OpenAPI schema: camelCase field names, ``objectType`` discriminators
(``PROGRAM``, ``EVENT``, ``REPORT``, ``EVENT_PAYLOAD_DESCRIPTOR``, ``REPORT_PAYLOAD_DESCRIPTOR``),
an ``intervalPeriod`` of ``start`` (RFC 3339, UTC, ``Z``) and ``duration`` (ISO 8601, e.g.
``PT15M``), intervals with integer ``id`` and ``payloads`` of ``{type, values}``, and ``targets``
as value maps ``{type, values}``. gridledger uses these payload types:

* ``PRICE``: one interval per slot, the retail price [currency per kWh, a float as the spec
  wants; the exact value is ``micro_per_kwh / 1e6``];
* ``IMPORT_CAPACITY_LIMIT``: a window's import limit per VEN [kW];
* ``SIMPLE``: a load-shed request for a window, level 0..3 (1: shed flexible load);
* ``ALERT_OTHER``: a notice, here the "excess consumption" alert, its text as value.

Reports carry ``BASELINE`` and ``USAGE`` per interval [Wh as the spec's ``WH`` unit]. Targets
name VENs by ``VEN_NAME`` (gridledger: the household's index in its region as a string, or its
address); an event without targets applies to every VEN of its program.

This module is hand-rolled rather than built on ``openadr3-client``: that package does not
install on this machine's Python 3.11, and the operator needs only the values and their JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gridledger.errors import ValidationError

#: Event payload types gridledger issues.
PRICE = "PRICE"
IMPORT_CAPACITY_LIMIT = "IMPORT_CAPACITY_LIMIT"
SIMPLE = "SIMPLE"
ALERT_OTHER = "ALERT_OTHER"
EVENT_PAYLOAD_TYPES = (PRICE, IMPORT_CAPACITY_LIMIT, SIMPLE, ALERT_OTHER)
#: Report payload types a VEN posts.
BASELINE = "BASELINE"
USAGE = "USAGE"
REPORT_PAYLOAD_TYPES = (BASELINE, USAGE)
#: Target type naming VENs.
VEN_NAME = "VEN_NAME"
#: Target type naming gridledger's region of a program (a private target type, as 3.0.1 allows).
REGION = "REGION"

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; ``t`` must be timezone-aware."""
    if t.tzinfo is None:
        raise ValidationError(f"time {t} has no timezone; pass an aware UTC datetime")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time with an offset or ``Z`` -> an aware UTC datetime."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(
            f"{text!r} is not an RFC 3339 time; write 2026-01-01T17:00:00Z"
        ) from exc
    if t.tzinfo is None:
        raise ValidationError(f"time {text!r} has no offset; end it with Z")
    return t.astimezone(UTC)


def format_duration(seconds: int) -> str:
    """Whole seconds as an ISO 8601 duration (``PT15M``, ``PT1H30M``, ``P1DT2H``)."""
    if seconds < 0:
        raise ValidationError(f"duration {seconds} s is negative; durations are >= 0")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v)
    out = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return out if out != "P" else "PT0S"


def parse_duration(text: str) -> int:
    """An ISO 8601 duration of days, hours, minutes and seconds -> seconds."""
    m = _DURATION.match(text)
    if m is None or text in ("P", "PT"):
        raise ValidationError(f"{text!r} is not an ISO 8601 duration; write e.g. PT15M")
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


@dataclass(frozen=True)
class IntervalPeriod:
    """A window: ``start`` (aware UTC) and ``duration_s`` [s]."""

    start: datetime
    duration_s: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)

    def to_json(self) -> dict[str, Any]:
        return {"start": format_time(self.start), "duration": format_duration(self.duration_s)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> IntervalPeriod:
        return cls(parse_time(str(doc["start"])), parse_duration(str(doc.get("duration", "PT0S"))))


@dataclass(frozen=True)
class Interval:
    """One interval of an event or report: its ``id``, optional own period, and payloads as
    ``{payload type: values}``."""

    id: int
    payloads: Mapping[str, Sequence[float | int | str]]
    period: IntervalPeriod | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id}
        if self.period is not None:
            doc["intervalPeriod"] = self.period.to_json()
        doc["payloads"] = [{"type": t, "values": list(v)} for t, v in self.payloads.items()]
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Interval:
        period = doc.get("intervalPeriod")
        return cls(
            int(doc["id"]),
            {str(p["type"]): list(p["values"]) for p in doc.get("payloads", [])},
            IntervalPeriod.from_json(period) if period else None,
        )


def _modified(created: object, modified: object) -> datetime | None:
    # a document whose modification time equals its creation time was never modified
    if not modified or modified == created:
        return None
    return parse_time(str(modified))


def _targets_json(ven_names: Sequence[str]) -> list[dict[str, Any]] | None:
    return [{"type": VEN_NAME, "values": list(ven_names)}] if ven_names else None


def _targets_from(doc: Mapping[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    for target in doc.get("targets") or []:
        if target.get("type") == VEN_NAME:
            names.extend(str(v) for v in target.get("values", []))
    return tuple(names)


@dataclass(frozen=True)
class Program:
    """A demand-response program of a region (``programName`` is the region's program name)."""

    id: str
    name: str
    long_name: str = ""
    retailer: str = ""
    created: datetime | None = None
    #: gridledger's region of the program, served as a ``REGION`` target ("" = none given)
    region: str = ""
    modified: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        stamp = format_time(self.created) if self.created else None
        doc: dict[str, Any] = {
            "id": self.id,
            "objectType": "PROGRAM",
            "programName": self.name,
            "programLongName": self.long_name or None,
            "retailerName": self.retailer or None,
            "createdDateTime": stamp,
            "modificationDateTime": format_time(self.modified) if self.modified else stamp,
            "targets": [{"type": REGION, "values": [self.region]}] if self.region else None,
            "payloadDescriptors": [
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": PRICE,
                    "units": "KWH",
                    "currency": "EUR",
                },
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": IMPORT_CAPACITY_LIMIT,
                    "units": "KW",
                },
            ],
        }
        return {k: v for k, v in doc.items() if v is not None}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Program:
        if doc.get("objectType", "PROGRAM") != "PROGRAM" or "programName" not in doc:
            raise ValidationError("not an OpenADR program: needs objectType PROGRAM, programName")
        created = doc.get("createdDateTime")
        modified = doc.get("modificationDateTime")
        regions = [
            str(v)
            for t in doc.get("targets") or []
            if isinstance(t, Mapping) and t.get("type") == REGION
            for v in t.get("values") or []
        ]
        return cls(
            str(doc.get("id") or ""), str(doc["programName"]),
            str(doc.get("programLongName") or ""), str(doc.get("retailerName") or ""),
            parse_time(created) if created else None, regions[0] if regions else "",
            _modified(created, modified),
        )  # fmt: skip


@dataclass(frozen=True)
class Event:
    """An event of a program: one payload type over ``intervals`` of ``period.duration_s`` each
    from ``period.start`` (interval ``i`` covers ``start + i * duration``), for the VENs named
    in ``targets`` (empty: all)."""

    id: str
    program_id: str
    name: str
    payload_type: str
    period: IntervalPeriod
    intervals: tuple[Interval, ...]
    targets: tuple[str, ...] = ()
    priority: int | None = None
    units: str | None = None
    created: datetime | None = None
    modified: datetime | None = None

    def __post_init__(self) -> None:
        if self.payload_type not in EVENT_PAYLOAD_TYPES:
            raise ValidationError(
                f"event payload type {self.payload_type!r} unknown; use one of "
                f"{', '.join(EVENT_PAYLOAD_TYPES)}"
            )
        if self.period.duration_s <= 0:
            raise ValidationError("an event's interval duration must be > 0 s (e.g. PT15M)")
        for iv in self.intervals:
            if not iv.payloads.get(self.payload_type):
                raise ValidationError(
                    f"interval {iv.id} has no {self.payload_type} value; every interval of an "
                    "event carries one payload of the event's type"
                )

    def window(self, index: int) -> IntervalPeriod:
        """The period of interval ``index``."""
        own = self.intervals[index].period
        if own is not None:
            return own
        start = self.period.start + timedelta(seconds=self.period.duration_s * index)
        return IntervalPeriod(start, self.period.duration_s)

    def values(self) -> list[float | int | str]:
        """The first value of each interval's payload of this event's type."""
        return [iv.payloads[self.payload_type][0] for iv in self.intervals]

    def to_json(self) -> dict[str, Any]:
        descriptor: dict[str, Any] = {
            "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
            "payloadType": self.payload_type,
        }
        if self.units:
            descriptor["units"] = self.units
        stamp = format_time(self.created) if self.created else None
        doc: dict[str, Any] = {
            "id": self.id or None,
            "createdDateTime": stamp,
            "modificationDateTime": format_time(self.modified) if self.modified else stamp,
            "objectType": "EVENT",
            "programID": self.program_id,
            "eventName": self.name,
            "priority": self.priority,
            "targets": _targets_json(self.targets),
            "payloadDescriptors": [descriptor],
            "intervalPeriod": self.period.to_json(),
            "intervals": [iv.to_json() for iv in self.intervals],
        }
        return {k: v for k, v in doc.items() if v is not None}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Event:
        if doc.get("objectType", "EVENT") != "EVENT" or "programID" not in doc:
            raise ValidationError("not an OpenADR event: needs objectType EVENT and programID")
        intervals = tuple(Interval.from_json(iv) for iv in doc.get("intervals", []))
        descriptors = doc.get("payloadDescriptors") or []
        kind = (
            str(descriptors[0]["payloadType"])
            if descriptors
            else next(iter(intervals[0].payloads), "")
            if intervals
            else ""
        )
        units = descriptors[0].get("units") if descriptors else None
        if not doc.get("intervalPeriod"):
            raise ValidationError("event without intervalPeriod: give start and duration")
        created = doc.get("createdDateTime")
        modified = doc.get("modificationDateTime")
        priority = doc.get("priority")
        return cls(
            str(doc.get("id") or ""), str(doc["programID"]), str(doc.get("eventName") or ""), kind,
            IntervalPeriod.from_json(doc["intervalPeriod"]), intervals, _targets_from(doc),
            None if priority is None else int(priority), units,
            parse_time(created) if created else None, _modified(created, modified),
        )  # fmt: skip


def price_event(
    id: str, program_id: str, start: datetime, slot_s: int, micro_per_kwh: Sequence[int]
) -> Event:
    """Prices per slot [micro-units/kWh] as a ``PRICE`` event (values in currency per kWh)."""
    intervals = tuple(Interval(i, {PRICE: [p / 1e6]}) for i, p in enumerate(micro_per_kwh))
    return Event(id, program_id, "prices", PRICE, IntervalPeriod(start, slot_s), intervals)


def limit_event(
    id: str, program_id: str, window: IntervalPeriod, limit_w: int, targets: Sequence[str] = ()
) -> Event:
    """An import limit [W, sent as kW] over one window for the targeted VENs."""
    interval = Interval(0, {IMPORT_CAPACITY_LIMIT: [limit_w / 1000]})
    return Event(
        id, program_id, "import limit", IMPORT_CAPACITY_LIMIT, window, (interval,),
        tuple(targets), units="KW",
    )  # fmt: skip


def shed_event(
    id: str, program_id: str, window: IntervalPeriod, level: int = 1, targets: Sequence[str] = ()
) -> Event:
    """A load-shed request (``SIMPLE`` level 0..3) over one window."""
    if not 0 <= level <= 3:
        raise ValidationError(f"SIMPLE level {level} out of range; use 0..3")
    interval = Interval(0, {SIMPLE: [level]})
    return Event(id, program_id, "load shed", SIMPLE, window, (interval,), tuple(targets))


def excess_notice(id: str, program_id: str, window: IntervalPeriod, ven: str, text: str) -> Event:
    """An "excess consumption" notice to one VEN (``ALERT_OTHER`` with ``text``)."""
    interval = Interval(0, {ALERT_OTHER: [text]})
    return Event(id, program_id, "excess consumption", ALERT_OTHER, window, (interval,), (ven,))


@dataclass(frozen=True)
class Report:
    """A VEN's report on one event: for its resource, per interval, the ``BASELINE`` (what it
    would have drawn) and ``USAGE`` (what it drew) [Wh]."""

    id: str
    program_id: str
    event_id: str
    client_name: str
    period: IntervalPeriod
    baseline_wh: tuple[int, ...]
    usage_wh: tuple[int, ...]
    created: datetime | None = None
    resource: str = field(default="")
    modified: datetime | None = None

    def __post_init__(self) -> None:
        if len(self.baseline_wh) != len(self.usage_wh):
            raise ValidationError("a report needs as many baseline as usage values")

    def to_json(self) -> dict[str, Any]:
        stamp = format_time(self.created) if self.created else None
        intervals = [
            Interval(i, {BASELINE: [b], USAGE: [u]}).to_json()
            for i, (b, u) in enumerate(zip(self.baseline_wh, self.usage_wh, strict=True))
        ]
        doc: dict[str, Any] = {
            "id": self.id or None,
            "objectType": "REPORT",
            "createdDateTime": stamp,
            "modificationDateTime": format_time(self.modified) if self.modified else stamp,
            "programID": self.program_id,
            "eventID": self.event_id,
            "clientName": self.client_name,
            "reportName": f"response to {self.event_id}",
            "payloadDescriptors": [
                {
                    # no objectType: the spec's default is REPORT_PAYLOAD_DESCRIPTOR, and
                    # openadr3-client 2.4 types a report's descriptors as event descriptors
                    # (it refuses the explicit REPORT_PAYLOAD_DESCRIPTOR)
                    "payloadType": t,
                    "readingType": "DIRECT_READ",
                    "units": "WH",
                }
                for t in REPORT_PAYLOAD_TYPES
            ],
            "resources": [
                {
                    "resourceName": self.resource or self.client_name,
                    "intervalPeriod": self.period.to_json(),
                    "intervals": intervals,
                }
            ],
        }
        return {k: v for k, v in doc.items() if v is not None}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Report:
        for key in ("programID", "eventID", "clientName", "resources"):
            if key not in doc:
                raise ValidationError(f"OpenADR report without {key!r}")
        resource = doc["resources"][0]
        intervals = [Interval.from_json(iv) for iv in resource.get("intervals", [])]
        created = doc.get("createdDateTime")
        modified = doc.get("modificationDateTime")
        period = resource.get("intervalPeriod") or doc.get("intervalPeriod")
        if not period:
            raise ValidationError("OpenADR report without an intervalPeriod (resource or report)")
        return cls(
            str(doc.get("id") or ""), str(doc["programID"]), str(doc["eventID"]),
            str(doc["clientName"]), IntervalPeriod.from_json(period),
            tuple(int(iv.payloads[BASELINE][0]) for iv in intervals),
            tuple(int(iv.payloads[USAGE][0]) for iv in intervals),
            parse_time(created) if created else None, str(resource.get("resourceName") or ""),
            _modified(created, modified),
        )  # fmt: skip


def parse_object(kind: str, doc: object) -> Program | Event | Report:
    """``doc`` (decoded JSON) as a ``PROGRAM``, ``EVENT`` or ``REPORT``; any malformed document
    (missing or mistyped fields) is a :class:`ValidationError` naming what was wrong."""
    parsers: dict[str, Callable[[Mapping[str, Any]], Program | Event | Report]] = {
        "PROGRAM": Program.from_json, "EVENT": Event.from_json, "REPORT": Report.from_json,
    }  # fmt: skip
    if not isinstance(doc, Mapping):
        raise ValidationError(f"an OpenADR {kind.lower()} is a JSON object")
    try:
        return parsers[kind](doc)
    except ValidationError:
        raise
    except (
        KeyError,
        IndexError,
        TypeError,
        ValueError,
        AttributeError,
        OverflowError,
        StopIteration,
    ) as exc:
        raise ValidationError(
            f"malformed OpenADR {kind.lower()}: {type(exc).__name__} {exc}; see the OpenADR "
            "3.0.1 schema of the object"
        ) from exc
