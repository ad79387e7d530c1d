"""Errors, exit codes, --debug, Ctrl-C, logs and progress of the ``gridledger`` command."""

from __future__ import annotations

import io
import json
import re
import shlex
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from gridledger.cli import main
from gridledger.cli.exits import (
    ALL_CODES,
    EXIT_CODES,
    INTERNAL,
    OTHER_CODES,
    exit_code_for,
    one_line,
)
from gridledger.cli.progress import completed_summary, progress
from gridledger.errors import (
    ConfigError,
    ContractError,
    GridLedgerError,
    IntegrityError,
    NodeError,
    OrderError,
    StoreError,
    VerificationError,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in ("GRIDLEDGER_CONFIG", "GRIDLEDGER_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRIDLEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRIDLEDGER_PASSPHRASE", "test passphrase")
    monkeypatch.setattr("gridledger.cli.group.KDF_ITERATIONS", 2)
    return CliRunner()


def test_exit_codes_are_distinct_per_class_and_documented() -> None:
    codes = [e.code for e in EXIT_CODES] + [c for c, _, _ in OTHER_CODES]
    assert len(codes) == len(set(codes)) == len(ALL_CODES)
    text = DOCS.read_text()
    table = dict(re.findall(r"^\| (\d+) \| `?(\w+)`? \|", text, re.MULTILINE))
    assert {int(c) for c in table} == set(codes), "docs/cli.md's exit code table differs"
    for entry in EXIT_CODES:
        assert table[str(entry.code)] == entry.name
        row = next(line for line in text.splitlines() if line.startswith(f"| {entry.code} |"))
        for cls in entry.covers:
            assert cls.__name__ in row, f"{cls.__name__} missing from exit code {entry.code}"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (VerificationError("x"), 1),
        (IntegrityError("x"), 1),
        (ConfigError("x"), 3),
        (OrderError("x"), 4),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), 4),
        (StoreError("x"), 7),
        (ContractError("x"), 8),
        (NodeError("x"), 9),
        (ConnectionRefusedError("x"), 9),
        (PermissionError("x"), 11),
        (GridLedgerError("x"), 12),
        (RuntimeError("x"), INTERNAL),
    ],
)
def test_exit_code_for(exc: BaseException, code: int) -> None:
    assert exit_code_for(exc) == code


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output


