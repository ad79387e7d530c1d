"""Settings declared as data, read from a TOML file and environment variables, checked on load.

Every setting is a :class:`Setting` in :data:`SETTINGS` with its name, default, help text,
environment variable and check. Precedence, lowest first: the default, the TOML file, the
environment, explicit overrides. The TOML file is ``gridledger.toml`` in the working directory, or
the path in ``GRIDLEDGER_CONFIG``; its keys are the setting names either all at top level or all
under one ``[gridledger]`` table (a mix is refused: the top-level keys would be ignored).

Settings are validated completely when loaded, with the rules the commands apply later (slot
length, gate closure, region names, prices and the feed-in <= retail rule of the grid tariff,
URL forms, directories), so ``gridledger config show`` refuses what a command would refuse. An
unknown key is refused with the closest valid name; a file that is not UTF-8, not TOML or larger
than :data:`MAX_CONFIG_BYTES` is refused with what to fix.

The module also holds the checks of command-line values that several commands share and that
belong to no library object: times (:func:`parse_utc_time`: an ISO 8601 time *with* its UTC
offset, or Unix seconds) and the span of a simulation (:func:`validate_simulation`).
``docs/settings.md`` documents every setting; a test fails when one is missing there.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gridledger.errors import ConfigError, SlotError, ValidationError
from gridledger.identity import region_id
from gridledger.slots import validate_slot_minutes
from gridledger.units import validate_price_micro_per_kwh

CONFIG_ENV = "GRIDLEDGER_CONFIG"
DEFAULT_CONFIG_FILE = "gridledger.toml"
#: Largest settings file read [bytes]; a settings file is a few hundred bytes.
MAX_CONFIG_BYTES = 1 << 20
#: Largest chain id (2**53-1): wallets carry the chain id as a JavaScript number.
MAX_CHAIN_ID = 2**53 - 1
#: Largest gate closure lead time [s], as :class:`~gridledger.slots.SlotClock` allows.
MAX_GATE_CLOSURE_S = 24 * 3600
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: An example of a time in the form every command accepts.
TIME_EXAMPLE = "2026-06-21T10:00:00+00:00"
#: Earliest and latest accepted times: Unix time is unsigned, and solar geometry, load profiles
#: and pandas timestamps are all valid well inside this range.
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2200, 1, 1, tzinfo=UTC)
#: Most households per region and hours a simulation takes (one leap year).
MAX_SIMULATION_HOUSEHOLDS = 10_000
MAX_SIMULATION_HOURS = 366 * 24


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
                value = raw.upper() if self.name == "log_level" else raw
        except ValueError:
            raise ConfigError(
                f"setting {self.name} from {source}: {raw!r} is not a valid {kind.__name__}"
            ) from None
        if isinstance(value, str) and not _is_text(value):
            raise ConfigError(
                f"setting {self.name} from {source}: {value!r} has a NUL character or is not "
                "valid UTF-8 text; give plain text"
            )
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as exc:
                raise ConfigError(f"setting {self.name} from {source}: {exc}") from None
        return value


def _is_text(value: str) -> bool:
    if "\0" in value:
        return False
    try:
        value.encode("utf-8")  # surrogates from an environment value that is not UTF-8
    except UnicodeEncodeError:
        return False
    return True


def _chain_id(value: Any) -> None:
    if not 0 < value <= MAX_CHAIN_ID:
        raise ValueError(
            f"must be 1 to {MAX_CHAIN_ID} (2**53-1, the largest id wallets handle), got {value}"
        )


def _gate_closure(value: Any) -> None:
    # the same range SlotClock enforces when a market is built from the settings
    if not 0 <= value <= MAX_GATE_CLOSURE_S:
        raise ValueError(f"must be 0 to {MAX_GATE_CLOSURE_S} s (one day), got {value}")


def _price(value: Any) -> None:
    validate_price_micro_per_kwh(value, "price")


def _region(value: Any) -> None:
    region_id(value)


def _directory(value: Any) -> None:
    if not value:
        raise ValueError("must not be empty; use '.' for the working directory")
    path = Path(value)
    try:
        not_a_directory = path.exists() and not path.is_dir()
    except OSError as exc:  # a name too long, a loop of links
        raise ValueError(f"{value!r} cannot be used as a directory: {exc.strerror}") from None
    if not_a_directory:
        raise ValueError(f"{value!r} exists and is not a directory; name a directory")


def _optional_directory(value: Any) -> None:
    if value:
        _directory(value)


def _store_url(value: Any) -> None:
    if value == "":
        return
    if value.startswith("sqlite:"):
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise ValueError(
                f"{value!r} is not an SQLite URL; use sqlite:///relative/path.sqlite or "
                "sqlite:////absolute/path.sqlite"
            )
        path = Path(value.removeprefix("sqlite:///"))
        try:
            is_dir = path.is_dir()
        except OSError as exc:
            raise ValueError(f"{value!r} cannot be used as a file: {exc.strerror}") from None
        if value != "sqlite:///:memory:" and is_dir:
            raise ValueError(f"{value!r} names a directory; name the SQLite file")
        return
    if value.startswith(("postgresql://", "postgres://")):
        _host_port(value, "postgresql://USER@HOST:PORT/DB", need_port=False)
        return
    raise ValueError(
        f"{value!r} must be empty (SQLite in data_dir), sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DB"
    )


def _host_port(value: str, form: str, *, need_port: bool) -> None:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid URL ({exc}); use {form}") from None
    if not parts.hostname or (need_port and port is None):
        raise ValueError(
            f"{value!r} lacks a {'host and port' if need_port else 'host'}; use {form}"
        )


def _ledger_url(value: Any) -> None:
    if value == "embedded":
        return
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} must be 'embedded' or an http(s)://HOST:PORT node URL")
    _host_port(value, "http://HOST:PORT", need_port=False)


def _telemetry_url(value: Any) -> None:
    if value.startswith("memory://"):
        return
    if not value.startswith("mqtt://"):
        raise ValueError(f"{value!r} must be memory:// (in process) or mqtt://HOST:PORT")
    # the same form open_transport accepts: mqtt://HOST:PORT, nothing after the port
    host, _, port = value.removeprefix("mqtt://").rstrip("/").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} must be mqtt://HOST:PORT with a port 1 to 65535")


def _log_level(value: Any) -> None:
    if value not in LOG_LEVELS:
        raise ValueError(f"{value!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        "var",
        "Directory for the store, the embedded chain and keys.",
        _directory,
    ),
    Setting(
        "store_url",
        "",
        "Store location: sqlite:///PATH or postgresql://USER@HOST/DB; empty = SQLite in data_dir.",
        _store_url,
    ),
    Setting(
        "ledger_url",
        "embedded",
        "Ledger backend: 'embedded' (py-evm in process) or the http(s) URL of a JSON-RPC node.",
        _ledger_url,
    ),
    Setting(
        "telemetry_url",
        "memory://",
        "Telemetry transport: memory:// (in process) or mqtt://HOST:PORT for a broker.",
        _telemetry_url,
    ),
    Setting(
        "chain_id",
        1337,
        "EVM chain id, 1 to 2**53-1; part of every EIP-712 signature.",
        _chain_id,
    ),
    Setting(
        "region",
        "central",
        "Default region of this node or household: 1-32 of a-z, 0-9, '-', '_'.",
        _region,
    ),
    Setting(
        "slot_minutes",
        15,
        "Delivery slot length [min]: 5 to 60, dividing the hour.",
        validate_slot_minutes,
    ),
    Setting(
        "gate_closure_s",
        60,
        "Gate closure lead time before a slot starts [s]: 0 to 86400.",
        _gate_closure,
    ),
    Setting(
        "keystore_dir",
        "",
        "Directory of encrypted key files; empty = data_dir/keys.",
        _optional_directory,
    ),
    Setting(
        "retail_price_micro_per_kwh",
        300_000,
        "Grid retail tariff [micro-units/kWh]: price of unmatched demand; 0 to 10**9.",
        _price,
    ),
    Setting(
        "feed_in_price_micro_per_kwh",
        80_000,
        "Grid feed-in tariff [micro-units/kWh]: price of unmatched supply; 0 to the retail price.",
        _price,
    ),
    Setting(
        "grid_fee_micro_per_kwh",
        20_000,
        "Network fee [micro-units/kWh] added for buyers of market trades; 0 to 10**9.",
        _price,
    ),
    Setting(
        "log_level",
        "INFO",
        "Logging level of the key=value lines on stderr: DEBUG, INFO, WARNING or ERROR.",
        _log_level,
    ),
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


def _read_file(file: Path) -> dict[str, Any]:
    """The settings table of ``file``: its ``[gridledger]`` table or its top-level keys."""
    try:
        with file.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {file} is larger than {MAX_CONFIG_BYTES} bytes; is it the right file?"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {file} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read config file {file}: not TOML: {exc}") from None
    if "gridledger" not in data:
        return data
    section = data["gridledger"]
    if not isinstance(section, dict):
        raise ConfigError(f"config file {file}: gridledger must be a [gridledger] table")
    others = sorted(k for k in data if k != "gridledger")
    if others:
        raise ConfigError(
            f"config file {file} has keys outside its [gridledger] table ({', '.join(others)}), "
            "which would be ignored; move them under [gridledger] or drop the table header"
        )
    return dict(section)


def _unknown(name: str, source: str) -> ConfigError:
    close = difflib.get_close_matches(name, _BY_NAME, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(_BY_NAME)}"
    return ConfigError(f"{source}: unknown setting {name!r}; {hint}")


def _check_together(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Rules between settings (each one alone is checked by its :class:`Setting`)."""
    retail, feed_in = values["retail_price_micro_per_kwh"], values["feed_in_price_micro_per_kwh"]
    if feed_in > retail:  # the grid tariff's own rule (market.tariff.GridTariff)
        raise ConfigError(
            f"feed_in_price_micro_per_kwh {feed_in} (from {sources['feed_in_price_micro_per_kwh']})"
            f" is above retail_price_micro_per_kwh {retail} (from "
            f"{sources['retail_price_micro_per_kwh']}); the grid would buy dearer than it sells"
        )


