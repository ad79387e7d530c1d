"""The settlement protocol under faults: the store and the chain never stay apart.

Each case runs the real command line on a small city, breaks it at one point (SIGKILL at each
step of the protocol, a store that refuses to write, changed settings, a deleted store or
deployment record, a restarted dev node), then runs the next ordinary command (the same run
again, or ``gridledger repair``) and requires ``gridledger verify`` (``--chain`` on the embedded
chain) to pass with every slot settled: nothing that was acknowledged is lost.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gridledger.chain.devnode import anvil_binary, running_anvil
from gridledger.cli import main
from gridledger.errors import StoreError
from gridledger.operator.faultpoints import CRASH_AFTER_ENV, CRASH_ENV, POINTS

CITY = ["--households", "3", "--hours", "1"]
SLOTS = 8  # 2 regions x 4 slots of 15 min


@pytest.fixture(params=["embedded", "anvil"])
def ledger_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh chain per case: the embedded file in the data dir, or a fresh anvil node."""
    if request.param == "embedded":
        yield "embedded"
        return
    if anvil_binary() is None:
        if os.environ.get("GRIDLEDGER_REQUIRE_ANVIL") == "1":
            pytest.fail("anvil not installed; run `make services`")
        pytest.skip("anvil not installed; run `make services`")
    with running_anvil() as url:
        yield url


