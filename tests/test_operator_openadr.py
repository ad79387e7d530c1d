"""OpenADR 3.0.1 values: their JSON shape, round trips, and refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

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