def load_config(
    path: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read and check the effective settings: defaults < TOML file < environment < ``overrides``.

    Raises :class:`ConfigError` naming the setting, where its value came from, and the fix.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}

    file = Path(path) if path is not None else Path(env.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
    explicit = path is not None or CONFIG_ENV in env
    if file.exists() or explicit:
        if not file.exists():
            raise ConfigError(f"config file {file} does not exist; check --config or {CONFIG_ENV}")
        if not file.is_file():
            raise ConfigError(f"config file {file} is not a file; name a TOML file")
        for key, raw in _read_file(file).items():
            if key not in _BY_NAME:
                raise _unknown(key, f"config file {file}")
            values[key] = _BY_NAME[key].parse(raw, str(file))
            sources[key] = str(file)

    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = setting.parse(env[setting.env], setting.env)
            sources[setting.name] = setting.env
    for key, raw in (overrides or {}).items():
        if key not in _BY_NAME:
            raise _unknown(key, "override")
        values[key] = _BY_NAME[key].parse(raw, "override")
        sources[key] = "override"
    _check_together(values, sources)
    return Config(values, sources)


# --- command-line values several commands share -------------------------------------------------


def parse_utc_time(text: str, title: str = "time", *, allow_unix: bool = True) -> datetime:
    """An ISO 8601 time with its UTC offset (or, if ``allow_unix``, Unix seconds), as UTC.

    Raises :class:`SlotError` (a :class:`ValidationError`) with an example of the right form for
    a time without an offset, text that is not a time, or a time outside
    [:data:`MIN_TIME`, :data:`MAX_TIME`).
    """
    text = text.strip()
    if allow_unix and text.lstrip("-").isascii() and text.lstrip("-").isdigit():
        if len(text) > 12:
            raise SlotError(f"{title} {text!r} is too large for Unix seconds")
        ts = MIN_TIME + timedelta(seconds=int(text))
    else:
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            forms = "an ISO 8601 time with its UTC offset" + (
                " or Unix seconds" if allow_unix else ""
            )
            raise SlotError(
                f"{title} {text[:64]!r} is not a time; give {forms}, e.g. {TIME_EXAMPLE}"
            ) from None
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise SlotError(
                f"{title} {text[:64]!r} has no UTC offset, so it is ambiguous; add one, e.g. "
                f"{TIME_EXAMPLE} (or ...Z for UTC)"
            )
        ts = ts.astimezone(UTC)
    if not MIN_TIME <= ts < MAX_TIME:
        raise SlotError(
            f"{title} {ts.isoformat()} is outside {MIN_TIME:%Y-%m-%d} to {MAX_TIME:%Y-%m-%d}"
        )
    return ts


def validate_simulation(households: int, hours: int, start: datetime) -> None:
    """Check the span of a simulation: households per region, hours [h] and its start (UTC).

    ``simulate`` calls it before it builds anything; raises :class:`ValidationError`.
    """
    if isinstance(households, bool) or not 1 <= households <= MAX_SIMULATION_HOUSEHOLDS:
        raise ValidationError(
            f"--households must be 1 to {MAX_SIMULATION_HOUSEHOLDS} per region, got {households}"
        )
    if isinstance(hours, bool) or not 1 <= hours <= MAX_SIMULATION_HOURS:
        raise ValidationError(f"--hours must be 1 to {MAX_SIMULATION_HOURS}, got {hours}")
    if start.tzinfo is None:
        raise SlotError(f"--start has no UTC offset; give one, e.g. {TIME_EXAMPLE}")
    # compare before adding: a start near year 9999 plus the hours would overflow
    if not (start >= MIN_TIME and start <= MAX_TIME - timedelta(hours=hours)):
        raise SlotError(
            f"the simulation from {start.isoformat()} for {hours} h does not fit between "
            f"{MIN_TIME:%Y-%m-%d} and {MAX_TIME:%Y-%m-%d}"
        )
