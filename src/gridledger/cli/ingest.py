"""``gridledger ingest``: signed device readings from telemetry into the store."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from gridledger.cli.group import main, settings_of
from gridledger.cli.progress import progress
from gridledger.errors import ConfigError, ValidationError
from gridledger.identity import region_id

if TYPE_CHECKING:
    from gridledger.telemetry.base import Delivery
    from gridledger.telemetry.ingest import BatchResult

log = logging.getLogger(__name__)

#: Longest ``--client-id`` [characters]. MQTT 3.1.1 brokers must accept 1-23 characters of
#: [0-9A-Za-z] and may accept more (Mosquitto does); 64 of [0-9A-Za-z_.-] stays portable to the
#: brokers in use and well under MQTT's 65,535-byte hard limit.
MAX_CLIENT_ID = 64
_CLIENT_ID_RE = re.compile(r"[0-9A-Za-z_.-]+")


def _client_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not 1 <= len(value) <= MAX_CLIENT_ID or not _CLIENT_ID_RE.fullmatch(value):
        raise click.BadParameter(
            f"must be 1 to {MAX_CLIENT_ID} characters of A-Z, a-z, 0-9, '_', '.' and '-' "
            f"(got {len(value)} characters)"
        )
    return value


def _region(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            region_id(value)
        except ValidationError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@main.command()
@click.option(
    "--client-id",
    default="gridledger-ingest",
    show_default=True,
    callback=_client_id,
    help=f"MQTT client id (1-{MAX_CLIENT_ID} of A-Z a-z 0-9 _ . -): names the persistent "
    "session that survives restarts.",
)
@click.option(
    "--region", default=None, callback=_region, help="Only readings of this region (default: all)."
)
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
    from gridledger.telemetry.ingest import run_service

    cfg = settings_of(ctx)
    if str(cfg["telemetry_url"]).startswith("memory://"):
        raise ConfigError(
            "telemetry_url is memory:// (in process only); set it to mqtt://HOST:PORT to run "
            "ingest as its own process"
        )
    with progress(None, "readings stored") as advance:

        def on_batch(deliveries: Sequence[Delivery], result: BatchResult) -> None:
            advance(result.stored)
            log.debug(
                "batch committed",
                extra={"received": len(deliveries), "stored": result.stored},
            )

        log.info("ingest started", extra={"client_id": client_id, "region": region or "all"})
        stats = run_service(
            cfg.store_location, cfg["telemetry_url"], int(cfg["chain_id"]), client_id, region,
            batch_size, on_batch,
        )  # fmt: skip
    log.info("ingest stopped", extra=stats)
    click.echo(f"ingest stopped: {stats}", err=True)
