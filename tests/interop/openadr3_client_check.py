"""A VEN built on the third-party ``openadr3-client`` (PyPI, ElaadNL) talking to gridledger's VTN.

Run by the Python 3.13 under ``.tools/py313`` (``scripts/setup_interop_python.sh``; the client
needs Python >= 3.12), not by the project's venv, and not imported by gridledger: the test
``tests/test_openadr_interop.py`` starts a real ``gridledger serve`` and runs this file. It uses
only the client's public API for OpenADR 3.0.1 (the version gridledger's VTN speaks):

1. ``VirtualEndNodeHttpClientFactory.create_http_ven_client`` with the VEN's client id and secret
   (OAuth 2 client credentials at ``--token-url``; plain HTTP on 127.0.0.1 is allowed through
   oauthlib's ``OAUTHLIB_INSECURE_TRANSPORT``);
2. ``programs.get_programs`` and ``events.get_events`` (per program) -- every object passes the
   client's pydantic validation or the call raises;
3. ``reports.create_report`` with a ``NewReport`` on one event (``--event-id``): per interval of the
   event a ``BASELINE`` and a ``USAGE`` payload [Wh];
4. ``reports.get_report_by_id`` on the id the VTN gave it.

Prints one JSON object: the programs and events it saw, the report it posted and the one it read
back. Exits non-zero (with the VTN's answer) when any call fails.

The file keeps to Python 3.11 syntax so ruff and mypy check it with the rest of tests/ (the client's
modules are untyped there: mypy's ``ignore_missing_imports`` for ``openadr3_client.*``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
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


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The VEN's session against the VTN at ``args.vtn``; the summary printed as JSON."""
    # requests-oauthlib refuses a token URL over plain HTTP unless told it is a test setup
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
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
    parser.add_argument("--client-name", required=True, help="clientName of the report")
    parser.add_argument("--resource", default="", help="resourceName (default: client name)")
    parser.add_argument("--event-id", default=None, help="post a report on this event")
    parser.add_argument("--baseline-wh", type=int, default=1200, help="BASELINE per interval")
    parser.add_argument("--usage-wh", type=int, default=800, help="USAGE per interval")
    args = parser.parse_args(argv)
    try:
        summary = run(args)
    except Exception as exc:
        response = getattr(exc, "response", None)
        body = response.text[:2000] if response is not None else ""
        print(f"{traceback.format_exc()}\nVTN answered: {body}", file=sys.stderr)
        return 1
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
