"""``gridledger market``: clear a slot document and check recorded results."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from gridledger.cli.exits import MISMATCH
from gridledger.cli.group import main, settings_of
from gridledger.errors import MarketError, ValidationError

log = logging.getLogger(__name__)


@main.group()
def market() -> None:
    """Clear market slots from stored orders and check recorded results."""


@market.command("clear")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Slot document: JSON with region, slot_start_s, orders and optional company_offers "
    "(at most 32 MiB, 50,000 orders; see docs/cli.md).",
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

    cfg = settings_of(ctx)
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
            expected = b""
        if len(expected) != 32:
            raise click.BadParameter(
                "must be 0x followed by 64 hex digits", param_hint="--expect-hash"
            ) from None
        try:
            result = document.reclear(rules, domain, expected)
        except MarketError as exc:  # the result differs from the recorded one: a failed check
            click.echo(f"MISMATCH: {exc}", err=True)
            ctx.exit(MISMATCH)
    log.debug(
        "slot cleared",
        extra={"region": document.region, "slot": document.slot_start_s, "hash": result.hash.hex()},
    )
    click.echo(json.dumps(result.to_dict(trades=with_trades), indent=2))
