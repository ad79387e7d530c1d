from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.config import (
    MAX_CONFIG_BYTES,
    MAX_SIMULATION_HOURS,
    MAX_SIMULATION_HOUSEHOLDS,
    SETTINGS,
    load_config,
    parse_utc_time,
    validate_simulation,
)
from gridledger.errors import ConfigError, SlotError, ValidationError


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
        ('ledger_url = "ftp://x"\n', "must be 'embedded' or an http"),
        ("chain_id = 0\n", "must be 1 to"),
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


# --- complete validation on load ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "match"),
    [
        # what the commands refuse, refused when loading already
        ('region = "North Side"\n', "region name 'North Side' is not valid"),
        ("gate_closure_s = 90000\n", "0 to 86400"),
        ("retail_price_micro_per_kwh = 2000000000\n", "between 0 and 1000000000"),
        ("feed_in_price_micro_per_kwh = 400000\n", "above retail_price_micro_per_kwh"),
        ("chain_id = 9007199254740992\n", "1 to 9007199254740991"),
        ('log_level = "LOUD"\n', "not a log level"),
        ('telemetry_url = "mqtt://broker"\n', "mqtt://HOST:PORT"),
        ('telemetry_url = "mqtt://broker:99999"\n', "port 1 to 65535"),
        ('ledger_url = "http://"\n', "lacks a host"),
        ('ledger_url = "http://node:port"\n', "not a valid URL"),
        ('store_url = "sqlite://x.sqlite"\n', "not an SQLite URL"),
        ('store_url = "mysql://x"\n', "must be empty"),
        ('data_dir = ""\n', "must not be empty"),
        ('region = "a\\u0000b"\n', "NUL character"),
        ("slot_minutes = 15.0\n", "not a valid int"),
        ("slot_minutes = true\n", "not a valid int"),
        # unknown keys: the closest valid name
        ("slot_minute = 15\n", "did you mean 'slot_minutes'"),
        ("[gridledger]\nledger_ulr = 'embedded'\n", "did you mean 'ledger_url'"),
        # a mix of top-level keys and the table: the top-level ones would be ignored
        ('region = "north"\n[gridledger]\nslot_minutes = 30\n', "outside its \\[gridledger\\]"),
        ("[other]\nx = 1\n[gridledger]\nregion = 'north'\n", "outside its \\[gridledger\\]"),
        ('gridledger = "north"\n', "must be a \\[gridledger\\] table"),
    ],
)
def test_every_rule_is_checked_on_load(tmp_path: Path, content: str, match: str) -> None:
    file = tmp_path / "g.toml"
    file.write_text(content)
    with pytest.raises(ConfigError, match=match):
        load_config(file, environ={})


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        load_config(environ={"GRIDLEDGER_DATA_DIR": str(tmp_path / "afile")})
    with pytest.raises(ConfigError, match="keystore_dir"):
        load_config(environ={"GRIDLEDGER_KEYSTORE_DIR": str(tmp_path / "afile")})
    with pytest.raises(ConfigError, match="names a directory"):
        load_config(environ={"GRIDLEDGER_STORE_URL": f"sqlite:///{tmp_path}"})


def test_files_that_are_not_settings(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('region = "k\xf6ln"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text \\(byte 11\\); save it as UTF-8"):
        load_config(latin1, environ={})
    binary = tmp_path / "binary.toml"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary, environ={})
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError, match="larger than"):
        load_config(big, environ={})
    with pytest.raises(ConfigError, match="is not a file"):
        load_config(tmp_path, environ={})


def test_environment_values_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="GRIDLEDGER_REGION"):
        load_config(environ={"GRIDLEDGER_REGION": "\udcff"})  # a non-UTF-8 byte, as os gives it
    with pytest.raises(ConfigError, match="above retail"):
        load_config(environ={"GRIDLEDGER_RETAIL_PRICE_MICRO_PER_KWH": "1000"})
    cfg = load_config(environ={"GRIDLEDGER_LOG_LEVEL": "debug"})
    assert cfg["log_level"] == "DEBUG"


