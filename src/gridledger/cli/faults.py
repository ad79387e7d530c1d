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
    from gridledger.errors import ValidationError
    from gridledger.monitor.faults import FaultMonitor
    from gridledger.monitor.readings import (
        fleet_from_store,
        telemetry_from_store,
        window,
        window_end,
    )
    from gridledger.store import open_store, to_ms

    cfg = settings_of(ctx)
    slot_s = int(cfg["slot_minutes"]) * 60
    with open_store(cfg.store_location) as store:
        site = store.get_site(site_id)
        if site is None:
            raise ValidationError(
                f"site {site_id!r} is not registered in the store {store.url}; check the id "
                "(sites are named <region>-<number>) and the store_url setting"
            )
        end = window_end(store, site_id, slot_s)
        if end is None:
            raise ValidationError(f"site {site_id!r} has no readings yet; nothing to judge")
        # the site's neighbours give the sky: every site of its region
        others = [s.site_id for s in store.list_sites(site.region) if s.site_id != site_id]
        site_ids = [site_id, *others]
        fleet = fleet_from_store(store, site_ids, latitude=latitude, longitude=longitude)
        start, slots = window(end, days, slot_s)
        telemetry = telemetry_from_store(store, fleet, start, slots, slot_s)
        end_ms = to_ms(end)
        energy = store.energy_per_interval(site_id, end_ms - 86_400_000, end_ms, 86_400)
    monitor = FaultMonitor(fleet, slot_s)
    monitor.advance(telemetry)
    found = monitor.open_faults(site_id)
    if as_json:
        click.echo(json.dumps([f.to_json() for f in found]))
        return
    produced = sum(e.export_wh for e in energy if e.kind == "pv_meter")
    imported = sum(e.import_wh for e in energy if e.kind == "bec")
    click.echo(
        f"site {site_id} ({site.region}, {len(others)} neighbours), {start:%Y-%m-%d %H:%M} to "
        f"{end:%Y-%m-%d %H:%M} UTC; last 24 h: PV {produced} Wh, grid import {imported} Wh"
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
