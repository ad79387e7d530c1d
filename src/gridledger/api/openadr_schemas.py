# ruff: noqa: N815 (the fields are the OpenADR specification's camelCase names)
"""The OpenADR 3.0.1 objects as pydantic models: the VTN's request and response schemas.

Field names are the specification's camelCase, so the JSON is the spec's shape; the values are
built and read by :mod:`gridledger.operator.openadr` (these models only document and check the
shape at the edge). Request models accept fields the spec has and gridledger does not use
(``extra="allow"``: an OpenADR client sends its full objects); response models list what
gridledger serves. Units are the spec's: ``PRICE`` in currency per kWh, ``IMPORT_CAPACITY_LIMIT``
in kW, report values in Wh.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Value = float | int | str | bool
DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ValuesMap(_Open):
    type: str = Field(min_length=1, max_length=128)
    values: list[Value] = Field(max_length=1000)


class IntervalPeriod(_Open):
    start: str = Field(pattern=DATETIME, description="RFC 3339 start, e.g. 2026-01-15T17:00:00Z")
    duration: str | None = Field(default=None, max_length=64, description="ISO 8601, e.g. PT15M")
    randomizeStart: str | None = Field(default=None, max_length=64)


class Interval(_Open):
    id: int = Field(ge=0, le=2**31)
    intervalPeriod: IntervalPeriod | None = None
    payloads: list[ValuesMap] = Field(max_length=100)


class PayloadDescriptor(_Open):
    objectType: str | None = Field(default=None, max_length=64)
    payloadType: str = Field(min_length=1, max_length=128)
    units: str | None = Field(default=None, max_length=32)
    currency: str | None = Field(default=None, max_length=8)
    readingType: str | None = Field(default=None, max_length=64)


class ProgramIn(_Open):
    """A program as the BL sends it (``id`` and times are the VTN's; ignored if sent)."""

    objectType: Literal["PROGRAM"] | None = None
    programName: str = Field(min_length=1, max_length=128)
    programLongName: str | None = Field(default=None, max_length=256)
    retailerName: str | None = Field(default=None, max_length=128)
    targets: list[ValuesMap] | None = Field(default=None, max_length=100)
    payloadDescriptors: list[PayloadDescriptor] | None = Field(default=None, max_length=20)


class ProgramOut(BaseModel):
    id: str
    createdDateTime: str | None = None
    modificationDateTime: str | None = None
    objectType: Literal["PROGRAM"]
    programName: str
    programLongName: str | None = None
    retailerName: str | None = None
    targets: list[ValuesMap] | None = None
    payloadDescriptors: list[PayloadDescriptor] | None = None


class EventIn(_Open):
    """An event as the BL sends it: one payload type over ``intervals`` (interval ``i`` covers
    ``intervalPeriod.start + i * duration`` unless it has its own period)."""

    objectType: Literal["EVENT"] | None = None
    programID: str = Field(min_length=1, max_length=128)
    eventName: str | None = Field(default=None, max_length=128)
    priority: int | None = Field(default=None, ge=0, le=2**31)
    targets: list[ValuesMap] | None = Field(default=None, max_length=100)
    payloadDescriptors: list[PayloadDescriptor] | None = Field(default=None, max_length=20)
    intervalPeriod: IntervalPeriod
    intervals: list[Interval] = Field(min_length=1, max_length=1000)


class EventOut(BaseModel):
    id: str
    createdDateTime: str | None = None
    modificationDateTime: str | None = None
    objectType: Literal["EVENT"]
    programID: str
    eventName: str | None = None
    priority: int | None = None
    targets: list[ValuesMap] | None = None
    payloadDescriptors: list[PayloadDescriptor] | None = None
    intervalPeriod: IntervalPeriod
    intervals: list[Interval]


class ReportResource(_Open):
    resourceName: str = Field(min_length=1, max_length=128)
    intervalPeriod: IntervalPeriod | None = None
    intervals: list[Interval] = Field(max_length=1000)


class ReportIn(_Open):
    """A VEN's report: per interval ``BASELINE`` and ``USAGE`` [Wh]; ``clientName`` is the VEN
    name (its site id)."""

    objectType: Literal["REPORT"] | None = None
    programID: str = Field(min_length=1, max_length=128)
    eventID: str = Field(min_length=1, max_length=128)
    clientName: str = Field(min_length=1, max_length=128)
    reportName: str | None = Field(default=None, max_length=128)
    payloadDescriptors: list[PayloadDescriptor] | None = Field(default=None, max_length=20)
    resources: list[ReportResource] = Field(min_length=1, max_length=100)


class ReportOut(BaseModel):
    id: str
    createdDateTime: str | None = None
    modificationDateTime: str | None = None
    objectType: Literal["REPORT"]
    programID: str
    eventID: str
    clientName: str
    reportName: str | None = None
    payloadDescriptors: list[PayloadDescriptor] | None = None
    resources: list[ReportResource]


class VenOut(BaseModel):
    id: str
    objectType: Literal["VEN"]
    venName: str
    targets: list[ValuesMap] | None = None


class AuthServerOut(BaseModel):
    tokenURL: str


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
