"""``gridledger ingest``: signed device readings from telemetry into the store."""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

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
    from gridledger.devices.topics import readings_filter
    from gridledger.identity import Domain
    from gridledger.store import open_store
    from gridledger.telemetry.ingest import Ingestor, run_ingest
    from gridledger.telemetry.opening import open_transport

    cfg = settings_of(ctx)
    if str(cfg["telemetry_url"]).startswith("memory://"):
        raise ConfigError(
            "telemetry_url is memory:// (in process only); set it to mqtt://HOST:PORT to run "
            "ingest as its own process"
        )
    # the same pipeline as gridledger.telemetry.ingest.serve, with a progress count on a terminal
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    with ExitStack() as stack:
        # the broker first: a run that cannot connect leaves the data dir untouched
        transport = open_transport(cfg["telemetry_url"], client_id)
        stack.callback(transport.close)
        store = stack.enter_context(open_store(cfg.store_location))
        ingestor = Ingestor(store, Domain(int(cfg["chain_id"])))
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                stack.callback(signal.signal, signum, signal.signal(signum, _stop))
        advance = stack.enter_context(progress(None, "readings stored"))

        def on_batch(deliveries: Sequence[Delivery], result: BatchResult) -> None:
            advance(result.stored)
            log.debug(
                "batch committed",
                extra={"received": len(deliveries), "stored": result.stored},
            )

        log.info("ingest started", extra={"client_id": client_id, "region": region or "all"})
        stats = run_ingest(
            transport,
            ingestor,
            topic_filter=readings_filter(region),
            batch_size=batch_size,
            stop=stop,
            on_batch=on_batch,
        )
    log.info("ingest stopped", extra=dict(stats))
    click.echo(f"ingest stopped: {dict(stats)}", err=True)
