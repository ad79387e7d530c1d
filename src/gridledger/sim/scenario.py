"""A city scenario from a TOML file: place (with holidays) and time, the weather, regions and
their households (load profile families, EV sessions), companies, tariffs, the clearing rule,
strategies and the seed.

:func:`load_scenario` reads and validates a file once, at the edge: every problem raises
:class:`~gridledger.errors.ScenarioError` naming the field (``regions[1].battery.share``) and the
fix; a weather file is read once here to check it covers the period. docs/scenario.md documents
every field. :func:`~gridledger.sim.households.region_households` turns one region's
distributions and explicit homes into numpy columns (one entry per household), seeded per
(scenario seed, region, field); :mod:`gridledger.sim.field_profiles` turns them into profiles.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from gridledger.control.strategy import STRATEGY_NAMES
from gridledger.errors import ScenarioError
from gridledger.market.rules import CLEARING_RULE_NAMES
from gridledger.sim.distributions import Distribution
from gridledger.sim.scenario_fields import read_dates as _dates
from gridledger.sim.scenario_fields import read_dist as _dist
from gridledger.sim.scenario_fields import read_float as _float
from gridledger.sim.scenario_fields import read_int as _int
from gridledger.sim.scenario_fields import read_list as _list
from gridledger.sim.scenario_fields import read_str as _str
from gridledger.sim.scenario_fields import read_table as _table
from gridledger.sim.scenario_fields import read_time as _time
from gridledger.slots import validate_slot_minutes

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: The constant-load profile; every other profile name is a demandlib family of
#: :data:`gridledger.sim.load.FAMILIES` (lower case; ``H0`` is read as ``h0``).
FLAT_PROFILE = "flat"
DEFAULT_LOAD_FAMILY = "h0_dyn"
WEATHER_SOURCES = ("stochastic", "file")
WEATHER_FORMATS = ("epw", "tmy3", "csv")
#: How far [deg of latitude or longitude] a region may lie from a weather file's own site.
WEATHER_SITE_TOLERANCE_DEG = 2.0


def load_families() -> tuple[str, ...]:
    """The demandlib load profile families a scenario may name (imported on first use: demandlib
    is heavy and only the profile sources need it)."""
    from gridledger.sim.load import FAMILIES

    return FAMILIES


@dataclass(frozen=True)
class TimeOfUse:
    """Retail price ``retail_micro_per_kwh`` from local hour ``from_hour`` up to ``to_hour``
    (wrapping past midnight when ``to_hour <= from_hour``)."""

    from_hour: int
    to_hour: int
    retail_micro_per_kwh: int

    def covers(self, hour: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        if self.from_hour < self.to_hour:
            return (hour >= self.from_hour) & (hour < self.to_hour)
        return (hour >= self.from_hour) | (hour < self.to_hour)


@dataclass(frozen=True)
class Tariffs:
    """The grid's prices [micro-units/kWh]: retail (with time-of-use windows), feed-in and the
    network fee a market buyer pays on top of each trade."""

    retail_micro_per_kwh: int = 300_000
    feed_in_micro_per_kwh: int = 80_000
    network_fee_micro_per_kwh: int = 20_000
    time_of_use: tuple[TimeOfUse, ...] = ()

    def retail_at(self, local_hour: npt.NDArray[np.int64]) -> I64:
        """Retail price per slot [micro-units/kWh] for the slots' local hours."""
        out = np.full(len(local_hour), self.retail_micro_per_kwh, np.int64)
        for window in self.time_of_use:
            out[window.covers(local_hour)] = window.retail_micro_per_kwh
        return out


@dataclass(frozen=True)
class CompanySpec:
    """A registered energy company buying in ``region``: ``capacity_wh`` [Wh] per slot at
    ``price_micro_per_kwh`` [micro-units/kWh, network fee included, like every bid]."""

    name: str
    region: str
    price_micro_per_kwh: int
    capacity_wh: int


@dataclass(frozen=True)
class StrategyShare:
    """A share [0..1] of a region's households trading with ``strategy``; ``margin`` [fraction
    of the retail/feed-in spread] for the price-based strategy."""

    strategy: str
    share: float
    margin: Distribution


