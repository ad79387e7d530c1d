"""The ``gridledger`` command line: a thin layer over the library.

Each command builds the library objects from the effective settings and calls them; no logic lives
only here. ``docs/cli.md`` documents every command; a test fails when one is missing there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gridledger.config import SETTINGS, Config, load_config
from gridledger.errors import GridLedgerError, ValidationError
from gridledger.identity import Keystore
from gridledger.units import micro_to_money, wh_to_kwh

if TYPE_CHECKING:
    from contextlib import ExitStack

    from gridledger.ledger.city_settler import CitySettler
    from gridledger.market import RuleSet

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


# --- simulate ------------------------------------------------------------------------------------


@main.command()
@click.option("--households", default=40, show_default=True, help="Households per region.")
@click.option("--hours", default=24, show_default=True, help="Simulated hours.")
@click.option(
    "--start",
    default="2026-06-21T00:00:00+00:00",
    show_default=True,
    help="Start time, ISO 8601 with a UTC offset.",
)
@click.option("--seed", default=7, show_default=True, help="Seed of the generated city.")
@click.option(
    "--rule",
    type=click.Choice(["pay_as_clear", "pay_as_bid"]),
    default="pay_as_clear",
    show_default=True,
    help="Clearing rule of every region.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option(
    "--settle",
    is_flag=True,
    help="Settle every cleared slot on the ledger (ledger_url) and record it in the store.",
)
@click.pass_context
def simulate(
    ctx: click.Context,
    households: int,
    hours: int,
    start: str,
    seed: int,
    rule: str,
    as_json: bool,
    settle: bool,
) -> None:
    """Simulate the built-in example city: PV, loads and batteries trading in regional markets."""
    from contextlib import ExitStack
    from datetime import datetime

    from gridledger.market import RuleSet
    from gridledger.sim import example_city, simulate_city

    cfg = _config(ctx)
    try:
        start_ts = datetime.fromisoformat(start)
    except ValueError as exc:
        raise click.BadParameter(
            f"{start!r} is not an ISO 8601 time", param_hint="--start"
        ) from exc
    rules = RuleSet.from_config(cfg, clearing_rule=rule)
    with ExitStack() as stack:
        settler = _city_settler(cfg, rules, stack) if settle else None
        report = simulate_city(
            example_city(seed, households), start_ts, hours, rules, cfg["chain_id"], seed,
            on_cleared=None if settler is None else settler.on_cleared,
            market_address=None if settler is None else settler.market_address,
            on_metered=None if settler is None else settler.on_metered,
        )  # fmt: skip
    settled = None if settler is None else settler.totals
    if as_json:
        summary = report.summary()
        if settled is not None:
            summary["settlement"] = dict(settled.__dict__)
        click.echo(json.dumps(summary, sort_keys=True))
        return
    click.echo(
        f"city {report.city}: {len(report.regions)} regions, "
        f"{sum(r.households for r in report.regions)} households, {rules.clearing_rule}, "
        f"{rules.slot_minutes}-min slots from {report.start.isoformat()}"
    )
    click.echo(
        f"{'hour':<6}{'pv kWh':>9}{'load kWh':>10}{'p2p kWh':>9}{'company':>9}{'import':>8}"
        f"{'export':>8}{'trades':>8}{'price/kWh':>11}"
    )
    for hour in report.hourly():
        mean = hour.mean_clearing_price_micro_per_kwh
        price = f"{micro_to_money(mean):.4f}" if mean is not None else "-"
        click.echo(
            f"{hour.start:%H:%M} "
            f"{wh_to_kwh(hour.pv_wh):>9.1f}{wh_to_kwh(hour.load_wh):>10.1f}"
            f"{wh_to_kwh(hour.traded_wh):>9.1f}{wh_to_kwh(hour.company_wh):>9.1f}"
            f"{wh_to_kwh(hour.grid_import_wh):>8.1f}"
            f"{wh_to_kwh(hour.grid_export_wh):>8.1f}{hour.trades:>8}{price:>11}"
        )
    summary = report.summary()
    click.echo(
        f"self-sufficiency {summary['self_sufficiency']:.1%}, peer-to-peer share "
        f"{summary['p2p_share']:.1%}, {wh_to_kwh(report.total('company_wh')):.1f} kWh sold to "
        f"energy companies, {summary['trades']} trades"
    )
    click.echo(
        f"community bill {micro_to_money(report.community_cost_micro):.2f} vs grid-only "
        f"{micro_to_money(report.total('baseline_cost_micro')):.2f}: "
        f"saved {micro_to_money(report.savings_micro):.2f}"
    )
    if settled is not None:
        per_tx = settled.gas_used // settled.transactions if settled.transactions else 0
        click.echo(
            f"settled on {cfg['ledger_url']} (chain id {cfg['chain_id']}): {settled.slots} slots, "
            f"{settled.trades} trades, {settled.orders} orders, {settled.transactions} "
            f"transactions, {settled.gas_used} gas ({per_tx} per transaction); "
            f"{settled.readings} signed meter readings ingested, {settled.delivered_slots} slots' "
            f"delivery settled; store {cfg.store_location}"
        )


def _city_settler(cfg: Config, rules: RuleSet, stack: ExitStack) -> CitySettler:
    """A CitySettler on the configured ledger and store (closed by ``stack``)."""
    from gridledger.ledger import open_ledger
    from gridledger.ledger.city_settler import CitySettler
    from gridledger.ledger.operator import demo_keys, market_tariffs
    from gridledger.store import open_store

    backend = open_ledger(cfg["ledger_url"], cfg.data_path, int(cfg["chain_id"]))
    stack.callback(backend.close)
    store = stack.enter_context(open_store(cfg.store_location))
    admin, operator = demo_keys()
    return CitySettler(
        backend, store, cfg.data_path, admin=admin, operator=operator,
        tariffs=market_tariffs(rules.tariff), slot_seconds=rules.slot_minutes * 60, meter=True,
    )  # fmt: skip


# --- verify --------------------------------------------------------------------------------------


@main.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Replay the store against the ledger; exit 1 at the first mismatch.

    Checks every settled slot of every region deployed in data_dir: each stored order's id and
    signature, each stored trade against its event on chain, each delivered slot's readings
    (payload, device signature) against the readings root, and the orders and trades roots.
    """
    from gridledger.ledger import open_ledger
    from gridledger.ledger.audit import verify_store
    from gridledger.store import open_store

    cfg = _config(ctx)
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


