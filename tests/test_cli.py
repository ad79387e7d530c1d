from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridledger.cli import main


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRIDLEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GRIDLEDGER_PASSPHRASE", "test passphrase")
    # keep key derivation cheap in tests; the real default is scrypt
    monkeypatch.setattr("gridledger.cli.group.KDF_ITERATIONS", 2)
    return CliRunner()


def test_help_lists_commands(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("simulate", "keys", "config"):
        assert name in result.output


def test_keys_new_show_list(runner: CliRunner, tmp_path: Path) -> None:
    created = runner.invoke(main, ["keys", "new", "alice"])
    assert created.exit_code == 0, created.output
    name, address = created.output.split()
    assert name == "alice" and address.startswith("0x") and len(address) == 42
    shown = runner.invoke(main, ["keys", "show", "alice"])
    assert shown.output.strip() == address
    listed = runner.invoke(main, ["keys", "list"])
    assert listed.output.strip() == f"alice {address}"
    assert (tmp_path / "data" / "keys" / "alice.json").exists()


def test_keys_errors_are_one_line_messages(runner: CliRunner) -> None:
    runner.invoke(main, ["keys", "new", "bob"])
    again = runner.invoke(main, ["keys", "new", "bob"])
    assert again.exit_code == 5  # KeystoreError
    assert "KeystoreError" in again.output and "exists already" in again.output
    missing = runner.invoke(main, ["keys", "show", "nobody"])
    assert missing.exit_code == 5 and "gridledger keys new" in missing.output


def test_keys_list_empty(runner: CliRunner) -> None:
    result = runner.invoke(main, ["keys", "list"])
    assert result.exit_code == 0 and "no keys" in result.output


def test_config_show(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "gridledger.toml").write_text('region = "north"\n')
    result = runner.invoke(main, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    values = json.loads(result.output)
    assert values["region"] == "north"
    assert values["data_dir"] == str(tmp_path / "data")
    table = runner.invoke(main, ["config", "show"])
    assert "gridledger.toml" in table.output and "GRIDLEDGER_DATA_DIR" in table.output


def test_bad_config_is_reported(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "gridledger.toml").write_text("slot_minutes = 7\n")
    result = runner.invoke(main, ["config", "show"])
    assert result.exit_code == 3  # ConfigError
    assert "ConfigError" in result.output and "dividing the hour" in result.output
