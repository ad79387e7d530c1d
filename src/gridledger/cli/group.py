"""The ``gridledger`` command group, its shared options and the error mapping of every command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gridledger.config import Config, load_config
from gridledger.errors import GridLedgerError

if TYPE_CHECKING:
    pass

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


def settings_of(ctx: click.Context) -> Config:
    obj = ctx.find_root().obj
    assert isinstance(obj, Config)
    return obj


def passphrase(confirm: bool) -> str:
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env
    return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))
