from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from gridledger.chain.backend import LedgerBackend
from gridledger.cli import main
from gridledger.market import RuleSet
from gridledger.market.tariff import GridTariff
from gridledger.operator.region import demo_keys, market_tariffs
from gridledger.sim.city_run import run_scenario
from gridledger.sim.region_run import RunOptions
from gridledger.sim.scenario import Scenario, load_scenario, parse_scenario
from gridledger.sim.settler import CitySettler
from gridledger.store import Store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def district(days: int, scale: int = 1) -> Scenario:
    """The district example over ``days``, with its households divided by ``scale``."""
    data: dict[str, Any] = tomllib.loads((EXAMPLES / "district.toml").read_text())
    data["time"]["days"] = days
    for region in data["regions"]:
        region["households"] //= scale
    return parse_scenario(data, EXAMPLES)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Path]:
    scenario = district(7)
    out = tmp_path_factory.mktemp("district")
    run_scenario(scenario, RunOptions(out, per_household=False))
    return scenario, out


def test_energy_is_conserved_every_slot_and_region(week: tuple[Scenario, Path]) -> None:
    scenario, out = week
    for region in scenario.regions:
        t = pq.read_table(out / "regions" / f"{region.name}.parquet").to_pandas()
        assert len(t) == scenario.slots
        produced = t.pv_wh + t.import_wh + t.discharged_wh
        used = t.load_wh + t.ev_wh + t.export_wh + t.company_wh + t.charged_wh
        assert (produced == used).all()
        assert (t.balance_drift_wh == 0).all()
        # money: buyers pay what sellers get plus the fee; the bill sums the parts
        assert (t.bill_micro <= t.baseline_micro + t.fee_micro).all()
        assert t.market_wh.sum() > 0 and t.company_wh.sum() >= 0
    # every trade's amount reaches a household seller (the companies only buy)
    received = 0
    for region in scenario.regions:
        t = pq.read_table(out / "regions" / f"{region.name}.parquet").to_pandas()
        received += int(t.market_amount_micro.sum())
    kpis = json.loads((out / "kpis.json").read_text())
    city = kpis["city"]
    assert city["max_balance_drift_wh"] == 0
    hh = pq.read_table(out / "households.parquet").to_pandas()
    assert len(hh) == scenario.households
    assert int(hh.market_received_micro.sum()) == received
    assert city["imported_wh"] == int(hh.import_wh.sum())
    assert city["savings_micro"] == int((hh.baseline_micro - hh.bill_micro).sum())
    assert (
        city["local_traded_wh"]
        == int(hh.bought_wh.sum())
        == int(hh.sold_wh.sum() - hh.company_wh.sum())
    )
    consumption = int(hh.load_wh.sum() + hh.ev_wh.sum())
    assert city["self_sufficiency"] == round(1 - int(hh.import_wh.sum()) / consumption, 6)