@dataclass(frozen=True)
class Home:
    """``count`` explicit, identical households; a None field takes the region's distribution.

    ``load_file`` / ``pv_file`` replay a profile: CSV or Parquet with an ``energy_wh`` column, one
    row per slot from the scenario start.
    """

    count: int
    pv_kwp: float | None
    tilt_deg: float | None
    azimuth_deg: float | None
    battery_kwh: float | None
    battery_kw: float | None
    annual_kwh: float | None
    load_w: float | None
    strategy: str | None
    load_file: Path | None
    pv_file: Path | None
    profile: str | None = None


@dataclass(frozen=True)
class WeatherSpec:
    """Where a scenario's weather comes from: ``stochastic`` (pvlib's clear sky x a seeded cloud
    process per region) or ``file`` (``path`` in ``format`` epw, tmy3 or csv; None: from the
    extension), read with :func:`gridledger.sim.weather.read_weather_file`."""

    source: str = "stochastic"
    path: Path | None = None
    format: str | None = None


@dataclass(frozen=True)
class RegionSpec:
    """One region: its place and its households (generated from distributions, then ``homes``)."""

    name: str
    lat_deg: float
    lon_deg: float
    households: int
    pv_share: float
    pv_kwp: Distribution
    tilt_deg: Distribution
    azimuth_deg: Distribution
    battery_share: float
    battery_kwh: Distribution
    battery_c_rate: float
    efficiency: float
    initial_soc: float
    reserve_soc: float
    load_profile: str
    annual_kwh: Distribution
    load_w: float
    ev_share: float
    ev_kwh_per_day: Distribution
    ev_power_kw: float
    strategies: tuple[StrategyShare, ...]
    homes: tuple[Home, ...]
    altitude_m: float = 0.0
    load_families: tuple[str, ...] = (DEFAULT_LOAD_FAMILY,)
    load_family_weights: tuple[float, ...] = ()
    load_slot_sigma: float = 0.3
    load_day_sigma: float = 0.15
    ev_plug_probability: float = 0.8
    ev_usable_kwh: float = 50.0
    ev_arrival_hour: float = 18.0
    ev_departure_hour: float = 7.5

    @property
    def total_households(self) -> int:
        return self.households + sum(h.count for h in self.homes)


@dataclass(frozen=True)
class Scenario:
    """A whole city scenario (see docs/scenario.md). Times are UTC; ``end`` is exclusive."""

    name: str
    seed: int
    timezone: str
    start: datetime
    end: datetime
    slot_minutes: int
    clearing_rule: str
    tariffs: Tariffs
    companies: tuple[CompanySpec, ...]
    regions: tuple[RegionSpec, ...]
    holidays: tuple[date, ...] = ()
    weather: WeatherSpec = WeatherSpec()

    @property
    def slots(self) -> int:
        return int((self.end - self.start).total_seconds()) // (self.slot_minutes * 60)

    @property
    def households(self) -> int:
        return sum(r.total_households for r in self.regions)

    def company_of(self, region: str) -> CompanySpec | None:
        return next((c for c in self.companies if c.region == region), None)


_TOP = ("name", "seed", "place", "time", "market", "tariff", "companies", "regions", "weather")
_PLACE = ("lat", "lon", "timezone", "altitude_m", "holidays")


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate the scenario file ``path`` (TOML)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ScenarioError(
            f"scenario file {path} not found; pass the path of a .toml file"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path} is not valid TOML: {exc}") from None
    return parse_scenario(data, path.parent)


