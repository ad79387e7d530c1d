"""``gridledger serve`` under a SIGKILL: a real process is killed while slots run and restarted on
the same data dir. Nothing accepted is lost (every journaled order of a slot whose gate closed is
stored with its settlement, no reading goes missing), every slot is cleared and settled once, and
``gridledger verify`` (``verify_store``) passes; SIGTERM then stops it cleanly (exit code 0)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from mqtt_broker import MosquittoBroker, mosquitto_binary
from serve_process import process_gone
from servers import PostgresServer, find_pg_bindir

from gridledger.chain import open_ledger
from gridledger.market import Order
from gridledger.operator.audit import verify_store
from gridledger.store import open_store

SRC = Path(__file__).resolve().parent.parent / "src"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve(data_dir: Path, port: int, log: Path, **settings: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env["GRIDLEDGER_TELEMETRY_URL"] = "memory://"
    env.update({f"GRIDLEDGER_{k.upper()}": v for k, v in settings.items()})
    with open(log, "ab") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from gridledger.cli import main; main()",
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--speed",
                "600",
                "--households",
                "6",
                "--start",
                "2026-06-21T09:00:00Z",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _metric(port: int, pattern: str) -> int:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1
    m = re.search(pattern + r" ([0-9.e+]+)", text)
    return int(float(m.group(1))) if m else 0


def _settled(port: int) -> int:
    return _metric(port, r'gridledger_slots_settled_total\{region="central"\}')


def _ingested(port: int) -> int:
    return _metric(port, "gridledger_readings_ingested_total")


def _wait_settled(proc: subprocess.Popen[bytes], port: int, n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _settled(port) < n:
        assert proc.poll() is None, f"serve exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"fewer than {n} slots settled in {timeout_s} s"
        time.sleep(0.2)


def _journal_orders(data_dir: Path) -> dict[bytes, int]:
    out = {}
    for line in (data_dir / "serve-orders-central.jsonl").read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("op") == "order":
            out[Order.from_dict(entry["order"]).order_id] = int(entry["slot"])
    return out


def test_sigkill_mid_run_then_restart_loses_nothing(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path, port, tmp_path / "serve.log")
    try:
        _wait_settled(proc, port, 2, 90)
        time.sleep(0.7)  # somewhere inside the next slot
        chain = _children(proc.pid)  # the embedded chain's process (gridledger.chain.process)
        assert len(chain) == 1, chain
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert process_gone(chain[0], 5.0), "the chain process outlived a SIGKILLed serve"
        accepted = _journal_orders(tmp_path)
        with open_store(f"sqlite:///{tmp_path / 'gridledger.sqlite'}") as store:
            readings_before = store.reading_count()
        proc = _serve(tmp_path, port, tmp_path / "serve.log")
        _wait_settled(proc, port, 2, 90)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    with open_store(f"sqlite:///{tmp_path / 'gridledger.sqlite'}") as store:
        assert store.reading_count() >= readings_before
        assert store.rejection_counts() == {}  # the devices went on from their stored readings
        settled = {s.slot_start_s for s in store.list_settlements("central")}
        stored = {o.order_id for o in store.list_orders("central")}
        last = max(settled)
        lost = [oid.hex() for oid, slot in accepted.items() if slot <= last and oid not in stored]
        assert not lost, lost
        backend = open_ledger("embedded", tmp_path, 1337)
        try:
            report = verify_store(store, backend, tmp_path)
        finally:
            backend.close()
    assert report.mismatch is None, report.mismatch
    assert report.slots == len(settled) >= 4


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux ``/proc``)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _verify(data_dir: Path, store_url: str) -> tuple[int, int]:
    """``verify_store`` must pass; returns (settled slots, stored readings)."""
    with open_store(store_url) as store:
        readings = store.reading_count()
        backend = open_ledger("embedded", data_dir, 1337)
        try:
            report = verify_store(store, backend, data_dir)
        finally:
            backend.close()
    assert report.mismatch is None, report.mismatch
    return report.slots, readings


def _run_through(
    data_dir: Path, fault: Callable[[], None], settings: dict[str, str], store_url: str
) -> None:
    """serve; two slots settle; ``fault()``; two more settle and readings keep coming; SIGTERM."""
    port = _free_port()
    proc = _serve(data_dir, port, data_dir / "serve.log", **settings)
    try:
        _wait_settled(proc, port, 2, 90)
        fault()
        before = _ingested(port)
        _wait_settled(proc, port, 4, 90)
        deadline = time.monotonic() + 30
        while _ingested(port) <= before:
            assert time.monotonic() < deadline, "no reading was ingested after the fault"
            time.sleep(0.2)
        acknowledged = _ingested(port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    slots, readings = _verify(data_dir, store_url)
    assert slots >= 4
    assert readings >= acknowledged  # every reading ingest accepted is in the store


def test_mosquitto_restart_during_serve(tmp_path: Path) -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto not found; run scripts/setup.sh --services")
    broker = MosquittoBroker()
    try:
        _run_through(
            tmp_path,
            broker.restart,
            {"telemetry_url": broker.url},
            f"sqlite:///{tmp_path / 'gridledger.sqlite'}",
        )
    finally:
        broker.stop()


def test_postgres_restart_during_serve(tmp_path: Path) -> None:
    bindir = find_pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL not found; run scripts/setup.sh --services")
    server = PostgresServer(bindir)
    server.start()
    try:
        url = server.create_database()

        def restart() -> None:
            # -l: the restarted server must not inherit pg_ctl's captured stdout
            server._run(
                str(bindir / "pg_ctl"),
                "-D",
                str(server.data),
                "-l",
                str(server.log),
                "-m",
                "fast",
                "-w",
                "restart",
            )

        _run_through(tmp_path, restart, {"store_url": url}, url)
    finally:
        server.stop()
