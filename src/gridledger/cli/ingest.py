"""``gridledger ingest``: signed device readings from telemetry into the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gridledger.cli.group import main, settings_of

if TYPE_CHECKING:
    pass


@main.command()
@click.option(
    "--client-id",
    default="gridledger-ingest",
    show_default=True,
    help="MQTT client id: names the persistent session that survives restarts.",
)
@click.option("--region", default=None, help="Only readings of this region (default: all).")
@click.option(
    "--batch-size",
    default=500,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Most readings verified and stored per transaction.",
)
@click.pass_context
def ingest(ctx: click.Context, client_id: str, region: str | None, batch_size: int) -> None:
    """Verify signed device readings from telemetry_url and store them, until SIGTERM/Ctrl-C."""
    from gridledger.errors import ConfigError
    from gridledger.telemetry.ingest import serve

    cfg = settings_of(ctx)
    if str(cfg["telemetry_url"]).startswith("memory://"):
        raise ConfigError(
            "telemetry_url is memory:// (in process only); set it to mqtt://HOST:PORT to run "
            "ingest as its own process"
        )
    serve(cfg.store_location, cfg["telemetry_url"], int(cfg["chain_id"]), client_id, region,
          batch_size)  # fmt: skip
