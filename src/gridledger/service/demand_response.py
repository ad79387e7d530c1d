"""A household's and an operator's demand-response operations of the ``/api/v1`` API: VEN and BL
client credentials for the OpenADR VTN, opting a site out of a program or one event, and the
site's view (the region's events, whether the home takes part, what it did, its alerts).

Access goes through the one policy: a site's credentials and opt-outs are its owner's
(:data:`Action.COMMAND_SITE`), its view is readable like the site (:data:`Action.READ_SITE`), the
BL credentials are the region operator's (:data:`Action.OPERATE_REGION`).
"""

from __future__ import annotations

from typing import Any

from gridledger.identity import checksum
from gridledger.operator.openadr import format_time
from gridledger.service.access import Action, Principal, Role, authorize
from gridledger.service.monitor import site_for
from gridledger.service.platform import Platform
from gridledger.service.vtn import Issued, Vtn


def _vtn(platform: Platform) -> Vtn:
    assert platform.vtn is not None, "open() the platform first"
    return platform.vtn


def ven_credentials(platform: Platform, principal: Principal | None, site_id: str) -> Issued:
    """New client credentials for the VEN of the caller's site (earlier ones end)."""
    site = site_for(platform, principal, site_id, Action.COMMAND_SITE)
    return _vtn(platform).issue(site.region, checksum(site.owner), site_id)


def bl_credentials(platform: Platform, principal: Principal | None, region: str) -> Issued:
    """New client credentials for the VTN's business logic of ``region`` (its operator)."""
    p = authorize(principal, Action.OPERATE_REGION, region=region)
    platform.region(region)
    return _vtn(platform).issue(region, p.address, None)


def set_opt_out(
    platform: Platform, principal: Principal | None, site_id: str, *,
    program_id: str | None, event_id: str | None, opted_out: bool,
) -> dict[str, Any]:  # fmt: skip
    """Opt the caller's site out of (or back into) a program or one event; the site's view."""
    site = site_for(platform, principal, site_id, Action.COMMAND_SITE)
    _vtn(platform).set_opt_out(
        site.region, site_id, program_id=program_id, event_id=event_id, out=opted_out
    )
    return view(platform, principal, site_id)


def _ven(site_id: str, region: str, address: str) -> Principal:
    # the site as its VEN sees the VTN
    return Principal(
        address, frozenset({Role.HOUSEHOLD}), frozenset({site_id}),
        site_regions=frozenset({region}),
    )  # fmt: skip


def view(platform: Platform, principal: Principal | None, site_id: str) -> dict[str, Any]:
    """The site's demand response: programs (opted out or not), the region's events that
    apply to it with its participation and its reported baseline and usage [Wh], its alerts."""
    site = site_for(platform, principal, site_id, Action.READ_SITE)
    vtn = _vtn(platform)
    ven = _ven(site_id, site.region, checksum(site.owner))
    programs = [
        {
            "program_id": p.id,
            "name": p.name,
            "long_name": p.long_name,
            "opted_out": (p.id, site_id) in vtn.program_opt_outs,
        }
        for p in vtn.list_programs(ven, 0, 50)
    ]
    reports = {r.event_id: r for r in vtn.reports_of(site_id)}
    now = platform.clock.now()
    events = []
    for e in vtn.list_events(ven, None, 0, 50):
        first, last = e.window(0), e.window(len(e.intervals) - 1)
        report = reports.get(e.id)
        status = "ended" if last.end <= now else "active" if first.start <= now else "upcoming"
        events.append(
            {
                "event_id": e.id,
                "program_id": e.program_id,
                "name": e.name,
                "payload_type": e.payload_type,
                "units": e.units,
                "start": format_time(first.start),
                "end": format_time(last.end),
                "values": [v if isinstance(v, str) else float(v) for v in e.values()],
                "status": status,
                "takes_part": not vtn.opted_out(site_id, e),
                "opted_out_of_event": (e.id, site_id) in vtn.event_opt_outs,
                "baseline_wh": sum(report.baseline_wh) if report else None,
                "usage_wh": sum(report.usage_wh) if report else None,
                "report_id": report.id if report else None,
            }
        )
    vens = platform.vens.get(site.region)
    alerts = list(vens.alerts.get(site_id, ())) if vens is not None else []
    return {
        "site_id": site_id,
        "region": site.region,
        "ven_name": site_id,
        "programs": programs,
        "events": events,
        "alerts": [
            {"alert": a["alert"], "text": a["text"], "event_id": a.get("event_id")}
            for a in reversed(alerts)
        ],
    }
