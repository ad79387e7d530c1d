"""``gridledger keys``: secp256k1 account keys in the keystore."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gridledger.cli import group
from gridledger.cli.group import main, passphrase, settings_of
from gridledger.identity import Keystore

if TYPE_CHECKING:
    pass


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
    store = Keystore(settings_of(ctx).keystore_path, group.KDF_ITERATIONS)
    address = store.create(name, passphrase(confirm=True))
    click.echo(f"{name} {address}")


@keys.command("show")
@click.argument("name")
@click.pass_context
def keys_show(ctx: click.Context, name: str) -> None:
    """Print the address of key NAME (no passphrase needed)."""
    click.echo(Keystore(settings_of(ctx).keystore_path).address(name))


@keys.command("list")
@click.pass_context
def keys_list(ctx: click.Context) -> None:
    """List stored keys and their addresses."""
    store = Keystore(settings_of(ctx).keystore_path)
    names = store.names()
    if not names:
        click.echo(f"no keys in {store.directory}; create one with `gridledger keys new NAME`")
    for name in names:
        click.echo(f"{name} {store.address(name)}")
