"""The third-party ``openadr3-client`` (PyPI, ElaadNL) talking to gridledger's VTN, as a VEN or as
the business logic (BL).

Run by the Python 3.13 under ``.tools/py313`` (``scripts/setup_interop_python.sh``; the client
needs Python >= 3.12), not by the project's venv, and not imported by gridledger: the test
``tests/test_openadr_interop.py`` starts a real ``gridledger serve`` and runs this file. It uses
only the client's public API for OpenADR 3.0.1 (the version gridledger's VTN speaks), with the
client's OAuth 2 client-credentials flow at ``--token-url`` (plain HTTP on 127.0.0.1 is allowed
through oauthlib's ``OAUTHLIB_INSECURE_TRANSPORT``).

``--role ven`` (default):

1. ``VirtualEndNodeHttpClientFactory.create_http_ven_client``;
2. ``programs.get_programs`` and ``events.get_events`` (per program) -- every object passes the
   client's pydantic validation or the call raises;
3. with ``--event-id``: ``reports.create_report`` with a ``NewReport`` on that event (per interval
   of the event a ``BASELINE`` and a ``USAGE`` payload [Wh]), then ``reports.get_report_by_id`` on
   the id the VTN gave it.

``--role bl``: ``BusinessLogicHttpClientFactory.create_http_bl_client``, then
``programs.create_program`` (a ``NewProgram`` for ``--region``, named ``--program-name``) and
``events.create_event`` (a ``NewEvent``: ``PRICE`` per slot, ``--prices`` [currency/kWh] from
``--start`` every ``--slot-minutes``).

Prints one JSON object: what the client saw, posted and read back. Exits non-zero (with the VTN's
answer) when any call fails.

The file keeps to Python 3.11 syntax so ruff and mypy check it with the rest of tests/ (the client's
modules are untyped there: mypy's ``ignore_missing_imports`` for ``openadr3_client.*``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from datetime import datetime, timedelta
from typing import Any


def _interval_values(intervals: Any) -> list[dict[str, Any]]:
    return [
        {"id": iv.id, "payloads": {str(p.type): list(p.values) for p in iv.payloads}}
        for iv in intervals or ()
    ]


def _report_json(report: Any) -> dict[str, Any]:
    return {
        "id": str(report.id),
        "programID": str(report.program_id),
        "eventID": str(report.event_id),
        "clientName": str(report.client_name),
        "resources": [
            {"resourceName": str(r.resource_name), "intervals": _interval_values(r.intervals)}
            for r in report.resources
        ],
    }


def run_bl(args: argparse.Namespace) -> dict[str, Any]:
    """The BL's session: a program and a price event created through the client."""
    from openadr3_client.bl.http_factory import BusinessLogicHttpClientFactory
    from openadr3_client.oadr301.models.event.event import Interval, IntervalPeriod, NewEvent
    from openadr3_client.oadr301.models.event.event_payload import (
        EventPayload,
        EventPayloadDescriptor,
        EventPayloadType,
    )
    from openadr3_client.oadr301.models.program.program import NewProgram
    from openadr3_client.oadr301.models.target import Target
    from openadr3_client.oadr301.models.unit import Unit
    from openadr3_client.version import OADRVersion

    bl = BusinessLogicHttpClientFactory.create_http_bl_client(
        vtn_base_url=args.vtn.rstrip("/"),
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_url=args.token_url,
        version=OADRVersion.OADR_301,
    )
    program = bl.programs.create_program(
        NewProgram(
            program_name=args.program_name,
            program_long_name="created by openadr3-client",
            targets=(Target(type="REGION", values=(args.region,)),),
        )
    )
    event = bl.events.create_event(
        NewEvent(
            program_id=str(program.id),
            event_name="prices from openadr3-client",
            payload_descriptors=(
                EventPayloadDescriptor(
                    payload_type=EventPayloadType.PRICE, units=Unit.KWH, currency="EUR"
                ),
            ),
            interval_period=IntervalPeriod(
                start=datetime.fromisoformat(args.start.replace("Z", "+00:00")),
                duration=timedelta(minutes=args.slot_minutes),
            ),
            intervals=tuple(
                Interval(id=i, payloads=(EventPayload(type=EventPayloadType.PRICE, values=(p,)),))
                for i, p in enumerate(args.prices)
            ),
        )
    )
    return {
        "program": {"id": str(program.id), "programName": str(program.program_name)},
        "event": {
            "id": str(event.id),
            "programID": str(event.program_id),
            "intervals": _interval_values(event.intervals),
        },
    }


