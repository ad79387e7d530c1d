"""``gridledger serve``: the live platform and its HTTP API on uvicorn."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import click

from gridledger.cli.group import main, settings_of
from gridledger.config import Config


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.001, max=100_000),
    help="Clock seconds per wall second (60: a 15-min slot every 15 s).",
)
@click.option(
    "--households",
    default=10,
    show_default=True,
    type=click.IntRange(0, 2000),
    help="Simulated households per region (0: none, real participants only).",
)
@click.option(
    "--regions",
    default=None,
    help="Comma-separated region names (default: the region setting).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Overrides the data_dir setting (store, embedded chain, journals).",
)
@click.option("--seed", default=7, show_default=True, help="Seed of the simulated households.")
@click.option(
    "--public-url",
    default=None,
    help="URL clients reach the server at; its host:port is the sign-in domain "
    "(default: http://HOST:PORT).",
)
@click.option(
    "--start",
    default=None,
    help="Start the clock at this time (ISO 8601 with a UTC offset, e.g. 2026-06-21T08:00:00Z); "
    "a data dir that ran later resumes from there.",
)
@click.option("--no-demo", is_flag=True, help="Refuse demo sign-ins with server-held keys.")
@click.option(
    "--chain-in-process",
    is_flag=True,
    help="Debugging: run the embedded chain in the server's process rather than in a child "
    "process (its mining then holds up the API).",
)
@click.option(
    "--inject-outage",
    "outages",
    multiple=True,
    metavar="SITE@TIME",
    help="Testing: the simulated PV of SITE produces nothing from TIME (ISO 8601 with a UTC "
    "offset) on, e.g. central-0002@2026-06-21T10:00:00Z. Repeatable.",
)
@click.option(
    "--feeder-kva",
    default=None,
    type=click.FloatRange(min=0.1, max=100_000),
    help="Give every simulated region a feeder with a transformer of this rating [kVA]: each "
    "slot the operator runs a power flow on the next hour's forecast and issues an import-limit "
    "event where the transformer or a line would be overloaded (default: no feeder check).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    speed: float,
    households: int,
    regions: str | None,
    data_dir: Path | None,
    seed: int,
    public_url: str | None,
    start: str | None,
    no_demo: bool,
    chain_in_process: bool,
    outages: tuple[str, ...],
    feeder_kva: float | None,
) -> None:
    """Run the live platform: a simulated neighbourhood, markets, settlement and the HTTP API."""
    import uvicorn

    from gridledger.api.app import create_app
    from gridledger.api.http_protocol import CoalescingHttpToolsProtocol
    from gridledger.service.options import ServeOptions
    from gridledger.service.platform import Platform
    from gridledger.web import mount as mount_web

    cfg = settings_of(ctx)
    start_ts = None
    if start is not None:
        try:
            start_ts = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(
                f"{start!r} is not an ISO 8601 time", param_hint="--start"
            ) from None
        if start_ts.tzinfo is None:
            raise click.BadParameter(
                "give a UTC offset, e.g. 2026-06-21T08:00:00Z", param_hint="--start"
            )
    if data_dir is not None:
        cfg = Config({**dict(cfg), "data_dir": str(data_dir)}, dict(cfg.sources))
    names = tuple(r.strip() for r in (regions or cfg["region"]).split(",") if r.strip())
    options = ServeOptions(
        households=households,
        regions=names,
        speed=speed,
        seed=seed,
        public_url=public_url or f"http://{host}:{port}",
        demo=not no_demo,
        start=start_ts,
        chain_process=not chain_in_process,
        outages=tuple(_outage(o) for o in outages),
        feeder_kva=feeder_kva,
    )
    level = str(cfg["log_level"]).upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    platform = Platform(cfg, options)
    platform.open()
    platform.start()
    click.echo(
        f"gridledger serve: {len(names)} region(s) {', '.join(names)}, {households} simulated "
        f"households each, clock x{speed:g}\n"
        f"  app      {options.public_url}/app (sign in as a demo household)\n"
        f"  API      {options.public_url}/api/v1/openapi.json\n"
        f"  metrics  {options.public_url}/metrics\n"
        f"  store {cfg.store_location}, ledger {cfg['ledger_url']}, "
        f"telemetry {cfg['telemetry_url']}",
        err=True,
    )
    server = _Server(
        uvicorn.Config(
            mount_web(create_app(platform)),  # the household app's pages (gridledger.web)
            host=host,
            port=port,
            log_level=level.lower(),
            lifespan="off",
            timeout_graceful_shutdown=5,
            http=CoalescingHttpToolsProtocol,  # a response's head and body in one send
        )
    )
    try:
        server.run()  # returns on SIGTERM / SIGINT once the open requests finished
    finally:
        platform.stop()
        click.echo("gridledger serve: stopped; a restart resumes where it stopped", err=True)


class _Server:
    """uvicorn's server without its signal re-raise: uvicorn re-raises SIGTERM after shutting
    down, which would kill the process before the platform closes its store and chain."""

    def __init__(self, config: object) -> None:
        import uvicorn

        assert isinstance(config, uvicorn.Config)
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        import contextlib
        import gc
        import signal
        from collections.abc import Iterator

        @contextlib.contextmanager
        def handled() -> Iterator[None]:
            def stop(signum: int, frame: object) -> None:
                self.server.should_exit = True

            old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                yield
            finally:
                for sig, handler in old.items():
                    signal.signal(sig, handler)

        self.server.capture_signals = handled  # type: ignore[method-assign]
        # What is alive now (modules, the app, the platform: ~300k objects) lives as long as the
        # server: keep it out of the collector's full passes, which otherwise rescan it every few
        # seconds under load (a full pass took ~200 ms here, stalling every open request)
        gc.collect()
        gc.freeze()
        # uvicorn's own run() picks the event loop of its ``loop`` setting ("auto": uvloop,
        # installed with uvicorn[standard]); asyncio.run() here would run the slower default loop
        self.server.run()


def _outage(text: str) -> tuple[str, datetime]:
    """``SITE@TIME`` of ``--inject-outage`` as ``(site, aware UTC time)``."""
    site, _, when = text.partition("@")
    try:
        at = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        at = None
    if not site or at is None or at.tzinfo is None:
        raise click.BadParameter(
            f"{text!r} is not SITE@TIME, e.g. central-0002@2026-06-21T10:00:00Z",
            param_hint="--inject-outage",
        )
    return site, at