def parse_scenario(data: Mapping[str, Any], base_dir: Path | str = ".") -> Scenario:
    """Validate a scenario given as the parsed TOML tables; relative files are under
    ``base_dir``."""
    base = Path(base_dir)
    top = _table(data, "scenario", _TOP)
    name = _str(top, "name", "scenario", "scenario")
    seed = _int(top, "seed", "scenario", 1)
    place = _table(top.get("place", {}), "place", _PLACE)
    lat = _float(place, "lat", "place", 48.14, -90, 90)
    lon = _float(place, "lon", "place", 11.58, -180, 180)
    altitude = _float(place, "altitude_m", "place", 0.0, -500, 9000)
    tz_name = _str(place, "timezone", "place", "UTC")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScenarioError(
            f"place.timezone: unknown time zone {tz_name!r}; use an IANA name like 'Europe/Berlin'"
        ) from None
    when = _table(top.get("time", {}), "time", ("start", "days", "end", "slot_minutes"))
    start = _time(when.get("start", "2026-06-01"), "time.start", tz)
    if "end" in when and "days" in when:
        raise ScenarioError("time: give either time.end or time.days, not both")
    if "end" in when:
        end = _time(when["end"], "time.end", tz)
    else:
        end = start + timedelta(days=_int(when, "days", "time", 1, low=1))
    try:
        slot_minutes = validate_slot_minutes(when.get("slot_minutes", 15))
    except ValueError as exc:
        raise ScenarioError(f"time.slot_minutes: {exc}") from None
    if end <= start:
        raise ScenarioError("time.end must be after time.start")
    if int(start.timestamp()) % (slot_minutes * 60):
        raise ScenarioError(f"time.start must fall on a {slot_minutes}-minute slot boundary")
    market = _table(top.get("market", {}), "market", ("clearing_rule",))
    rule = _str(market, "clearing_rule", "market", "pay_as_clear")
    if rule not in CLEARING_RULE_NAMES:
        raise ScenarioError(
            f"market.clearing_rule: unknown rule {rule!r}; use one of "
            f"{', '.join(CLEARING_RULE_NAMES)}"
        )
    tariffs = _tariffs(top.get("tariff", {}))
    regions = tuple(
        _region(r, f"regions[{i}]", lat, lon, altitude, base)
        for i, r in enumerate(_list(top, "regions"))
    )
    if not regions:
        raise ScenarioError("regions: a scenario needs at least one [[regions]] table")
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise ScenarioError(f"regions: region names must be unique, got {names}")
    companies = tuple(_company(c, f"companies[{i}]") for i, c in enumerate(_list(top, "companies")))
    for i, c in enumerate(companies):
        if c.region not in names:
            raise ScenarioError(
                f"companies[{i}].region: no region {c.region!r}; regions are {', '.join(names)}"
            )
        if sum(o.region == c.region for o in companies) > 1:
            raise ScenarioError(f"companies[{i}].region: one company per region ({c.region!r})")
    holidays = _dates(place.get("holidays", []), "place.holidays")
    weather = _weather(top.get("weather", {}), base, regions, (start, end, slot_minutes))
    return Scenario(
        name, seed, tz_name, start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC")),
        slot_minutes, rule, tariffs, companies, regions, holidays, weather,
    )  # fmt: skip


def _weather(
    value: object,
    base: Path,
    regions: tuple[RegionSpec, ...],
    period: tuple[datetime, datetime, int],
) -> WeatherSpec:
    w = _table(value, "weather", ("source", "file", "format"))
    source = _str(w, "source", "weather", "file" if "file" in w else "stochastic")
    if source not in WEATHER_SOURCES:
        raise ScenarioError(
            f"weather.source: unknown source {source!r}; use one of {', '.join(WEATHER_SOURCES)}"
        )
    if source == "stochastic":
        if "file" in w or "format" in w:
            raise ScenarioError(
                "weather.file: a stochastic weather reads no file; drop file and format, or set "
                'source = "file"'
            )
        return WeatherSpec()
    if "file" not in w:
        raise ScenarioError('weather.file is required with source = "file" (an EPW, TMY3 or CSV)')
    path = base / _str(w, "file", "weather", None)
    start, end, slot_minutes = period
    fmt = w.get("format")
    if fmt is not None and fmt not in WEATHER_FORMATS:
        raise ScenarioError(
            f"weather.format: unknown format {fmt!r}; use one of {', '.join(WEATHER_FORMATS)}"
        )
    if not path.is_file():
        raise ScenarioError(
            f"weather.file: file {path} not found; paths are relative to the scenario file"
        )
    # Read it once here, so a bad file is reported before any region runs.
    import pandas as pd

    from gridledger.errors import ConfigError, ValidationError
    from gridledger.sim.weather import read_weather_file

    region = regions[0]
    try:
        site = read_weather_file(path, fmt, latitude=None, longitude=None)
        has_site = True
    except ConfigError as exc:
        if "gives no site" not in str(exc):
            raise ScenarioError(f"weather.file: {exc}") from None
        has_site = False
        try:
            site = read_weather_file(path, fmt, latitude=region.lat_deg, longitude=region.lon_deg)
        except ConfigError as again:
            raise ScenarioError(f"weather.file: {again}") from None
    # The file is a typical year: every slot of the period's first year must have a record, over
    # whole UTC days (the PV model rounds energy per UTC day).
    first = pd.Timestamp(start).tz_convert("UTC").floor("D")
    until = min(pd.Timestamp(end).tz_convert("UTC").ceil("D"), first + pd.Timedelta(days=366))
    try:
        site.at(pd.date_range(first, until, freq=f"{slot_minutes}min", inclusive="left"))
    except ValidationError as exc:
        raise ScenarioError(f"weather.file: {exc}") from None
    if has_site:
        for i, r in enumerate(regions):
            if (
                abs(r.lat_deg - site.latitude) > WEATHER_SITE_TOLERANCE_DEG
                or abs(r.lon_deg - site.longitude) > WEATHER_SITE_TOLERANCE_DEG
            ):
                raise ScenarioError(
                    f"weather.file: the file's site ({site.latitude:g}, {site.longitude:g}) is "
                    f"far from regions[{i}] ({r.lat_deg:g}, {r.lon_deg:g}); set [place] lat and "
                    "lon to the file's site, or use a weather file of your place"
                )
    return WeatherSpec("file", path, fmt)


