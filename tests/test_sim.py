from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from click.testing import CliRunner

from gridledger.cli import main
from gridledger.market import RuleSet
from gridledger.sim import example_city, simulate_city
from gridledger.sim.profiles import haurwitz_ghi, solar_zenith_cos
from gridledger.slots import SlotClock
from gridledger.units import cost_micro

SUMMER = datetime(2026, 6, 21, tzinfo=UTC)


def test_solar_noon_and_night() -> None:
    clock = SlotClock()
    noon = int(datetime(2026, 6, 21, 11, 15, tzinfo=UTC).timestamp())  # solar noon near 11.6 E
    midnight = int(datetime(2026, 6, 21, 23, 0, tzinfo=UTC).timestamp())
    cz = solar_zenith_cos(np.array([noon, midnight], dtype=np.int64), 48.1, 11.6)
    # at the June solstice the sun stands 90 - 48.1 + 23.45 = 65.35 deg high at noon
    assert cz[0] == pytest.approx(np.cos(np.radians(90 - 65.35)), abs=0.01)
    assert cz[1] < 0
    ghi = haurwitz_ghi(cz)
    assert 900 < ghi[0] < 1000 and ghi[1] == 0
    assert clock.slot_of(SUMMER).start == SUMMER


@pytest.fixture(scope="module")
def report() -> object:
    return simulate_city(example_city(3, 12), SUMMER, hours=24, seed=5)


def test_energy_balances_every_slot(report: object) -> None:
    from gridledger.sim import SimulationReport

    assert isinstance(report, SimulationReport)
    for region in report.regions:
        assert len(region.slots) == 96
        for s in region.slots:
            # what households put on the market minus what they took = exports (to the grid and
            # to the energy company) minus imports
            net = s.pv_wh - s.load_wh - s.charged_wh + s.discharged_wh
            assert net == s.grid_export_wh + s.company_wh - s.grid_import_wh
            assert s.traded_wh <= s.load_wh
            assert s.company_wh <= 4_000  # the example company's capacity per slot
    assert report.total("company_wh") > 0 and report.total("traded_wh") > 0


def test_kpis_add_up(report: object) -> None:
    from gridledger.sim import SimulationReport

    assert isinstance(report, SimulationReport)
    rules = report.rules
    assert report.total("trades") > 0
    assert 0 < report.self_sufficiency < 1 and 0 < report.p2p_share < 1
    # every kWh traded between neighbours saves the retail/feed-in spread less the network fee;
    # floor rounding of each slot's amounts costs at most a few micro-units per slot
    tariff = rules.tariff
    spread = (
        tariff.retail_price_micro_per_kwh
        - tariff.feed_in_price_micro_per_kwh
        - tariff.grid_fee_micro_per_kwh
    )
    # and every kWh sold to the energy company earns its payout instead of the feed-in price
    company_gain = sum(
        s.company_amount_micro - cost_micro(s.company_wh, tariff.feed_in_price_micro_per_kwh)
        for r in report.regions
        for s in r.slots
    )
    assert company_gain > 0
    expected = cost_micro(report.total("traded_wh"), spread) + company_gain
    slots = sum(len(r.slots) for r in report.regions)
    assert abs(report.savings_micro - expected) <= 3 * slots


def test_hourly_sums_to_totals(report: object) -> None:
    from gridledger.sim import SimulationReport

    assert isinstance(report, SimulationReport)
    hours = report.hourly()
    assert len(hours) == 24
    assert [h.start.hour for h in hours] == list(range(24))
    for name in ("pv_wh", "load_wh", "traded_wh", "grid_import_wh", "grid_export_wh", "trades"):
        assert sum(getattr(h, name) for h in hours) == report.total(name)
    night = hours[0]
    assert night.traded_wh == 0 and night.mean_clearing_price_micro_per_kwh is None


def test_deterministic() -> None:
    a = simulate_city(example_city(3, 6), SUMMER, hours=6, seed=5)
    b = simulate_city(example_city(3, 6), SUMMER, hours=6, seed=5)
    hashes_a = [s.result_hash for r in a.regions for s in r.slots]
    assert hashes_a == [s.result_hash for r in b.regions for s in r.slots]
    assert a.summary() == b.summary()


def test_pay_as_bid_runs() -> None:
    rep = simulate_city(example_city(3, 6), SUMMER, hours=12, rules=RuleSet("pay_as_bid"), seed=5)
    assert rep.total("trades") > 0


def test_cli_simulate(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    table = runner.invoke(main, ["simulate", "--households", "6", "--hours", "6"])
    assert table.exit_code == 0, table.output
    assert "self-sufficiency" in table.output and "saved" in table.output
    out = runner.invoke(main, ["simulate", "--households", "6", "--hours", "6", "--json"])
    summary = json.loads(out.output)
    assert summary["households"] == 12 and summary["slots"] == 48
    bad = runner.invoke(main, ["simulate", "--start", "yesterday"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output