def test_kpis_are_identical_serial_in_processes_and_on_dask(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    scenario = district(2, scale=5)
    serial = run_scenario(scenario, RunOptions(tmp_path / "serial"))
    processes = run_scenario(scenario, RunOptions(tmp_path / "processes"), where="processes")
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with cluster:
        # by address, as `--dask tcp://scheduler:8786` does, and with a client of one's own
        dask = run_scenario(
            scenario, RunOptions(tmp_path / "dask"), where=cluster.scheduler_address
        )
        with Client(cluster) as client:  # type: ignore[no-untyped-call]
            run_scenario(scenario, RunOptions(tmp_path / "client"), where=client)
    assert (tmp_path / "client" / "kpis.json").read_bytes() == serial.kpis_path.read_bytes()
    reference = serial.kpis_path.read_bytes()
    assert processes.kpis_path.read_bytes() == reference
    assert dask.kpis_path.read_bytes() == reference
    for region in scenario.regions:
        name = f"regions/{region.name}.parquet"
        assert pq.read_table(tmp_path / "dask" / name).equals(
            pq.read_table(tmp_path / "serial" / name)
        )


def test_chunking_does_not_change_the_run(tmp_path: Path) -> None:
    scenario = district(2, scale=10)
    a = run_scenario(scenario, RunOptions(tmp_path / "a", chunk_slots=672))
    b = run_scenario(scenario, RunOptions(tmp_path / "b", chunk_slots=37))
    assert a.kpis_path.read_bytes() == b.kpis_path.read_bytes()


def test_per_household_series(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "gsy_street.toml")
    run_scenario(scenario, RunOptions(tmp_path, per_household=True))
    t = pq.read_table(tmp_path / "households" / "gsy.parquet").to_pandas()
    assert len(t) == 10 * scenario.slots
    assert set(t.load_wh) == {75}  # a flat 300 W for 15 minutes
    assert (t.soc_wh <= 5000).all() and (t.soc_wh >= 500).all()


def test_cli_runs_a_scenario_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "street"
    result = CliRunner().invoke(
        main, ["simulate", str(EXAMPLES / "street.toml"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "self-sufficiency" in result.output
    page = (out / "report.html").read_text()
    assert page.index("Key figures") < page.index("<svg")
    assert page.count("<svg") == 6
    # self-contained: nothing is loaded from elsewhere (namespace URIs are names, not fetches)
    assert "<link" not in page and "<script" not in page
    assert 'src="http' not in page and 'href="http' not in page


def test_cli_names_the_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[regions]]\nname = "r"\nhouseholds = -1\n')
    result = CliRunner().invoke(main, ["simulate", str(bad)])
    assert result.exit_code == 4  # a ValidationError (docs/cli.md, exit codes)
    assert "regions[0].households" in result.output


TINY = """
name = "tiny"
seed = 3
[place]
timezone = "Europe/Berlin"
[time]
start = "2026-06-15T09:00:00+02:00"
end = "2026-06-15T10:00:00+02:00"
[[companies]]
name = "co"
region = "r"
price_micro_per_kwh = 140000
capacity_wh = 300
[[regions]]
name = "r"
households = 6
[regions.pv]
share = 0.7
[regions.battery]
share = 0.5
[[regions.strategies]]
strategy = "price_based"
share = 0.5
[[regions.strategies]]
strategy = "sell_to_company"
share = 0.5
"""


def test_money_in_the_market_is_what_the_chain_settled(
    embedded_backend: LedgerBackend, store: Store, tmp_path: Path
) -> None:
    scenario = parse_scenario(tomllib.loads(TINY))
    t = scenario.tariffs
    tariff = GridTariff(
        t.retail_micro_per_kwh, t.feed_in_micro_per_kwh, t.network_fee_micro_per_kwh
    )
    admin, operator = demo_keys()
    settler = CitySettler(
        embedded_backend, store, tmp_path / "data", admin=admin, operator=operator,
        tariffs=market_tariffs(RuleSet(tariff=tariff).tariff), slot_seconds=900, meter=True,
    )  # fmt: skip
    out = tmp_path / "out"
    outcome = run_scenario(
        scenario, RunOptions(out, chain_id=embedded_backend.chain_id), hooks=settler
    )
    series = pq.read_table(out / "regions" / "r.parquet").to_pandas()
    op = settler.operators["r"]
    assert settler.totals.trades > 0
    for row in series.itertuples():
        start_s = int(row.slot_start.timestamp())
        state = op.market.slot(start_s)
        assert state.amount_micro == row.market_amount_micro
        assert state.fee_micro == row.fee_micro
    assert outcome.kpis["city"]["max_balance_drift_wh"] == 0
    amounts = sum(tr.amount_micro for tr in store.list_trades("r"))
    assert (
        amounts == int(series.market_amount_micro.sum()) == outcome.regions[0].market_amount_micro
    )
    assert np.isfinite(series.bill_micro).all()


def test_time_of_use_prices_the_evening_slots(week: tuple[Scenario, Path]) -> None:
    import pandas as pd

    scenario, out = week
    t = pq.read_table(out / "regions" / f"{scenario.regions[0].name}.parquet").to_pandas()
    hour = pd.DatetimeIndex(t.slot_start).tz_convert(scenario.timezone).hour
    evening = (hour >= 17) & (hour < 21)
    assert set(t.retail_micro_per_kwh[evening]) == {380_000}
    assert set(t.retail_micro_per_kwh[~evening]) == {300_000}


def test_cli_settles_a_scenario_on_the_embedded_chain_and_it_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRIDLEDGER_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "tiny.toml").write_text(TINY)
    runner = CliRunner()
    args = ["simulate", "tiny.toml", "--ledger", "embedded", "--no-report", "--out", "out"]
    settled = runner.invoke(main, args)
    assert settled.exit_code == 0, settled.output
    assert "settled on embedded: 4 slots" in settled.output
    verified = runner.invoke(main, ["verify"])
    assert verified.exit_code == 0, verified.output
    assert "verified" in verified.output
    refused = runner.invoke(main, ["simulate", "tiny.toml", "--settle"])
    assert refused.exit_code == 2 and "--ledger embedded" in refused.output
