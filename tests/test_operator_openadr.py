"""OpenADR 3.0.1 values: their JSON shape, round trips, and refusals."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.errors import ValidationError
from gridledger.operator.openadr import (
    Event,
    IntervalPeriod,
    Program,
    Report,
    excess_notice,
    format_duration,
    limit_event,
    parse_duration,
    parse_object,
    parse_time,
    price_event,
    shed_event,
)

T0 = datetime(2026, 1, 1, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(900, "PT15M"), (3600, "PT1H"), (5400, "PT1H30M"), (86400 + 7200, "P1DT2H"), (0, "PT0S"),
     (61, "PT1M1S")],
)  # fmt: skip
def test_durations_are_iso_8601_both_ways(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_bad_durations_and_times_are_refused() -> None:
    for text in ("15M", "P", "PT", "PT1.5H"):
        with pytest.raises(ValidationError):
            parse_duration(text)
    with pytest.raises(ValidationError):
        parse_time("2026-01-01T16:00:00")
    with pytest.raises(ValidationError):
        format_duration(-1)


def test_price_event_has_the_spec_shape_and_round_trips() -> None:
    event = price_event("e1", "p1", T0, 900, [300000, 380000, 380000])
    doc = event.to_json()
    assert doc["objectType"] == "EVENT"
    assert doc["programID"] == "p1"
    assert doc["intervalPeriod"] == {"start": "2026-01-01T16:00:00Z", "duration": "PT15M"}
    assert doc["payloadDescriptors"][0]["payloadType"] == "PRICE"
    assert doc["payloadDescriptors"][0]["objectType"] == "EVENT_PAYLOAD_DESCRIPTOR"
    assert [iv["id"] for iv in doc["intervals"]] == [0, 1, 2]
    assert doc["intervals"][1]["payloads"] == [{"type": "PRICE", "values": [0.38]}]
    assert "targets" not in doc  # no targets: every VEN of the program
    back = Event.from_json(json.loads(json.dumps(doc)))
    assert back == event
    assert back.window(2) == IntervalPeriod(T0 + timedelta(minutes=30), 900)


def test_limit_shed_and_notice_events_target_vens() -> None:
    window = IntervalPeriod(T0, 4 * 3600)
    limit = limit_event("l", "p", window, 2500, targets=["3", "7"])
    doc = limit.to_json()
    assert doc["targets"] == [{"type": "VEN_NAME", "values": ["3", "7"]}]
    assert doc["intervals"][0]["payloads"] == [{"type": "IMPORT_CAPACITY_LIMIT", "values": [2.5]}]
    assert doc["payloadDescriptors"][0]["units"] == "KW"
    assert Event.from_json(doc) == limit
    shed = shed_event("s", "p", window, level=2)
    assert shed.values() == [2]
    assert Event.from_json(shed.to_json()) == shed
    with pytest.raises(ValidationError):
        shed_event("s", "p", window, level=4)
    notice = excess_notice("n", "p", window, "5", "twice your usual")
    assert notice.to_json()["intervals"][0]["payloads"][0] == {
        "type": "ALERT_OTHER", "values": ["twice your usual"],
    }  # fmt: skip


def test_program_and_report_round_trip() -> None:
    program = Program("p1", "altstadt-dr", "Altstadt demand response", "altstadt energy", T0)
    doc = program.to_json()
    assert doc["objectType"] == "PROGRAM" and doc["programName"] == "altstadt-dr"
    assert doc["createdDateTime"] == "2026-01-01T16:00:00Z"
    assert Program.from_json(doc) == program
    report = Report("r1", "p1", "e1", "12", IntervalPeriod(T0, 900), (500, 600), (0, 100), T0)
    rdoc = report.to_json()
    assert rdoc["objectType"] == "REPORT" and rdoc["eventID"] == "e1"
    resource = rdoc["resources"][0]
    assert resource["resourceName"] == "12"
    assert resource["intervals"][1]["payloads"] == [
        {"type": "BASELINE", "values": [600]}, {"type": "USAGE", "values": [100]},
    ]  # fmt: skip
    assert Report.from_json(json.loads(json.dumps(rdoc))) == Report(
        "r1", "p1", "e1", "12", IntervalPeriod(T0, 900), (500, 600), (0, 100), T0, "12"
    )


def test_malformed_documents_are_refused() -> None:
    with pytest.raises(ValidationError):
        Event.from_json({"objectType": "EVENT", "intervals": []})
    with pytest.raises(ValidationError):
        Event("e", "p", "x", "NOT_A_TYPE", IntervalPeriod(T0, 900), ())
    with pytest.raises(ValidationError):
        Program.from_json({"objectType": "EVENT", "programName": "x"})
    with pytest.raises(ValidationError):
        Report.from_json({"programID": "p"})
    with pytest.raises(ValidationError):
        Report("r", "p", "e", "c", IntervalPeriod(T0, 900), (1,), ())


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)  # fmt: skip
KEYS = st.sampled_from([
    "id", "objectType", "programID", "eventID", "clientName", "programName", "intervalPeriod",
    "intervals", "payloadDescriptors", "targets", "resources", "createdDateTime", "priority",
])  # fmt: skip


@given(kind=st.sampled_from(["PROGRAM", "EVENT", "REPORT"]),
       doc=st.dictionaries(KEYS, JSON, max_size=8) | JSON)  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_any_json_parses_or_is_a_validation_error(kind: str, doc: object) -> None:
    """The VTN parses whatever a client sends: a value of the kind, or a ValidationError (a 422
    problem), never another exception (a 500)."""
    try:
        parsed = parse_object(kind, doc)
    except ValidationError:
        return
    assert type(parsed).__name__ == kind.capitalize()


def test_stamped_objects_round_trip_with_their_times() -> None:
    modified = T0 + timedelta(minutes=5)
    event = limit_event("e1", "p1", IntervalPeriod(T0, 900), 2500, ["central-0003"])
    stamped = replace(event, created=T0, modified=modified)
    doc = stamped.to_json()
    assert doc["createdDateTime"] == "2026-01-01T16:00:00Z"
    assert doc["modificationDateTime"] == "2026-01-01T16:05:00Z"
    assert parse_object("EVENT", json.loads(json.dumps(doc))) == stamped
    # never modified: both times are the creation time, and it reads back as unmodified
    fresh = replace(event, created=T0)
    assert fresh.to_json()["modificationDateTime"] == fresh.to_json()["createdDateTime"]
    assert Event.from_json(fresh.to_json()) == fresh
    program = Program("p1", "central-dr", created=T0, region="central", modified=modified)
    assert program.to_json()["targets"] == [{"type": "REGION", "values": ["central"]}]
    assert Program.from_json(program.to_json()) == program


def _paths(doc: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value inside ``doc`` (dict keys and list indexes)."""
    items: list[tuple[object, object]] = []
    if isinstance(doc, dict):
        items = list(doc.items())
    elif isinstance(doc, list):
        items = list(enumerate(doc))
    out: list[tuple[object, ...]] = []
    for key, value in items:
        out.append((*prefix, key))
        out += _paths(value, (*prefix, key))
    return out


@given(kind=st.sampled_from(["EVENT", "REPORT"]), pick=st.integers(0, 10**6), value=JSON)
@settings(max_examples=300, deadline=None)
def test_a_valid_object_with_any_field_replaced_parses_or_is_refused(
    kind: str, pick: int, value: object
) -> None:
    """Deeper than random JSON: one value anywhere in a valid event or report replaced by any
    JSON value still parses or is a ValidationError."""
    period = IntervalPeriod(T0, 900)
    obj = (
        limit_event("e1", "p1", period, 2500, ["central-0003"])
        if kind == "EVENT"
        else Report("r1", "p1", "e1", "central-0003", period, (300, 200), (100, 50), T0)
    )
    doc = json.loads(json.dumps(obj.to_json()))
    paths = _paths(doc)
    path = paths[pick % len(paths)]
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with contextlib.suppress(ValidationError):  # any other exception fails the test
        parse_object(kind, doc)
