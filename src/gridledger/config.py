"""Settings declared as data, read from a TOML file and environment variables.

Every setting is a :class:`Setting` in :data:`SETTINGS` with its name, default, help text and
environment variable. Precedence, lowest first: the default, the TOML file, the environment,
explicit overrides. The TOML file is ``gridledger.toml`` in the working directory, or the path in
``GRIDLEDGER_CONFIG``; its keys are the setting names at top level or under ``[gridledger]``.
``docs/settings.md`` documents every setting; a test fails when one is missing there.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridledger.errors import ConfigError
from gridledger.slots import validate_slot_minutes

CONFIG_ENV = "GRIDLEDGER_CONFIG"
DEFAULT_CONFIG_FILE = "gridledger.toml"


@dataclass(frozen=True)
class Setting:
    """One setting: name, default value (its type is the setting's type), help, env variable."""

    name: str
    default: str | int | bool
    help: str
    check: Callable[[Any], object] | None = None

    @property
    def env(self) -> str:
        return "GRIDLEDGER_" + self.name.upper()

    def parse(self, raw: object, source: str) -> str | int | bool:
        """Convert ``raw`` (from TOML or the environment) to the setting's type and check it."""
        kind = type(self.default)
        try:
            if kind is bool:
                if isinstance(raw, bool):
                    value: str | int | bool = raw
                elif isinstance(raw, str) and raw.lower() in ("1", "true", "yes", "on"):
                    value = True
                elif isinstance(raw, str) and raw.lower() in ("0", "false", "no", "off"):
                    value = False
                else:
                    raise ValueError(raw)
            elif kind is int:
                if isinstance(raw, bool) or not isinstance(raw, int | str):
                    raise ValueError(raw)
                value = int(raw)
            else:
                if not isinstance(raw, str):
                    raise ValueError(raw)
                value = raw
        except ValueError:
            raise ConfigError(
                f"setting {self.name} from {source}: {raw!r} is not a valid {kind.__name__}"
            ) from None
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as exc:
                raise ConfigError(f"setting {self.name} from {source}: {exc}") from None
        return value


def _positive(value: Any) -> None:
    if value <= 0:
        raise ValueError(f"must be > 0, got {value}")


def _non_negative(value: Any) -> None:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")


def _url_scheme(*schemes: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not any(value == s or value.startswith(s) for s in schemes):
            raise ValueError(f"{value!r} must start with one of {', '.join(schemes)}")

    return check


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "var", "Directory for the store, the embedded chain and keys."),
    Setting(
        "store_url",
        "",
        "Store location: sqlite:///PATH or postgresql://USER@HOST/DB; empty = SQLite in data_dir.",
        _url_scheme("", "sqlite://", "postgresql://", "postgres://"),
    ),
    Setting(
        "ledger_url",
        "embedded",
        "Ledger backend: 'embedded' (py-evm in process) or the http(s) URL of a JSON-RPC node.",
        _url_scheme("embedded", "http://", "https://"),
    ),
    Setting(
        "telemetry_url",
        "memory://",
        "Telemetry transport: memory:// (in process) or mqtt://HOST:PORT for a broker.",
        _url_scheme("memory://", "mqtt://"),
    ),
    Setting("chain_id", 1337, "EVM chain id; part of every EIP-712 signature.", _positive),
    Setting("region", "central", "Default region of this node or household."),
    Setting(
        "slot_minutes",
        15,
        "Delivery slot length [min]: 5 to 60, dividing the hour.",
        validate_slot_minutes,
    ),
    Setting(
        "gate_closure_s", 60, "Gate closure lead time before a slot starts [s].", _non_negative
    ),
    Setting("keystore_dir", "", "Directory of encrypted key files; empty = data_dir/keys."),
    Setting(
        "retail_price_micro_per_kwh",
        300_000,
        "Grid retail tariff [micro-units/kWh]: price of unmatched demand.",
        _non_negative,
    ),
    Setting(
        "feed_in_price_micro_per_kwh",
        80_000,
        "Grid feed-in tariff [micro-units/kWh]: price of unmatched supply.",
        _non_negative,
    ),
    Setting(
        "grid_fee_micro_per_kwh",
        20_000,
        "Network fee [micro-units/kWh] added for buyers of market trades.",
        _non_negative,
    ),
    Setting("log_level", "INFO", "Logging level: DEBUG, INFO, WARNING or ERROR."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Config(Mapping[str, Any]):
    """The effective settings, with where each value came from."""

    def __init__(self, values: dict[str, Any], sources: dict[str, str]) -> None:
        self._values = values
        self.sources = sources

    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise ConfigError(f"unknown setting {name!r}; known: {', '.join(_BY_NAME)}") from None

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def data_path(self) -> Path:
        return Path(self["data_dir"])

    @property
    def keystore_path(self) -> Path:
        return Path(self["keystore_dir"]) if self["keystore_dir"] else self.data_path / "keys"

    @property
    def store_location(self) -> str:
        """The store URL, defaulting to an SQLite file in the data directory."""
        url: str = self["store_url"]
        return url or f"sqlite:///{self.data_path / 'gridledger.sqlite'}"


def load_config(
    path: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read the effective settings: defaults < TOML file < environment < ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}

    file = Path(path) if path is not None else Path(env.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
    explicit = path is not None or CONFIG_ENV in env
    if file.is_file():
        try:
            data = tomllib.loads(file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {file}: {exc}") from exc
        section = data.get("gridledger", data)
        if not isinstance(section, dict):
            raise ConfigError(f"config file {file}: [gridledger] must be a table")
        for key, raw in section.items():
            if key not in _BY_NAME:
                raise ConfigError(
                    f"config file {file}: unknown setting {key!r}; see `gridledger config show`"
                )
            values[key] = _BY_NAME[key].parse(raw, str(file))
            sources[key] = str(file)
    elif explicit:
        raise ConfigError(f"config file {file} does not exist")

    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = setting.parse(env[setting.env], setting.env)
            sources[setting.name] = setting.env
    for key, raw in (overrides or {}).items():
        if key not in _BY_NAME:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(_BY_NAME)}")
        values[key] = _BY_NAME[key].parse(raw, "override")
        sources[key] = "override"
    return Config(values, sources)
