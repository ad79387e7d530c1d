"""``gridledger simulate``: a scenario file, or the built-in example city; optionally settled on
the ledger."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gridledger.cli.group import main, settings_of
from gridledger.config import Config, parse_utc_time, validate_simulation
from gridledger.errors import GridLedgerError
from gridledger.units import micro_to_money, wh_to_kwh

if TYPE_CHECKING:
    from contextlib import ExitStack

    from gridledger.market import RuleSet
    from gridledger.sim.settler import CitySettler


@main.command()
@click.argument(
    "scenario_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Results folder of a scenario run [default: results/<scenario name>].",
)
@click.option(
    "--ledger",
    "ledger",
    default="none",
    show_default=True,
    help="Scenario runs: 'none' (never signs), 'embedded' or a node URL (signs, settles).",
)
@click.option("--dask", "dask_address", default=None, help="Run regions on this Dask scheduler.")
@click.option(
    "--parallel/--serial",
    default=None,
    help="Scenario runs: regions in local processes [default: when the run is large].",
)
@click.option("--per-household", is_flag=True, help="Also write per-household time series.")
@click.option("--no-report", is_flag=True, help="Skip report.html.")
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
@click.option(
    "--no-deliver",
    is_flag=True,
    help="With --settle: meter every household but leave each slot's delivery settlement to "
    "gridledger deliver.",
)
@click.pass_context
def simulate(
    ctx: click.Context,
    scenario_file: Path | None,
    out: Path | None,
    ledger: str,
    dask_address: str | None,
    parallel: bool | None,
    per_household: bool,
    no_report: bool,
    households: int,
    hours: int,
    start: str,
    seed: int,
    rule: str,
    as_json: bool,
    settle: bool,
    no_deliver: bool,
) -> None:
    """Simulate SCENARIO_FILE (TOML, see docs/scenario.md), or the built-in example city.

    A scenario run writes Parquet series, kpis.json and report.html to --out; the example city
    prints its hourly table (options --households to --settle apply to it only).
    """
    if scenario_file is not None:
        if settle:
            raise click.UsageError("a scenario settles with --ledger embedded (or a node URL)")
        _run_scenario(
            ctx, scenario_file, out, ledger, dask_address, parallel, per_household, no_report,
            as_json,
        )  # fmt: skip
        return
    from contextlib import ExitStack

    from gridledger.market import RuleSet
    from gridledger.sim import example_city, simulate_city

    cfg = settings_of(ctx)
    try:
        start_ts = parse_utc_time(start, "--start", allow_unix=False)
        validate_simulation(households, hours, start_ts)
    except GridLedgerError as exc:
        raise click.BadParameter(str(exc)) from None
    rules = RuleSet.from_config(cfg, clearing_rule=rule)
    with ExitStack() as stack:
        # every setting that changes what a slot clears to (the period too: its random draws)
        run = {"seed": seed, "households": households, "start": start_ts.isoformat(),
               "hours": hours, "slot_minutes": rules.slot_minutes,
               "clearing_rule": rules.clearing_rule, "tariff": rules.tariff.to_dict()}  # fmt: skip
        settler = _city_settler(cfg, rules, stack, run, deliver=not no_deliver) if settle else None
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
    cfg: Config,
    rules: RuleSet,
    stack: ExitStack,
    run: dict[str, object],
    ledger_url: str | None = None,
    *,
    deliver: bool = True,
) -> CitySettler:
    """A CitySettler on the configured (or the given) ledger and store (closed by ``stack``).

    ``run`` holds the settings that decide what the run writes: a data dir made with others is
    refused before anything is written.
    """
    from gridledger.chain import open_ledger
    from gridledger.operator.region import demo_keys, market_tariffs
    from gridledger.sim.settler import CitySettler
    from gridledger.store import open_store

    url = cfg["ledger_url"] if ledger_url is None else ledger_url
    backend = open_ledger(url, cfg.data_path, int(cfg["chain_id"]))
    stack.callback(backend.close)
    store = stack.enter_context(open_store(cfg.store_location))
    admin, operator = demo_keys()
    return CitySettler(
        backend, store, cfg.data_path, admin=admin, operator=operator,
        tariffs=market_tariffs(rules.tariff), slot_seconds=rules.slot_minutes * 60, meter=True,
        deliver=deliver, clearing_rule=rules.clearing_rule, gate_closure_s=rules.gate_closure_s,
        run=run,
    )  # fmt: skip


#: Household-slots from which a multi-region scenario runs in local processes by default.
PARALLEL_FROM_HOUSEHOLD_SLOTS = 20_000_000


def _run_scenario(
    ctx: click.Context,
    path: Path,
    out: Path | None,
    ledger: str,
    dask_address: str | None,
    parallel: bool | None,
    per_household: bool,
    no_report: bool,
    as_json: bool,
) -> None:
    """Run a scenario file; see :func:`gridledger.sim.city_run.run_scenario`."""
    from contextlib import ExitStack

    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from gridledger.market import RuleSet
    from gridledger.market.tariff import GridTariff
    from gridledger.sim.city_run import run_scenario
    from gridledger.sim.region_run import RunOptions
    from gridledger.sim.report_html import write_report
    from gridledger.sim.scenario import load_scenario

    cfg = settings_of(ctx)
    scenario = load_scenario(path)
    out_dir = out if out is not None else Path("results") / scenario.name
    where: object = "serial"
    if dask_address is not None:
        where = dask_address
    elif parallel or (
        parallel is None
        and len(scenario.regions) > 1
        and scenario.households * scenario.slots >= PARALLEL_FROM_HOUSEHOLD_SLOTS
    ):
        where = "processes"
    options = RunOptions(out_dir, per_household=per_household, chain_id=int(cfg["chain_id"]))
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        disable=not sys.stderr.isatty(), transient=True,
    )  # fmt: skip
    with ExitStack() as stack, progress:
        hooks = None
        if ledger != "none":
            t = scenario.tariffs
            rules = RuleSet(
                scenario.clearing_rule, scenario.slot_minutes,
                tariff=GridTariff(t.retail_micro_per_kwh, t.feed_in_micro_per_kwh,
                                  t.network_fee_micro_per_kwh),
            )  # fmt: skip
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            run: dict[str, object] = {"scenario": scenario.name, "scenario_sha256": digest}
            hooks = _city_settler(cfg, rules, stack, run, ledger_url=ledger)
        task = progress.add_task(scenario.name, total=scenario.slots * len(scenario.regions))
        result = run_scenario(
            scenario, options, where=where, hooks=hooks,
            progress=lambda n: progress.advance(task, n),
        )  # fmt: skip
    report = None if no_report else write_report(out_dir, result.kpis, scenario.timezone)
    if as_json:
        click.echo(json.dumps(result.kpis, sort_keys=True))
        return
    city = result.kpis["city"]
    click.echo(
        f"{scenario.name}: {scenario.households} households in {len(scenario.regions)} regions, "
        f"{scenario.slots} slots of {scenario.slot_minutes} min from {scenario.start.isoformat()}"
    )
    ss, sc, share = city["self_sufficiency"], city["self_consumption"], city["savings_share"]
    click.echo(
        f"self-sufficiency {ss or 0:.1%}, self-consumption {sc or 0:.1%}, "
        f"traded locally {wh_to_kwh(city['local_traded_wh']):.1f} kWh, sold to companies "
        f"{wh_to_kwh(city['sold_to_companies_wh']):.1f} kWh, imported "
        f"{wh_to_kwh(city['imported_wh']):.1f} kWh, exported "
        f"{wh_to_kwh(city['exported_wh']):.1f} kWh"
    )
    click.echo(
        f"bills {micro_to_money(city['bill_micro']):.2f} vs "
        f"{micro_to_money(city['baseline_bill_micro']):.2f} "
        f"without a market: saved {micro_to_money(city['savings_micro']):.2f} ({share or 0:.1%})"
    )
    if hooks is not None:
        done = hooks.totals
        click.echo(
            f"settled on {ledger}: {done.slots} slots, {done.trades} trades, {done.orders} "
            f"orders, {done.transactions} transactions; {done.readings} meter readings"
        )
    click.echo(f"results in {out_dir}" + (f", report {report}" if report else ""))
