"""The ``gridledger`` command line: a thin layer over the library.

Each command builds the library objects from the effective settings and calls them; no logic lives
only here. ``docs/cli.md`` documents every command; a test fails when one is missing there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from gridledger.config import SETTINGS, Config, load_config
from gridledger.errors import GridLedgerError
from gridledger.identity import Keystore

PASSPHRASE_ENV = "GRIDLEDGER_PASSPHRASE"
#: pbkdf2 iterations for new keys; None = the standard scrypt parameters (tests lower it).
KDF_ITERATIONS: int | None = None


class _Group(click.Group):
    """Turns every :class:`GridLedgerError` into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GridLedgerError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


@click.group(cls=_Group)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML settings file (default: ./gridledger.toml or $GRIDLEDGER_CONFIG).",
)
@click.version_option(package_name="gridledger")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """gridledger: regional peer-to-peer energy markets settled on an EVM ledger."""
    ctx.obj = load_config(config_path)


def _config(ctx: click.Context) -> Config:
    obj = ctx.find_root().obj
    assert isinstance(obj, Config)
    return obj


def _passphrase(confirm: bool) -> str:
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env
    return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))


# --- config --------------------------------------------------------------------------------------


@main.group()
def config() -> None:
    """Inspect the effective settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print every setting's effective value and where it came from."""
    cfg = _config(ctx)
    if as_json:
        click.echo(json.dumps(dict(cfg), indent=2, sort_keys=True))
        return
    for setting in SETTINGS:
        click.echo(f"{setting.name:<28} {cfg[setting.name]!s:<40} ({cfg.sources[setting.name]})")


# --- keys ----------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Create and inspect secp256k1 account keys.

    The passphrase comes from $GRIDLEDGER_PASSPHRASE or a prompt.
    """


@keys.command("new")
@click.argument("name")
@click.pass_context
def keys_new(ctx: click.Context, name: str) -> None:
    """Create a new key NAME, encrypted with a passphrase, and print its address."""
    store = Keystore(_config(ctx).keystore_path, KDF_ITERATIONS)
    address = store.create(name, _passphrase(confirm=True))
    click.echo(f"{name} {address}")


@keys.command("show")
@click.argument("name")
@click.pass_context
def keys_show(ctx: click.Context, name: str) -> None:
    """Print the address of key NAME (no passphrase needed)."""
    click.echo(Keystore(_config(ctx).keystore_path).address(name))


@keys.command("list")
@click.pass_context
def keys_list(ctx: click.Context) -> None:
    """List stored keys and their addresses."""
    store = Keystore(_config(ctx).keystore_path)
    names = store.names()
    if not names:
        click.echo(f"no keys in {store.directory}; create one with `gridledger keys new NAME`")
    for name in names:
        click.echo(f"{name} {store.address(name)}")
