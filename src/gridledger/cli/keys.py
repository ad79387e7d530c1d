"""``gridledger keys``: secp256k1 account keys in the keystore."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gridledger.cli import group
from gridledger.cli.group import main, passphrase, settings_of
from gridledger.errors import KeystoreError
from gridledger.identity import Keystore, Signer

#: Largest private-key file read [bytes]: 64 hex digits, a 0x and a newline fit many times over.
MAX_PRIVATE_KEY_FILE_BYTES = 4096


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


@keys.command("import")
@click.argument("name")
@click.option(
    "--private-key-file",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="File holding the private key as 64 hex digits (optionally 0x...); '-' reads stdin.",
)
@click.pass_context
def keys_import(ctx: click.Context, name: str, key_file: Path) -> None:
    """Store an existing private key as NAME, encrypted with a passphrase; print its address.

    The key file holds the key as hex text (what `anvil` prints or a wallet exports). The
    passphrase comes from $GRIDLEDGER_PASSPHRASE or a prompt (give it in the environment when
    the key comes from stdin).
    """
    signer = _read_private_key(key_file)
    store = Keystore(settings_of(ctx).keystore_path, group.KDF_ITERATIONS)
    address = store.create(name, passphrase(confirm=True), signer)
    click.echo(f"{name} {address}")


def _read_private_key(key_file: Path) -> Signer:
    """The key in ``key_file`` (``-``: stdin), read at most :data:`MAX_PRIVATE_KEY_FILE_BYTES`."""
    where = "stdin" if str(key_file) == "-" else str(key_file)
    try:
        if str(key_file) == "-":
            raw = sys.stdin.buffer.read(MAX_PRIVATE_KEY_FILE_BYTES + 1)
        else:
            with key_file.open("rb") as fh:
                raw = fh.read(MAX_PRIVATE_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise KeystoreError(f"cannot read the private key from {where}: {exc.strerror}") from None
    if len(raw) > MAX_PRIVATE_KEY_FILE_BYTES:
        raise KeystoreError(
            f"{where} is larger than {MAX_PRIVATE_KEY_FILE_BYTES} bytes; a private key file holds "
            "64 hex digits"
        )
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise KeystoreError(
            f"{where} is not text; a private key file holds 64 hex digits, optionally after 0x"
        ) from None
    if len(text.removeprefix("0x")) != 64:
        # never echo the text: it may be a key with a typo
        raise KeystoreError(
            f"{where} does not hold a private key: expected 64 hex digits (optionally after 0x), "
            f"found {len(text)} characters"
        )
    return Signer.from_hex(text)