# --- deliver -------------------------------------------------------------------------------------


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

    from gridledger.ledger import open_ledger
    from gridledger.ledger.operator import RegionOperator
    from gridledger.slots import require_utc
    from gridledger.store import open_store

    cfg = _config(ctx)
    try:
        slot_start_s = int(slot_text)
    except ValueError:
        try:
            slot_start_s = int(require_utc(datetime.fromisoformat(slot_text), "--slot").timestamp())
        except (ValueError, GridLedgerError) as exc:
            raise click.BadParameter(f"{slot_text!r}: {exc}", param_hint="--slot") from None
    operator = Keystore(cfg.keystore_path).load(key_name, _passphrase(confirm=False))
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


# --- ingest --------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--client-id",
    default="gridledger-ingest",
    show_default=True,
    help="MQTT client id: names the persistent session that survives restarts.",
)
@click.option("--region", default=None, help="Only readings of this region (default: all).")
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
    from gridledger.errors import ConfigError
    from gridledger.telemetry.ingest import serve

    cfg = _config(ctx)
    if str(cfg["telemetry_url"]).startswith("memory://"):
        raise ConfigError(
            "telemetry_url is memory:// (in process only); set it to mqtt://HOST:PORT to run "
            "ingest as its own process"
        )
    serve(cfg.store_location, cfg["telemetry_url"], int(cfg["chain_id"]), client_id, region,
          batch_size)  # fmt: skip


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


# --- market --------------------------------------------------------------------------------------


@main.group()
def market() -> None:
    """Clear market slots from stored orders and check recorded results."""


@market.command("clear")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Slot document: JSON with region, slot_start_s, orders and optional company_offers.",
)
@click.option(
    "--rule",
    type=click.Choice(["pay_as_clear", "pay_as_bid"]),
    default="pay_as_clear",
    show_default=True,
    help="Clearing rule; the tariff and slot length come from the settings.",
)
@click.option(
    "--market",
    "market_contract",
    default=None,
    help="0x-address of the region's market contract the orders were signed for (their EIP-712 "
    "verifyingContract); omit for orders of an off-chain market (chain id only).",
)
@click.option("--expect-hash", default=None, help="Fail unless the result hash is this 0x-hex.")
@click.option("--trades", "with_trades", is_flag=True, help="Include every trade in the output.")
@click.pass_context
def market_clear(
    ctx: click.Context,
    path: Path,
    rule: str,
    market_contract: str | None,
    expect_hash: str | None,
    with_trades: bool,
) -> None:
    """Validate and clear the orders of one slot; print the result (JSON) and its hash."""
    from gridledger.identity import Domain
    from gridledger.market import RuleSet, SlotOrders

    cfg = _config(ctx)
    rules = RuleSet.from_config(cfg, clearing_rule=rule)
    document = SlotOrders.load(path)
    chain_id = int(cfg["chain_id"])
    try:
        domain = (
            Domain(chain_id)
            if market_contract is None
            else Domain.of_contract(chain_id, market_contract)
        )
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint="--market") from None
    if expect_hash is None:
        result = document.clear(rules, domain)
    else:
        try:
            expected = bytes.fromhex(expect_hash.removeprefix("0x"))
        except ValueError:
            raise click.BadParameter("must be 0x followed by 64 hex digits") from None
        result = document.reclear(rules, domain, expected)
    click.echo(json.dumps(result.to_dict(trades=with_trades), indent=2))
