"""``gridledger faults``: a site's faults, as the live service stored them and as the detectors
find them in the readings in the store."""

from __future__ import annotations

import json

import click

from gridledger.cli.group import main, settings_of

STATES = ("open", "acknowledged", "closed")


@main.command()
@click.option("--site", "site_id", required=True, help="Site id (as registered in the store).")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES),
    help="Only faults in this state (repeat for several; default: all).",
)
@click.option(
    "--detect/--no-detect",
    default=True,
    show_default=True,
    help="Also run the detectors over the site's readings in the store.",
)
@click.option(
    "--days",
    default=14.0,
    show_default=True,
    type=click.FloatRange(0.1, 120),
    help="Days of readings before the site's latest reading to judge.",
)
@click.option(
    "--latitude",
    default=48.14,
    show_default=True,
    help="Latitude [deg] of PV arrays that do not register their own.",
)
@click.option(
    "--longitude",
    default=11.58,
    show_default=True,
    help="Longitude [deg] of PV arrays that do not register their own.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the faults as one JSON list.")
@click.pass_context
def faults(
    ctx: click.Context,
    site_id: str,
    states: tuple[str, ...],
    detect: bool,
    days: float,
    latitude: float,
    longitude: float,
    as_json: bool,
) -> None:
    """A site's faults: those the live service stored (open, acknowledged, closed) and those the
    detectors find open in its readings now; "no faults" when there are none."""
    from gridledger.errors import ValidationError
    from gridledger.monitor import fault_from_row
    from gridledger.monitor.readings import site_faults
    from gridledger.service.plant_faults import fault_id
    from gridledger.store import open_store

    wanted = set(states or STATES)
    cfg = settings_of(ctx)
    with open_store(cfg.store_location) as store:
        if store.get_site(site_id) is None:
            raise ValidationError(
                f"site {site_id!r} is not registered in the store {store.url}; check the id"
            )
        stored = [fault_from_row(r) for r in store.list_faults(site_id, sorted(wanted))]
        report = None
        if detect and "open" in wanted:
            report = site_faults(
                store,
                site_id,
                days=days,
                slot_s=int(cfg["slot_minutes"]) * 60,
                latitude=latitude,
                longitude=longitude,
            )
    # a fault the service stored and still has active is not listed twice
    active = {f.key for f in stored if f.is_active}
    detected = [f for f in (report.faults if report else []) if f.key not in active]
    listed = [(f, "store") for f in stored] + [(f, "readings") for f in detected]
    if as_json:
        click.echo(
            json.dumps([{"id": fault_id(f), "source": src, **f.to_json()} for f, src in listed])
        )
        return
    if report is not None:
        click.echo(
            f"site {site_id} ({report.region}, {report.neighbours} neighbours), "
            f"{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC; last 24 h: "
            f"PV {report.produced_wh} Wh, grid import {report.imported_wh} Wh"
        )
    else:
        click.echo(f"site {site_id}: faults stored by the live service")
    if not listed:
        click.echo("no faults")
        return
    for f, source in listed:
        evidence = ", ".join(f"{k}={v:g}" for k, v in f.evidence.items())
        where = "found in the readings" if source == "readings" else f"id {fault_id(f)}"
        closed = f", closed {f.closed_at:%Y-%m-%d %H:%M}" if f.closed_at else ""
        acked = (
            f", acknowledged {f.acknowledged_at:%Y-%m-%d %H:%M} by {f.acknowledged_by}"
            if f.acknowledged_at
            else ""
        )
        click.echo(
            f"\n[{f.severity}] {f.kind} on {f.device} ({f.status}) since "
            f"{f.first_seen:%Y-%m-%d %H:%M}, last seen {f.last_seen:%Y-%m-%d %H:%M} UTC"
            f"{closed}{acked}; {where}\n  {f.explanation}\n  evidence: {evidence}"
        )
