"""``gridledger verify`` and ``gridledger deliver``: the operator's commands on the chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gridledger.cli.group import main, passphrase, settings_of
from gridledger.errors import GridLedgerError
from gridledger.identity import Keystore

if TYPE_CHECKING:
    pass


@main.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Replay the store against the ledger; exit 1 at the first mismatch.

    Checks every settled slot of every region deployed in data_dir: each stored order's id and
    signature, each stored trade against its event on chain, each delivered slot's readings
    (payload, device signature) against the readings root, and the orders and trades roots.
    """
    from gridledger.chain import open_ledger
    from gridledger.operator.audit import verify_store
    from gridledger.store import open_store

    cfg = settings_of(ctx)
    backend = open_ledger(cfg["ledger_url"], cfg.data_path, int(cfg["chain_id"]))
    try:
        with open_store(cfg.store_location) as store:
            report = verify_store(store, backend, cfg.data_path)
    finally:
        backend.close()
    click.echo(f"store {cfg.store_location} against {cfg['ledger_url']}: {report.summary()}")
    if not report.ok:
        click.echo(f"MISMATCH: {report.mismatch}", err=True)
        ctx.exit(1)
    click.echo("verified: the store agrees with the chain")


@main.command()
@click.option("--region", required=True, help="The region, as deployed in data_dir.")
@click.option(
    "--slot",
    "slot_text",
    required=True,
    help="The slot's start: Unix seconds or an ISO 8601 time with its UTC offset.",
)
@click.option("--key", "key_name", required=True, help="Keystore name of the region operator.")
@click.pass_context
def deliver(ctx: click.Context, region: str, slot_text: str, key_name: str) -> None:
    """Settle a traded slot's delivery from the stored meter readings.

    Each account's metered net import (its BEC register deltas over the slot) against what it
    traded; the difference is paid at the slot's grid prices on chain, with the Merkle root of the
    slot's readings. Signs as the operator key KEY (passphrase from $GRIDLEDGER_PASSPHRASE or a
    prompt).
    """
    from datetime import datetime

    from gridledger.chain import open_ledger
    from gridledger.operator.region import RegionOperator
    from gridledger.slots import require_utc
    from gridledger.store import open_store

    cfg = settings_of(ctx)
    try:
        slot_start_s = int(slot_text)
    except ValueError:
        try:
            slot_start_s = int(require_utc(datetime.fromisoformat(slot_text), "--slot").timestamp())
        except (ValueError, GridLedgerError) as exc:
            raise click.BadParameter(f"{slot_text!r}: {exc}", param_hint="--slot") from None
    operator = Keystore(cfg.keystore_path).load(key_name, passphrase(confirm=False))
    backend = open_ledger(cfg["ledger_url"], cfg.data_path, int(cfg["chain_id"]))
    try:
        with open_store(cfg.store_location) as store:
            op = RegionOperator.attach(backend, store, cfg.data_path, region, operator)
            if slot_start_s % op.slot_seconds:
                raise click.BadParameter(
                    f"{slot_start_s} is not the start of a {op.slot_seconds // 60}-min slot",
                    param_hint="--slot",
                )
            done = op.settle_delivery(slot_start_s)
    finally:
        backend.close()
    click.echo(
        f"delivered region {region} slot {slot_start_s}: {done.transactions} transaction(s), "
        f"{done.gas_used} gas, block {done.block_number}, readings root 0x{done.root.hex()}"
    )