def _tariffs(value: object) -> Tariffs:
    known = ("retail_micro_per_kwh", "feed_in_micro_per_kwh", "network_fee_micro_per_kwh",
             "time_of_use")  # fmt: skip
    t = _table(value, "tariff", known)
    d = Tariffs()
    retail = _int(t, "retail_micro_per_kwh", "tariff", d.retail_micro_per_kwh)
    feed_in = _int(t, "feed_in_micro_per_kwh", "tariff", d.feed_in_micro_per_kwh)
    fee = _int(t, "network_fee_micro_per_kwh", "tariff", d.network_fee_micro_per_kwh)
    windows = []
    for i, w in enumerate(t.get("time_of_use", [])):
        field = f"tariff.time_of_use[{i}]"
        wt = _table(w, field, ("from_hour", "to_hour", "retail_micro_per_kwh"))
        window = TimeOfUse(
            _int(wt, "from_hour", field, None), _int(wt, "to_hour", field, None),
            _int(wt, "retail_micro_per_kwh", field, None),
        )  # fmt: skip
        if window.from_hour > 23 or window.to_hour > 24:
            raise ScenarioError(f"{field}: hours are 0..24 in local time")
        windows.append(window)
    for price, field in [(retail, "retail_micro_per_kwh")] + [
        (w.retail_micro_per_kwh, f"time_of_use[{i}].retail_micro_per_kwh")
        for i, w in enumerate(windows)
    ]:
        if price < feed_in:
            raise ScenarioError(
                f"tariff.{field}: retail {price} is below the feed-in price {feed_in}; "
                "the grid would buy dearer than it sells"
            )
    return Tariffs(retail, feed_in, fee, tuple(windows))


def _company(value: object, field: str) -> CompanySpec:
    c = _table(value, field, ("name", "region", "price_micro_per_kwh", "capacity_wh"))
    return CompanySpec(
        _str(c, "name", field, None), _str(c, "region", field, None),
        _int(c, "price_micro_per_kwh", field, None), _int(c, "capacity_wh", field, None, low=1),
    )  # fmt: skip


_REGION = ("name", "lat", "lon", "households", "pv", "battery", "load", "ev", "strategies", "homes")
_LOAD = ("profile", "annual_kwh", "power_w", "slot_sigma", "day_sigma")
_EV = ("share", "kwh_per_day", "power_kw", "plug_probability", "usable_kwh", "arrival_hour",
       "departure_hour")  # fmt: skip
_BATTERY_KWH = {"choices": [5, 7.5, 10, 13.5]}
_BATTERY = ("share", "capacity_kwh", "c_rate", "efficiency", "initial_soc", "reserve_soc")
_HOME = ("count", "pv_kwp", "tilt_deg", "azimuth_deg", "battery_kwh", "battery_kw", "annual_kwh",
         "load_w", "strategy", "load_file", "pv_file", "profile")  # fmt: skip


