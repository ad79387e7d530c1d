"""``gridledger faults --site S`` over a store filled with signed readings of simulated sites."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gridledger.cli import main
from gridledger.identity import Domain
from gridledger.sim.faults import InjectionPlan, simulate_district
from gridledger.store import open_store
from gridledger.telemetry import Ingestor, make_sites

SLOT_MS = 900_000
DAYS = 3
#: The outage of site r0-0000: from this slot of the last day (10:00 UTC) to the end.
OUTAGE_FROM = (DAYS - 1) * 96 + 40


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding 6 sites of one region over 3 days; site r0-0000 loses its PV at 10:00
    UTC on the last day. PV comes from the simulated district (south-facing, 30 degrees, the
    registry's defaults), scaled to each site's registered peak."""
    tmp = tmp_path_factory.mktemp("faults")
    url = f"sqlite:///{tmp / 'store.sqlite'}"
    cfg = tmp / "gridledger.toml"
    cfg.write_text(f'store_url = "{url}"\nchain_id = 1337\n')
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=DAYS + 2)
    district = simulate_district(
        6,
        1,
        DAYS,
        start=start,
        plan=InjectionPlan.none(),
        seed=5,
        message_loss=0.0,
        tilt_deg=30.0,
        azimuth_deg=180.0,
    )
    tel = district.telemetry
    pv_w = np.diff(tel.pv.export_wh, axis=1, prepend=0.0) * 4.0
    load_w = np.diff(tel.load.import_wh, axis=1, prepend=0.0) * 4.0
    sites = make_sites(6, "r0", seed=3)
    domain = Domain(1337)
    with open_store(url) as store:
        for site in sites:
            site.register(store)
        ingestor = Ingestor(store, domain)
        start_ms = int(start.timestamp() * 1000)
        for k in range(DAYS * 96):
            batch = []
            for n, site in enumerate(sites):
                peak = site.devices[0].params()["peak_w"]
                pv = pv_w[n, k] * peak / district.fleet.peak_w[n]
                if n == 0 and k >= OUTAGE_FROM:
                    pv = 0.0
                site.step(int(pv), int(load_w[n, k]), SLOT_MS)
                batch += list(site.readings(start_ms + k * SLOT_MS + 2_000, domain))
            result = ingestor.process(batch)
            assert result.accepted == len(batch)
    return cfg


def test_a_healthy_site_has_no_faults(config: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(config), "faults", "--site", "r0-0003"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("no faults")
    assert "5 neighbours" in result.output


def test_an_outage_is_an_open_fault(config: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(config), "faults", "--site", "r0-0000"])
    assert result.exit_code == 0, result.output
    assert "outage on r0-0000-pv (open)" in result.output
    assert "no faults" not in result.output


def test_json_lists_the_open_faults(config: Path) -> None:
    result = CliRunner().invoke(
        main, ["--config", str(config), "faults", "--site", "r0-0000", "--json"]
    )
    assert result.exit_code == 0, result.output
    faults = json.loads(result.output)
    assert [(f["kind"], f["device"], f["status"]) for f in faults] == [
        ("outage", "r0-0000-pv", "open")
    ]
    first = datetime.fromisoformat(faults[0]["first_seen"])
    outage_start = datetime.fromisoformat(faults[0]["raised_at"]) - timedelta(hours=3)
    assert first >= outage_start
    assert faults[0]["evidence"]["measured_w"] == 0


def test_an_unknown_site_is_refused(config: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(config), "faults", "--site", "nowhere"])
    assert result.exit_code == 4  # a ValidationError (docs/cli.md, exit codes)
    assert "not registered" in result.output


def _store_url(config: Path) -> str:
    return config.read_text().split('"')[1]


def test_stored_faults_are_listed_with_their_state(config: Path) -> None:
    """Faults the live service stored show with their life cycle; ``--state`` filters them, and
    a stored active fault is not listed a second time by the detectors."""
    from gridledger.identity import Signer
    from gridledger.monitor import Fault, FaultKind, Severity, fault_row

    t = datetime(2026, 6, 20, 10, tzinfo=UTC)
    owner = Signer(b"\x33" * 32).address
    old = Fault(
        "r0-0001", "r0-0001-battery", FaultKind.BATTERY_ALARM, Severity.MAJOR, t, t, t,
        {"alarm": 1.0}, "The battery reports an alarm.",
    ).close(t + timedelta(hours=1))  # fmt: skip
    seen = Fault(
        "r0-0001", "r0-0001-bec", FaultKind.OFFLINE_DEVICE, Severity.MINOR, t, t, t,
        {"gap_min": 60.0}, "The meter sends nothing.",
    ).acknowledge(t + timedelta(hours=2), owner)  # fmt: skip
    with open_store(_store_url(config)) as store:
        store.save_faults([fault_row(old), fault_row(seen)])
    runner = CliRunner()
    base = ["--config", str(config), "faults", "--site", "r0-0001"]
    shown = runner.invoke(main, [*base, "--no-detect"])
    assert shown.exit_code == 0, shown.output
    assert "battery_alarm on r0-0001-battery (closed)" in shown.output
    assert "offline_device on r0-0001-bec (acknowledged)" in shown.output
    assert f"by {owner}" in shown.output
    closed = json.loads(runner.invoke(main, [*base, "--state", "closed", "--json"]).output)
    assert [(f["kind"], f["status"], f["source"]) for f in closed] == [
        ("battery_alarm", "closed", "store")
    ]
    both = json.loads(runner.invoke(main, [*base, "--json"]).output)
    assert [f["kind"] for f in both if f["source"] == "store"] == [
        "battery_alarm",
        "offline_device",
    ]
    assert all(f["status"] == "open" for f in both if f["source"] == "readings")
    none = runner.invoke(main, [*base, "--state", "open", "--no-detect"])
    assert none.exit_code == 0 and none.output.strip().endswith("no faults")