def test_errors_are_one_line_without_a_traceback(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "gridledger.toml").write_bytes(b'region = "k\xf6ln"\n')
    result = runner.invoke(main, ["config", "show"])
    assert result.exit_code == 3
    _no_traceback(result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ConfigError:")
    assert "not UTF-8" in lines[0] and "save it as UTF-8" in lines[0]


def test_a_data_dir_that_is_a_file(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = runner.invoke(
        main, ["keys", "list"], env={"GRIDLEDGER_DATA_DIR": str(tmp_path / "file")}
    )
    assert result.exit_code == 3 and "is not a directory" in result.output
    _no_traceback(result.output)


def test_debug_shows_the_traceback(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "gridledger.toml").write_text("slot_minutes = 7\n")
    for args, env in (
        (["--debug", "config", "show"], {}),
        (["config", "show"], {"GRIDLEDGER_LOG_LEVEL": "debug"}),
    ):
        result = runner.invoke(main, args, env=env)
        assert result.exit_code == 3
        assert "Traceback (most recent call last)" in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("Error: ConfigError:")


def test_an_unexpected_error_is_internal(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("gridledger.market.SlotOrders.load", broken)
    (tmp_path / "slot.json").write_text("{}")
    result = runner.invoke(main, ["market", "clear", "--file", "slot.json"])
    assert result.exit_code == INTERNAL
    assert "internal error: RuntimeError: boom; re-run with --debug" in result.output
    _no_traceback(result.output)


def test_ctrl_c_says_what_was_completed(runner: CliRunner) -> None:
    @click.group(cls=type(main))
    def cli() -> None:
        pass

    @cli.command()
    def settle() -> None:
        with progress(96, "slots settled") as advance:
            advance(12)
            raise KeyboardInterrupt

    result = runner.invoke(cli, ["settle"])
    assert result.exit_code == 130
    assert "Interrupted: completed 12 of 96 slots settled" in result.stderr
    assert "re-running the same command resumes" in result.stderr
    _no_traceback(result.output)


def test_ctrl_c_in_a_real_command(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(path: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("gridledger.market.SlotOrders.load", interrupted)
    (tmp_path / "slot.json").write_text("{}")
    result = runner.invoke(main, ["market", "clear", "--file", "slot.json"])
    assert result.exit_code == 130 and "nothing was reported as completed" in result.stderr


def test_input_ending_at_a_prompt_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["keys", "new", "alice"], env={"GRIDLEDGER_PASSPHRASE": None})
    assert result.exit_code == 2
    assert "input ended at a prompt" in result.stderr and "GRIDLEDGER_PASSPHRASE" in result.stderr


def _log_lines(stderr: str) -> list[dict[str, str]]:
    lines = [line for line in stderr.splitlines() if line.startswith("ts=")]
    return [dict(part.split("=", 1) for part in shlex.split(line)) for line in lines]


def test_log_level_works_and_lines_are_structured(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "gridledger.toml").write_text('log_level = "DEBUG"\n')
    result = runner.invoke(main, ["config", "show", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["log_level"] == "DEBUG"  # stdout stays clean
    records = _log_lines(result.stderr)
    start = next(r for r in records if r["msg"] == "command starts")
    assert start["level"] == "DEBUG" and start["logger"] == "gridledger.cli"
    assert start["command"] == "config" and start["data_dir"] == str(tmp_path / "data")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", start["ts"])

    (tmp_path / "gridledger.toml").write_text('log_level = "WARNING"\n')
    quiet = runner.invoke(main, ["config", "show", "--json"])
    assert quiet.exit_code == 0 and _log_lines(quiet.stderr) == []
    # --debug wins over the setting
    loud = runner.invoke(main, ["--debug", "config", "show", "--json"])
    assert any(r["level"] == "DEBUG" for r in _log_lines(loud.stderr))


def test_progress_draws_a_bar_only_on_a_terminal() -> None:
    terminal = io.StringIO()
    with progress(5, "slots settled", console=Console(file=terminal, force_terminal=True)) as step:
        for _ in range(5):
            step(1)
    assert "slots settled" in terminal.getvalue() and "5/5" in terminal.getvalue()
    piped = io.StringIO()
    with progress(5, "slots settled", console=Console(file=piped)) as step:
        step(5)
        assert completed_summary() == "5 of 5 slots settled"
    assert piped.getvalue() == ""
    assert completed_summary() is None
    with progress(None, "readings stored", console=Console(file=piped)) as step:
        step(3)
        assert completed_summary() == "3 readings stored"


def test_help_works_with_broken_settings(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "gridledger.toml").write_bytes(b"\xff not toml")
    for args in (["--help"], ["keys", "new", "--help"], ["market", "clear", "--help"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0 and "Usage:" in result.output, (args, result.output)
    assert runner.invoke(main, ["keys", "list"]).exit_code == 3


@pytest.mark.parametrize(
    ("exc", "hint"),
    [
        (sqlite3.OperationalError("database is locked"), "another process holds the store"),
        (PermissionError(13, "Permission denied"), "check the permissions"),
        (OSError(28, "No space left on device"), "the disk is full"),
        (ConnectionRefusedError(111, "refused"), "that the service there is running"),
    ],
)
def test_foreign_errors_get_their_fix(exc: BaseException, hint: str) -> None:
    line = one_line(exc)
    assert hint in line and "\n" not in line
    assert one_line(ConfigError("bad\nvalue")) == "ConfigError: bad value"
