"""``gridledger verify``, ``repair`` and ``deliver``: the operator's commands on the chain."""

from __future__ import annotations

import click

from gridledger.cli.group import main, passphrase, settings_of
from gridledger.cli.progress import progress
from gridledger.errors import GridLedgerError
from gridledger.identity import Keystore


@main.command()
@click.option(
    "--chain",
    "check_chain",
    is_flag=True,
    help="Also check the embedded chain file itself: every header, the state trie and a full "
    "replay of every block from genesis.",
)
@click.pass_context
def verify(ctx: click.Context, check_chain: bool) -> None:
    """Replay the store against the ledger; exit 1 at the first mismatch.

    Checks every settled slot of every region deployed in data_dir: each stored order's id and
    signature, each stored trade against its event on chain and against a re-clearing of the
    slot's orders (result hash), every column of each delivered slot's readings against its
    signed payload, the orders, trades and readings roots, every stored transaction hash and
    block, and the registry's operators and site owners. Creates nothing: a missing store or
    chain is an error.
    """
    from gridledger.chain import open_ledger
    from gridledger.operator.audit import verify_store
    from gridledger.store import open_store

    cfg = settings_of(ctx)
    if not cfg.data_path.is_dir():
        raise click.ClickException(
            f"data_dir {cfg.data_path} is not a directory with a settled city; check data_dir"
        )
    backend = open_ledger(cfg["ledger_url"], cfg.data_path, int(cfg["chain_id"]), create=False)
    try:
        with (
            open_store(cfg.store_location, create=False) as store,
            progress(len(store.list_settlements()), "slots verified") as advance,
        ):
            report = verify_store(store, backend, cfg.data_path, on_slot=advance)
        if check_chain and report.ok:
            report.chain_blocks = _verify_chain_file(backend, cfg["ledger_url"])
    finally:
        backend.close()
    click.echo(f"store {cfg.store_location} against {cfg['ledger_url']}: {report.summary()}")
    for line in report.unprovable:
        click.echo(f"unprovable: {line}")
    if not report.ok:
        click.echo(f"MISMATCH: {report.mismatch}", err=True)
        ctx.exit(1)
    click.echo("verified: the store agrees with the chain")


def _verify_chain_file(backend: object, ledger_url: str) -> int:
    """Headers, state trie and a full replay of the embedded chain; the blocks replayed."""
    from gridledger.chain.embedded import EmbeddedLedger, verify_embedded_chain

    if not isinstance(backend, EmbeddedLedger):
        raise click.UsageError(
            f"--chain checks the embedded chain file; ledger_url is {ledger_url} (a node checks "
            "its own chain)"
        )
    return verify_embedded_chain(backend, replay=True).replayed_blocks


@main.command()
@click.option("--key", "key_name", default=None, help="Keystore name of the region operator, to "
              "send what a crash left unsent (default: the demo operator key).")  # fmt: skip
@click.option("--region", "regions", multiple=True, help="A region to look for on the chain, "
              "when neither the store nor a deployment record names it (repeatable).")  # fmt: skip
@click.pass_context
def repair(ctx: click.Context, key_name: str | None, regions: tuple[str, ...]) -> None:
    """Rebuild the store's settlement and deployment records from the chain.

    Completes slots a crash left half-recorded, finds lost deployment records on the chain,
    rebuilds settlements and trades the store lost from the chain's events, and lists every slot
    whose orders or meter readings are lost for good (the chain holds only their roots: they are
    never invented). Run gridledger verify afterwards.
    """
    from gridledger.chain import open_ledger
    from gridledger.market import RuleSet
    from gridledger.operator.recovery import repair as run_repair
    from gridledger.operator.region import demo_keys
    from gridledger.store import open_store

    cfg = settings_of(ctx)
    rules = RuleSet.from_config(cfg)
    operator = (
        Keystore(cfg.keystore_path).load(key_name, passphrase(confirm=False))
        if key_name
        else demo_keys()[1]
    )
    if not cfg.data_path.is_dir():
        raise click.ClickException(f"data_dir {cfg.data_path} does not exist; check data_dir")
    backend = open_ledger(cfg["ledger_url"], cfg.data_path, int(cfg["chain_id"]), create=False)
    try:
        with open_store(cfg.store_location) as store, progress(None, "slots repaired") as advance:
            report = run_repair(
                store, backend, cfg.data_path, operator=operator, regions=regions,
                slot_seconds=rules.slot_minutes * 60, clearing_rule=rules.clearing_rule,
                on_slot=advance,
            )  # fmt: skip
    finally:
        backend.close()
    for line in report.lines():
        click.echo(line)
    click.echo(f"repaired: {report.summary()}")
    if report.needs_key:
        ctx.exit(1)


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
    from gridledger.chain import open_ledger
    from gridledger.config import parse_utc_time
    from gridledger.operator.region import RegionOperator
    from gridledger.store import open_store

    cfg = settings_of(ctx)
    try:
        slot_start_s = int(parse_utc_time(slot_text, "--slot").timestamp())
    except GridLedgerError as exc:
        raise click.BadParameter(str(exc), param_hint="--slot") from None
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
