"""``gridledger faults``: the open faults of one site, from the readings in the store."""

from __future__ import annotations

import json

import click

from gridledger.cli.group import main, settings_of


@main.command()
@click.option("--site", "site_id", required=True, help="Site id (as registered in the store).")
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
    days: float,
    latitude: float,
    longitude: float,
    as_json: bool,
) -> None:
    """Detect faults of a site's PV, meters and battery; print the open ones ("no faults")."""
    from gridledger.monitor.readings import site_faults
    from gridledger.store import open_store

    cfg = settings_of(ctx)
    with open_store(cfg.store_location) as store:
        report = site_faults(
            store,
            site_id,
            days=days,
            slot_s=int(cfg["slot_minutes"]) * 60,
            latitude=latitude,
            longitude=longitude,
        )
    found = report.faults
    if as_json:
        click.echo(json.dumps([f.to_json() for f in found]))
        return
    click.echo(
        f"site {site_id} ({report.region}, {report.neighbours} neighbours), "
        f"{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC; last 24 h: "
        f"PV {report.produced_wh} Wh, grid import {report.imported_wh} Wh"
    )
    if not found:
        click.echo("no faults")
        return
    for f in found:
        evidence = ", ".join(f"{k}={v:g}" for k, v in f.evidence.items())
        click.echo(
            f"\n[{f.severity}] {f.kind} on {f.device} ({f.status}) since "
            f"{f.first_seen:%Y-%m-%d %H:%M}, last seen {f.last_seen:%Y-%m-%d %H:%M} UTC\n"
            f"  {f.explanation}\n  evidence: {evidence}"
        )
