from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from gridledger.cli import main


def test_ingest_command_needs_a_broker(tmp_path: Path) -> None:
    config = tmp_path / "gridledger.toml"
    config.write_text('telemetry_url = "memory://"\n')
    result = CliRunner().invoke(main, ["--config", str(config), "ingest"])
    assert result.exit_code == 3  # ConfigError
    assert "mqtt://HOST:PORT" in result.output


def test_ingest_command_reports_an_unreachable_broker(tmp_path: Path) -> None:
    from mqtt_broker import free_port

    config = tmp_path / "gridledger.toml"
    config.write_text(
        f'telemetry_url = "mqtt://127.0.0.1:{free_port()}"\n'
        f'store_url = "sqlite:///{tmp_path / "s.sqlite"}"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(config), "ingest"])
    assert result.exit_code == 10  # TelemetryError
    assert "TelemetryError" in result.output and "cannot connect" in result.output