def run_ven(args: argparse.Namespace) -> dict[str, Any]:
    """The VEN's session against the VTN at ``args.vtn``; the summary printed as JSON."""
    from openadr3_client.oadr301.models.report.report import (
        Interval,
        IntervalPeriod,
        NewReport,
        ReportResource,
    )
    from openadr3_client.oadr301.models.report.report_payload import (
        ReportPayload,
        ReportPayloadType,
    )
    from openadr3_client.ven.http_factory import VirtualEndNodeHttpClientFactory
    from openadr3_client.version import OADRVersion

    ven = VirtualEndNodeHttpClientFactory.create_http_ven_client(
        vtn_base_url=args.vtn.rstrip("/"),
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_url=args.token_url,
        version=OADRVersion.OADR_301,
    )
    programs = ven.programs.get_programs(target=None, pagination=None)
    events = []
    for program in programs:
        events.extend(ven.events.get_events(target=None, pagination=None, program_id=program.id))
    summary: dict[str, Any] = {
        "programs": [{"id": str(p.id), "programName": str(p.program_name)} for p in programs],
        "events": [
            {
                "id": str(e.id),
                "programID": str(e.program_id),
                "eventName": e.event_name,
                "intervals": _interval_values(e.intervals),
            }
            for e in events
        ],
    }
    if args.event_id is None:
        return summary

    event = next((e for e in events if str(e.id) == args.event_id), None)
    if event is None:
        raise SystemExit(f"event {args.event_id} is not among the events the VEN read")
    period = event.interval_period
    resource = ReportResource(
        resource_name=args.resource or args.client_name,
        interval_period=IntervalPeriod(start=period.start, duration=period.duration)
        if period is not None
        else None,
        intervals=tuple(
            Interval(
                id=iv.id,
                payloads=(
                    ReportPayload(type=ReportPayloadType.BASELINE, values=(args.baseline_wh,)),
                    ReportPayload(type=ReportPayloadType.USAGE, values=(args.usage_wh,)),
                ),
            )
            for iv in event.intervals
        ),
    )
    new_report = NewReport(
        program_id=str(event.program_id),
        event_id=str(event.id),
        client_name=args.client_name,
        report_name=f"openadr3-client response to {event.id}",
        resources=(resource,),
    )
    created = ven.reports.create_report(new_report)
    summary["report"] = _report_json(created)
    summary["report_read_back"] = _report_json(ven.reports.get_report_by_id(str(created.id)))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--vtn", required=True, help="the VTN's base URL (no trailing /)")
    parser.add_argument("--token-url", required=True, help="OAuth 2 token endpoint")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--role", choices=("ven", "bl"), default="ven")
    parser.add_argument("--client-name", default="", help="VEN: clientName of the report")
    parser.add_argument("--resource", default="", help="resourceName (default: client name)")
    parser.add_argument("--event-id", default=None, help="post a report on this event")
    parser.add_argument("--baseline-wh", type=int, default=1200, help="BASELINE per interval")
    parser.add_argument("--usage-wh", type=int, default=800, help="USAGE per interval")
    parser.add_argument("--region", default="", help="BL: the program's region")
    parser.add_argument("--program-name", default="", help="BL: the new program's name")
    parser.add_argument("--start", default="", help="BL: the event's start (RFC 3339)")
    parser.add_argument("--slot-minutes", type=int, default=15, help="BL: interval length")
    parser.add_argument("--prices", type=float, nargs="*", default=[], help="BL: per interval")
    args = parser.parse_args(argv)
    # requests-oauthlib refuses a token URL over plain HTTP unless told it is a test setup
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
    try:
        summary = run_bl(args) if args.role == "bl" else run_ven(args)
    except Exception as exc:
        response = getattr(exc, "response", None)
        body = response.text[:2000] if response is not None else ""
        print(f"{traceback.format_exc()}\nVTN answered: {body}", file=sys.stderr)
        return 1
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