@pytest.fixture
def env(tmp_path: Path, ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "GRIDLEDGER_DATA_DIR": str(tmp_path / "var"),
        "GRIDLEDGER_LEDGER_URL": ledger_url,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GRIDLEDGER_CONFIG", raising=False)
    monkeypatch.delenv(CRASH_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return values


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def run_killed(env: dict[str, str], point: str, after: int, *args: str) -> int:
    """Run ``gridledger ARGS`` in a child that SIGKILLs itself at ``point``; its exit code."""
    child_env = {**os.environ, **env, CRASH_ENV: point, CRASH_AFTER_ENV: str(after)}
    code = "import sys; from gridledger.cli import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc.returncode


def assert_verified(ledger_url: str, slots: int = SLOTS) -> Result:
    args = ["verify", "--chain"] if ledger_url == "embedded" else ["verify"]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert f"{slots} settled slots ({slots} delivered, {slots} re-cleared)" in result.output
    return result


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_at_any_step_is_completed_by_the_next_run(
    env: dict[str, str], ledger_url: str, point: str
) -> None:
    # settle and deliver points are hit once per slot: kill in the middle of the run
    after = 3 if point.startswith(("settle", "deliver")) else 1
    code = run_killed(env, point, after, "simulate", "--settle", *CITY)
    assert code == -signal.SIGKILL, f"the run was not killed at {point}"
    rerun = cli("simulate", "--settle", *CITY)
    assert rerun.exit_code == 0, rerun.output
    assert_verified(ledger_url)


@pytest.mark.parametrize("point", ["settle:after_send", "deliver:after_send"])
def test_repair_completes_a_killed_run(env: dict[str, str], ledger_url: str, point: str) -> None:
    run_killed(env, point, 2, "simulate", "--settle", *CITY)
    half = cli("verify")
    assert half.exit_code == 1 and "half-recorded" in half.output
    repaired = cli("repair")
    assert repaired.exit_code == 0, repaired.output
    assert "completed region" in repaired.output
    cli("simulate", "--settle", *CITY)  # the rest of the run
    assert_verified(ledger_url)


def test_a_store_refusing_the_receipt_is_completed(
    env: dict[str, str], ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store locked past its timeout after the chain settled: the next run records it."""
    from gridledger.store._sql_market import MarketSql

    real = MarketSql.update_settlement
    calls = {"n": 0}

    def locked(self: MarketSql, settlement: object) -> None:
        calls["n"] += 1
        if calls["n"] in (3, 6):  # one trade receipt and one delivery receipt
            raise StoreError("database is locked (the busy timeout of 10 s passed)")
        real(self, settlement)  # type: ignore[arg-type]

    monkeypatch.setattr(MarketSql, "update_settlement", locked)
    failed = cli("simulate", "--settle", *CITY)
    assert failed.exit_code == 7 and "locked" in failed.output  # StoreError
    monkeypatch.setattr(MarketSql, "update_settlement", real)
    assert cli("simulate", "--settle", *CITY).exit_code == 0
    assert_verified(ledger_url)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["--seed", "8"], "seed"),
        (["--households", "4"], "households"),
        (["--start", "2026-06-22T00:00:00+00:00"], "start"),
        (["--rule", "pay_as_bid"], "clearing_rule"),
        (["--hours", "2"], "hours"),  # the city's random draws depend on the period
    ],
)
def test_changed_settings_are_refused_before_anything_is_written(
    env: dict[str, str], ledger_url: str, tmp_path: Path, change: list[str], named: str
) -> None:
    assert cli("simulate", "--settle", *CITY).exit_code == 0
    store = tmp_path / "var" / "gridledger.sqlite"
    before = _counts(store)
    other = cli("simulate", "--settle", *CITY, *change)
    assert other.exit_code == 3, other.output  # ConfigError
    assert named in other.output and "nothing was written" in other.output
    assert _counts(store) == before
    assert_verified(ledger_url)


def test_another_slot_length_is_refused(
    env: dict[str, str], ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("simulate", "--settle", *CITY).exit_code == 0
    monkeypatch.setenv("GRIDLEDGER_SLOT_MINUTES", "30")
    other = cli("simulate", "--settle", *CITY)
    assert other.exit_code == 3 and "slot_minutes" in other.output
    monkeypatch.delenv("GRIDLEDGER_SLOT_MINUTES")
    assert_verified(ledger_url)


def test_a_deleted_store_is_rebuilt_from_the_chain(
    env: dict[str, str], ledger_url: str, tmp_path: Path
) -> None:
    assert cli("simulate", "--settle", *CITY).exit_code == 0
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / "var" / f"gridledger.sqlite{suffix}").unlink(missing_ok=True)
    repaired = cli("repair")
    assert repaired.exit_code == 0, repaired.output
    assert repaired.output.count("rebuilt region") == SLOTS
    assert repaired.output.count("UNPROVABLE") == SLOTS  # orders and readings are gone
    lost = cli("verify")
    assert lost.exit_code == 0 and "unprovable" in lost.output, lost.output
    # the same run again restores the orders and readings, proven against the chain's roots
    assert cli("simulate", "--settle", *CITY).exit_code == 0
    assert "unprovable" not in assert_verified(ledger_url).output


def test_a_deleted_deployment_record_is_found_on_the_chain(
    env: dict[str, str], ledger_url: str, tmp_path: Path
) -> None:
    assert cli("simulate", "--settle", *CITY).exit_code == 0
    record = tmp_path / "var" / "deployment-north.json"
    original = record.read_text()
    record.unlink()
    assert cli("simulate", "--settle", *CITY).exit_code == 0
    assert record.read_text().replace(" ", "") != ""
    for key in ("market", "registry", "token"):
        assert _field(original, key) == _field(record.read_text(), key)  # not redeployed
    assert_verified(ledger_url)


def test_a_reset_chain_is_refused_with_a_clear_error(
    env: dict[str, str], ledger_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarted dev node that lost its state, or an embedded chain file that is gone."""
    assert cli("simulate", "--settle", *CITY).exit_code == 0
    store = tmp_path / "var" / "gridledger.sqlite"
    before = _counts(store)
    with ExitStack() as stack:
        if ledger_url == "embedded":
            for suffix in ("", "-wal", "-shm"):
                (tmp_path / "var" / f"chain.sqlite{suffix}").unlink(missing_ok=True)
        else:
            monkeypatch.setenv("GRIDLEDGER_LEDGER_URL", stack.enter_context(running_anvil()))
        again = cli("simulate", "--settle", *CITY)
        assert again.exit_code == 8 and "no contract there" in again.output, again.output
        assert _counts(store) == before
        checked = cli("verify")
        assert checked.exit_code == 1 and "Traceback" not in checked.output
        assert "MISMATCH" in checked.output or "no embedded chain" in checked.output


def _counts(store: Path) -> dict[str, int]:
    with sqlite3.connect(store) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("orders", "trades", "settlements", "readings", "sites", "devices")
        }


def _field(text: str, key: str) -> str:
    import json

    return str(json.loads(text)[key]).lower()