def _region(
    value: object, field: str, lat: float, lon: float, altitude: float, base: Path
) -> RegionSpec:
    r = _table(value, field, _REGION)
    name = _str(r, "name", field, None)
    pv = _table(r.get("pv", {}), f"{field}.pv", ("share", "kwp", "tilt_deg", "azimuth_deg"))
    bat = _table(r.get("battery", {}), f"{field}.battery",
                 _BATTERY)  # fmt: skip
    load = _table(r.get("load", {}), f"{field}.load", _LOAD)
    ev = _table(r.get("ev", {}), f"{field}.ev", _EV)
    families, weights = _profiles(load.get("profile", DEFAULT_LOAD_FAMILY), f"{field}.load")
    profile = families[0]
    initial = _float(bat, "initial_soc", f"{field}.battery", 0.5, 0, 1)
    reserve = _float(bat, "reserve_soc", f"{field}.battery", 0.1, 0, 1)
    if reserve > initial:
        raise ScenarioError(
            f"{field}.battery.initial_soc ({initial}) is below reserve_soc ({reserve}); "
            "start at or above the reserve"
        )
    strategies = tuple(
        _strategy(s, f"{field}.strategies[{i}]") for i, s in enumerate(r.get("strategies", []))
    ) or (StrategyShare("self_consumption", 1.0, Distribution("constant", (0.1,))),)
    total = sum(s.share for s in strategies)
    if abs(total - 1.0) > 1e-9:
        raise ScenarioError(f"{field}.strategies: the shares must add up to 1, got {total:g}")
    homes = tuple(_home(h, f"{field}.homes[{i}]", base) for i, h in enumerate(r.get("homes", [])))
    spec = RegionSpec(
        name=name,
        lat_deg=_float(r, "lat", field, lat, -90, 90),
        lon_deg=_float(r, "lon", field, lon, -180, 180),
        households=_int(r, "households", field, 0 if homes else None),
        pv_share=_float(pv, "share", f"{field}.pv", 0.6, 0, 1),
        pv_kwp=_dist(pv, "kwp", f"{field}.pv", [3, 10], 0, 1000),
        tilt_deg=_dist(pv, "tilt_deg", f"{field}.pv", 30, 0, 90),
        azimuth_deg=_dist(pv, "azimuth_deg", f"{field}.pv", 180, 0, 360),
        battery_share=_float(bat, "share", f"{field}.battery", 0.5, 0, 1),
        battery_kwh=_dist(bat, "capacity_kwh", f"{field}.battery", _BATTERY_KWH, 0, 1000),
        battery_c_rate=_float(bat, "c_rate", f"{field}.battery", 0.5, 0.01, 10),
        efficiency=_float(bat, "efficiency", f"{field}.battery", 0.95, 0.5, 1),
        initial_soc=initial,
        reserve_soc=reserve,
        load_profile=profile,
        annual_kwh=_dist(load, "annual_kwh", f"{field}.load", [1500, 6000], 0, 1_000_000),
        load_w=_float(load, "power_w", f"{field}.load", 300, 0, 1_000_000),
        ev_share=_float(ev, "share", f"{field}.ev", 0.0, 0, 1),
        ev_kwh_per_day=_dist(ev, "kwh_per_day", f"{field}.ev", [5, 15], 0, 200),
        ev_power_kw=_float(ev, "power_kw", f"{field}.ev", 11, 0.1, 350),
        strategies=strategies,
        homes=homes,
        altitude_m=altitude,
        load_families=families,
        load_family_weights=weights,
        load_slot_sigma=_float(load, "slot_sigma", f"{field}.load", 0.3, 0, 2),
        load_day_sigma=_float(load, "day_sigma", f"{field}.load", 0.15, 0, 2),
        ev_plug_probability=_float(ev, "plug_probability", f"{field}.ev", 0.8, 0, 1),
        ev_usable_kwh=_float(ev, "usable_kwh", f"{field}.ev", 50, 1, 500),
        ev_arrival_hour=_float(ev, "arrival_hour", f"{field}.ev", 18, 14, 23.5),
        ev_departure_hour=_float(ev, "departure_hour", f"{field}.ev", 7.5, 5, 11),
    )
    if spec.total_households == 0:
        raise ScenarioError(f"{field}: the region has no households; set households or add homes")
    return spec


