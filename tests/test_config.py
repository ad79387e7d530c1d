from __future__ import annotations

from pathlib import Path

import pytest

from gridledger.config import SETTINGS, load_config
from gridledger.errors import ConfigError


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(environ={})
    for setting in SETTINGS:
        assert cfg[setting.name] == setting.default
        assert cfg.sources[setting.name] == "default"
    assert cfg.store_location == "sqlite:///var/gridledger.sqlite"
    assert cfg.keystore_path == Path("var/keys")


def test_precedence_file_then_env_then_override(tmp_path: Path) -> None:
    file = tmp_path / "g.toml"
    file.write_text('[gridledger]\nregion = "north"\nslot_minutes = 30\nchain_id = 7\n')
    env = {"GRIDLEDGER_SLOT_MINUTES": "5", "GRIDLEDGER_CONFIG": str(file)}
    cfg = load_config(environ=env, overrides={"chain_id": 9})
    assert cfg["region"] == "north" and cfg.sources["region"] == str(file)
    assert cfg["slot_minutes"] == 5 and cfg.sources["slot_minutes"] == "GRIDLEDGER_SLOT_MINUTES"
    assert cfg["chain_id"] == 9 and cfg.sources["chain_id"] == "override"


def test_top_level_keys_and_bool_parsing(tmp_path: Path) -> None:
    file = tmp_path / "g.toml"
    file.write_text('ledger_url = "http://127.0.0.1:8545"\n')
    cfg = load_config(file, environ={})
    assert cfg["ledger_url"] == "http://127.0.0.1:8545"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("nonsense = 1\n", "unknown setting 'nonsense'"),
        ("slot_minutes = 7\n", "dividing the hour"),
        ('slot_minutes = "x"\n', "not a valid int"),
        ('ledger_url = "ftp://x"\n', "must start with"),
        ("chain_id = 0\n", "must be > 0"),
        ("this is not toml", "cannot read config file"),
    ],
)
def test_bad_files(tmp_path: Path, content: str, match: str) -> None:
    file = tmp_path / "g.toml"
    file.write_text(content)
    with pytest.raises(ConfigError, match=match):
        load_config(file, environ={})


def test_bad_env_and_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="GRIDLEDGER_CHAIN_ID"):
        load_config(environ={"GRIDLEDGER_CHAIN_ID": "abc"})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.toml", environ={})
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(environ={}, overrides={"bogus": 1})
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(environ={})["bogus"]
