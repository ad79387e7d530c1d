"""``gridledger ingest`` as a command: readings from a real broker into the store, then Ctrl-C."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gridledger.cli import main
from gridledger.devices.topics import readings_filter
from gridledger.identity import Domain
from gridledger.store import open_store
from gridledger.telemetry import make_sites, open_transport, traffic

SITES, STEPS = 2, 5  # 2 sites x 4 devices x 5 steps = 40 readings


def _stored(path: Path) -> int:
    try:
        con = sqlite3.connect(path)
        try:
            return int(con.execute("SELECT count(*) FROM readings").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_ingest_stores_readings_and_stops_on_ctrl_c(
    mosquitto: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "store.sqlite"
    sites = make_sites(SITES, "north", seed=3)
    with open_store(f"sqlite:///{db}") as store:
        for site in sites:
            site.register(store)
    client_id = f"cli-{uuid.uuid4().hex[:8]}"
    # create the persistent session first, so readings published before the command starts wait
    # in the broker for it (what a restart of ingest relies on)
    session = open_transport(mosquitto.url, client_id)
    session.subscribe(readings_filter(), lambda delivery: None)
    session.close()
    publisher = open_transport(mosquitto.url, f"gw-{uuid.uuid4().hex[:8]}")
    start_ms = int(time.time() * 1000) - 3_600_000
    for topic, payload in traffic(sites, STEPS, start_ms, 60_000, Domain(1337)):
        publisher.publish(topic, payload)
    publisher.flush(30)
    publisher.close()

    def interrupt_when_stored() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _stored(db) < SITES * 4 * STEPS:
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRIDLEDGER_CONFIG", raising=False)
    monkeypatch.delenv("GRIDLEDGER_LOG_LEVEL", raising=False)
    env = {
        "GRIDLEDGER_TELEMETRY_URL": mosquitto.url,
        "GRIDLEDGER_STORE_URL": f"sqlite:///{db}",
        "GRIDLEDGER_DATA_DIR": str(tmp_path / "data"),
    }
    watcher = threading.Thread(target=interrupt_when_stored, daemon=True)
    watcher.start()
    result = CliRunner().invoke(main, ["ingest", "--client-id", client_id], env=env)
    watcher.join(5)
    assert result.exit_code == 0, result.output
    assert _stored(db) == SITES * 4 * STEPS
    assert "ingest stopped: {" in result.stderr and "'accepted': 40" in result.stderr
    assert 'msg="ingest started"' in result.stderr and f"client_id={client_id}" in result.stderr
    assert result.stdout == ""  # piped: no progress bar, nothing on stdout


def test_ingest_refuses_an_oversized_client_id(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["ingest", "--client-id", "x" * 65],
        env={"GRIDLEDGER_TELEMETRY_URL": "mqtt://127.0.0.1:1883", "GRIDLEDGER_DATA_DIR": "d"},
    )
    assert result.exit_code == 2
    assert "must be 1 to 64 characters" in result.output and "got 65" in result.output
    bad = CliRunner().invoke(main, ["ingest", "--client-id", "a b", "--region", "North"])
    assert bad.exit_code == 2 and "--client-id" in bad.output