def _family(value: object, field: str, flat_ok: bool) -> str:
    """A profile name, lower-cased; ``flat`` only where ``flat_ok``."""
    names = load_families()
    name = value.lower() if isinstance(value, str) else None
    if name is None or (name not in names and not (flat_ok and name == FLAT_PROFILE)):
        allowed = (*names, FLAT_PROFILE) if flat_ok else names
        raise ScenarioError(
            f"{field}: unknown load profile {value!r}; use one of {', '.join(allowed)}"
        )
    return name


def _profiles(value: object, field: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """``profile``: one name, or ``{choices = [...], weights = [...]}`` of demandlib families."""
    if not isinstance(value, Mapping):
        return (_family(value, f"{field}.profile", True),), ()
    choices, weights = value.get("choices"), value.get("weights", [])
    if set(value) - {"choices", "weights"} or not isinstance(choices, list) or not choices:
        raise ScenarioError(
            f'{field}.profile: a mix is {{choices = ["h0_dyn", "g0"], weights = [3, 1]}}, '
            f"got {dict(value)!r}"
        )
    families = tuple(_family(c, f"{field}.profile", False) for c in choices)
    if not isinstance(weights, list) or (weights and len(weights) != len(families)):
        raise ScenarioError(f"{field}.profile.weights: give one weight per choice, or none")
    w = []
    for x in weights:
        if isinstance(x, bool) or not isinstance(x, int | float) or x < 0:
            raise ScenarioError(f"{field}.profile.weights: weights are numbers >= 0, got {x!r}")
        w.append(float(x))
    if w and sum(w) <= 0:
        raise ScenarioError(f"{field}.profile.weights: the weights need a positive sum")
    return families, tuple(w)


def _strategy(value: object, field: str) -> StrategyShare:
    s = _table(value, field, ("strategy", "share", "margin"))
    name = _str(s, "strategy", field, None)
    if name not in STRATEGY_NAMES:
        raise ScenarioError(
            f"{field}.strategy: unknown strategy {name!r}; use one of {', '.join(STRATEGY_NAMES)}"
        )
    return StrategyShare(
        name, _float(s, "share", field, 1.0, 0, 1), _dist(s, "margin", field, [0.05, 0.3], 0, 1)
    )


def _home(value: object, field: str, base: Path) -> Home:
    h = _table(value, field, _HOME)

    def opt(key: str, low: float, high: float) -> float | None:
        return _float(h, key, field, 0, low, high) if key in h else None

    def file(key: str) -> Path | None:
        if key not in h:
            return None
        path = base / _str(h, key, field, None)
        if path.suffix.lower() not in (".csv", ".parquet"):
            raise ScenarioError(f"{field}.{key}: {path.name} must be a .csv or .parquet file")
        if not path.is_file():
            raise ScenarioError(
                f"{field}.{key}: file {path} not found; paths are relative to the scenario file"
            )
        return path

    strategy = h.get("strategy")
    if strategy is not None and strategy not in STRATEGY_NAMES:
        raise ScenarioError(
            f"{field}.strategy: unknown strategy {strategy!r}; use one of "
            f"{', '.join(STRATEGY_NAMES)}"
        )
    return Home(
        count=_int(h, "count", field, 1, low=1),
        pv_kwp=opt("pv_kwp", 0, 1000), tilt_deg=opt("tilt_deg", 0, 90),
        azimuth_deg=opt("azimuth_deg", 0, 360), battery_kwh=opt("battery_kwh", 0, 1000),
        battery_kw=opt("battery_kw", 0, 1000), annual_kwh=opt("annual_kwh", 0, 1_000_000),
        load_w=opt("load_w", 0, 1_000_000), strategy=strategy,
        load_file=file("load_file"), pv_file=file("pv_file"),
        profile=_family(h["profile"], f"{field}.profile", False) if "profile" in h else None,
    )  # fmt: skip
