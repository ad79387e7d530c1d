"""``gridledger config``: the effective settings."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from gridledger.cli.group import main, settings_of
from gridledger.config import SETTINGS

if TYPE_CHECKING:
    pass


@main.group()
def config() -> None:
    """Inspect the effective settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print every setting's effective value and where it came from."""
    cfg = settings_of(ctx)
    if as_json:
        click.echo(json.dumps(dict(cfg), indent=2, sort_keys=True))
        return
    for setting in SETTINGS:
        click.echo(f"{setting.name:<28} {cfg[setting.name]!s:<40} ({cfg.sources[setting.name]})")
