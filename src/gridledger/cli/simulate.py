"""``gridledger simulate``: the example city, optionally settled on the ledger."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from gridledger.cli.group import main, settings_of
from gridledger.config import Config
from gridledger.units import micro_to_money, wh_to_kwh

if TYPE_CHECKING:
    from contextlib import ExitStack

    from gridledger.market import RuleSet
    from gridledger.sim.settler import CitySettler


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

    cfg = settings_of(ctx)
    try:
        start_ts = datetime.fromisoformat(start)
    except ValueError as exc:
        raise click.BadParameter(
            f"{start!r} is not an ISO 8601 time", param_hint="--start"
        ) from exc
    rules = RuleSet.from_config(cfg, clearing_rule=rule)
    with ExitStack() as stack:
        # every setting that changes what a slot clears to (the period too: its random draws)
        run = {"seed": seed, "households": households, "start": start_ts.isoformat(),
               "hours": hours, "slot_minutes": rules.slot_minutes,
               "clearing_rule": rules.clearing_rule, "tariff": rules.tariff.to_dict()}  # fmt: skip
        settler = _city_settler(cfg, rules, stack, run) if settle else None
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


def _city_settler(
    cfg: Config, rules: RuleSet, stack: ExitStack, run: dict[str, object]
) -> CitySettler:
    """A CitySettler on the configured ledger and store (closed by ``stack``)."""
    from gridledger.chain import open_ledger
    from gridledger.operator.region import demo_keys, market_tariffs
    from gridledger.sim.settler import CitySettler
    from gridledger.store import open_store

    backend = open_ledger(cfg["ledger_url"], cfg.data_path, int(cfg["chain_id"]))
    stack.callback(backend.close)
    store = stack.enter_context(open_store(cfg.store_location))
    admin, operator = demo_keys()
    return CitySettler(
        backend, store, cfg.data_path, admin=admin, operator=operator,
        tariffs=market_tariffs(rules.tariff), slot_seconds=rules.slot_minutes * 60, meter=True,
        clearing_rule=rules.clearing_rule, gate_closure_s=rules.gate_closure_s, run=run,
    )  # fmt: skip
