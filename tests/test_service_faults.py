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
from pathlib import Path

import httpx

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


def _serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env["GRIDLEDGER_TELEMETRY_URL"] = "memory://"
    with open(log, "ab") as err:
        return subprocess.Popen(
        [
            sys.executable, "-c", "from gridledger.cli import main; main()", "serve",
            "--data-dir", str(data_dir), "--port", str(port), "--speed", "600",
            "--households", "6", "--start", "2026-06-21T09:00:00Z",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=err,
    )  # fmt: skip


def _settled(port: int) -> int:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1
    m = re.search(r'gridledger_slots_settled_total\{region="central"\} ([0-9.]+)', text)
    return int(float(m.group(1))) if m else 0


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
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
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