def test_a_table_alone_and_top_level_alone_both_work(tmp_path: Path) -> None:
    table = tmp_path / "t.toml"
    table.write_text('[gridledger]\nregion = "north"\n')
    top = tmp_path / "top.toml"
    top.write_text('region = "north"\n')
    assert load_config(table, environ={})["region"] == load_config(top, environ={})["region"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-21T10:00:00+00:00", datetime(2026, 6, 21, 10, tzinfo=UTC)),
        ("2026-06-21T12:00:00+02:00", datetime(2026, 6, 21, 10, tzinfo=UTC)),
        ("2026-06-21T10:00:00Z", datetime(2026, 6, 21, 10, tzinfo=UTC)),
        ("1782036000", datetime(2026, 6, 21, 10, tzinfo=UTC)),
    ],
)
def test_parse_utc_time(text: str, expected: datetime) -> None:
    assert parse_utc_time(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("2026-06-21T10:00:00", "has no UTC offset.*e.g. 2026-06-21T10:00:00\\+00:00"),
        ("2026-06-21", "has no UTC offset"),
        ("tomorrow", "is not a time.*e.g. 2026-06-21T10:00:00\\+00:00"),
        ("9999-12-31T23:00:00+00:00", "is outside 1970-01-01 to 2200-01-01"),
        ("-1", "is outside"),
        ("99999999999999999999", "too large"),
        ("\u00b2", "is not a time"),
    ],
)
def test_parse_utc_time_refuses(text: str, match: str) -> None:
    with pytest.raises(SlotError, match=match):
        parse_utc_time(text, "--start")


def test_validate_simulation() -> None:
    start = datetime(2026, 6, 21, tzinfo=UTC)
    validate_simulation(40, 24, start)
    for households, hours, message in (
        (0, 24, "--households must be 1 to"),
        (-1, 24, "--households"),
        (MAX_SIMULATION_HOUSEHOLDS + 1, 24, "--households"),
        (40, 0, "--hours must be 1 to"),
        (40, MAX_SIMULATION_HOURS + 1, "--hours"),
    ):
        with pytest.raises(ValidationError, match=message):
            validate_simulation(households, hours, start)
    with pytest.raises(SlotError, match="does not fit"):
        validate_simulation(1, 48, datetime(2199, 12, 31, tzinfo=UTC))
    with pytest.raises(SlotError, match="no UTC offset"):
        validate_simulation(1, 1, datetime(2026, 1, 1))


def test_the_documented_example_file_loads(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
    example = docs.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    file = tmp_path / "gridledger.toml"
    file.write_text(example)
    cfg = load_config(file, environ={})
    assert cfg["region"] == "north" and cfg.sources["region"] == str(file)


_VALUES = {
    "slot_minutes": st.integers(-5, 100),
    "gate_closure_s": st.integers(-10, 200_000),
    "chain_id": st.integers(-1, 2**64),
    "retail_price_micro_per_kwh": st.integers(-1, 2 * 10**9),
    "feed_in_price_micro_per_kwh": st.integers(-1, 2 * 10**9),
    "grid_fee_micro_per_kwh": st.integers(-1, 2 * 10**9),
    "region": st.text(max_size=40) | st.sampled_from(["north", "a-b_1", "x" * 32, "x" * 33]),
    "store_url": st.sampled_from(["", "sqlite:///a.sqlite", "sqlite://", "sqlite:///", "pg://x"]),
}


@settings(max_examples=300, deadline=None)
@given(
    values=st.fixed_dictionaries({}, optional=_VALUES),
    rule=st.sampled_from(["pay_as_clear", "pay_as_bid"]),
)
def test_what_config_accepts_the_commands_accept(values: dict[str, object], rule: str) -> None:
    """The rules checked on load are those the commands apply: accepted settings build."""
    from gridledger.identity import Domain, region_id
    from gridledger.market import RuleSet
    from gridledger.store.sqlite import sqlite_path

    with tempfile.TemporaryDirectory() as directory:
        empty = Path(directory, "empty.toml")  # no settings file of the working directory
        empty.touch()
        try:
            cfg = load_config(empty, environ={}, overrides=values)
        except ConfigError:
            return
    RuleSet.from_config(cfg, clearing_rule=rule)  # slot grid, gate closure, tariff
    region_id(cfg["region"])
    Domain(cfg["chain_id"])
    if cfg.store_location.startswith("sqlite"):
        sqlite_path(cfg.store_location)
