"""Weather for the simulated city: irradiance [W/m^2], air temperature [degC], wind speed [m/s].

Two sources give a :class:`WeatherSeries` for any tz-aware UTC sample times:

* :class:`StochasticWeather`: pvlib's Ineichen clear sky (Linke turbidity from the monthly table
  pvlib ships, ``LinkeTurbidities.h5``) times a seeded clear-sky index from a
  :class:`CloudProcess`; GHI is split into DNI and DHI with pvlib's Erbs model. Temperature and
  wind come from a small seasonal/diurnal climate model (:class:`Climate`).
* :class:`FileWeather`: a weather file read with pvlib's iotools (EPW, TMY3) or a CSV with
  documented columns (see :func:`read_weather_file`), used as a typical year.

The cloud process is our own because pvlib has none. It is built so that a sample's value depends
only on (seed, region, time), never on which samples were asked for together: a window can be
generated in chunks with identical results. Each (shifted local) day draws its normal variates from
its own generator seeded with ``(seed, region, day)``; autocorrelation comes from a truncated
exponential moving-average kernel over those draws (an AR(1) process cut where its weight is below
1e-6), which needs no state carried from an earlier chunk.

* Day level: latent ``x_d`` (unit variance, lag-1 correlation ``day_persistence``) becomes a day
  clear-sky index ``k_d = k_min + (k_max - k_min) * u**shape`` with ``u`` a logistic approximation
  of the normal CDF of ``x_d``.
* Within the day: ``k(t) = clip(k_d * (1 + variability * 4u(1-u) * y(t)), 0.02, 1.25)`` with
  ``y`` a unit-variance AR(1) on a 5-minute grid (e-folding time ``timescale_min``), linearly
  interpolated between grid points. Clear (u near 1) and overcast (u near 0) days are calm; broken
  cloud days fluctuate most. Values above 1 are cloud enhancement.

Every site of one region shares the region's :class:`CloudProcess`, so neighbours see the same
clouds (the index series is identical; irradiance differs only through the sites' clear sky).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib

from gridledger.errors import ConfigError, ValidationError

FloatArray = npt.NDArray[np.float64]

#: Grid of the intra-day cloud noise [s].
CLOUD_GRID_S = 300
_DAY_S = 86_400
_GRID_PER_DAY = _DAY_S // CLOUD_GRID_S
#: Kernel truncation: weights below this are dropped.
_KERNEL_CUTOFF = 1e-6
#: Stream tags, so the cloud draws never coincide with other users of the same seed.
_CLOUD_STREAM = 0x57EA7E12
_MINUTES_PER_YEAR = 365 * 1440


@dataclass(frozen=True, eq=False)
class WeatherSeries:
    """Weather at sample times. Every array has the shape of ``times``.

    ``ghi``, ``dni``, ``dhi`` [W/m^2]; ``temp_air`` [degC]; ``wind_speed`` [m/s]; solar position
    (``solar_zenith``, ``apparent_zenith``, ``solar_azimuth`` [deg]) from pvlib's SPA.
    """

    times: pd.DatetimeIndex
    ghi: FloatArray
    dni: FloatArray
    dhi: FloatArray
    temp_air: FloatArray
    wind_speed: FloatArray
    solar_zenith: FloatArray
    apparent_zenith: FloatArray
    solar_azimuth: FloatArray

    def to_frame(self) -> pd.DataFrame:
        """The weather as the DataFrame pvlib's ``ModelChain.run_model`` expects."""
        return pd.DataFrame(
            {
                "ghi": self.ghi,
                "dni": self.dni,
                "dhi": self.dhi,
                "temp_air": self.temp_air,
                "wind_speed": self.wind_speed,
            },
            index=self.times,
        )


class Weather(Protocol):
    """A weather source for one site: ``at(times)`` for tz-aware sample times."""

    @property
    def latitude(self) -> float: ...

    @property
    def longitude(self) -> float: ...

    @property
    def altitude(self) -> float: ...

    def at(self, times: pd.DatetimeIndex) -> WeatherSeries: ...


def utc_times(times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """``times`` in UTC; raise :class:`ValidationError` if naive."""
    if not isinstance(times, pd.DatetimeIndex):
        raise ValidationError(f"times must be a pandas.DatetimeIndex, got {type(times).__name__}")
    if times.tz is None:
        raise ValidationError(
            "times have no timezone; pass a tz-aware DatetimeIndex, e.g. tz='UTC'"
        )
    return times.tz_convert("UTC")


def solar_position(
    times: pd.DatetimeIndex,
    latitude: float,
    longitude: float,
    altitude: float,
    temp_air: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(zenith, apparent zenith, azimuth) [deg] from pvlib's NREL SPA, as ModelChain does."""
    pos = pvlib.solarposition.spa_python(
        times,
        latitude,
        longitude,
        altitude=altitude,
        pressure=pvlib.atmosphere.alt2pres(altitude),
        temperature=temp_air,
    )
    return (
        pos["zenith"].to_numpy(dtype=np.float64),
        pos["apparent_zenith"].to_numpy(dtype=np.float64),
        pos["azimuth"].to_numpy(dtype=np.float64),
    )


def _kernel(persistence: float) -> FloatArray:
    """Weights of a unit-variance AR(1) with lag-1 correlation ``persistence``, truncated."""
    if persistence <= 0.0:
        return np.ones(1)
    n = max(1, math.ceil(math.log(_KERNEL_CUTOFF) / math.log(persistence)))
    w = persistence ** np.arange(n, dtype=np.float64)
    return np.asarray(w / math.sqrt(float(np.sum(w * w))), dtype=np.float64)


def _smooth(noise: FloatArray, kernel: FloatArray) -> FloatArray:
    """Causal moving average: ``out[i] = sum_j kernel[j] * noise[i + len(kernel) - 1 - j]``."""
    return np.asarray(np.convolve(noise, kernel, mode="valid"), dtype=np.float64)


@dataclass(frozen=True)
class CloudProcess:
    """The seeded clear-sky index of one region (dimensionless, 0.02 to 1.25).

    ``utc_offset_h`` places the day boundary near local midnight, where a change of day type is
    invisible; round(longitude / 15) is a good choice. ``day_persistence`` is the lag-1 correlation
    of the day level; ``timescale_min`` the e-folding time of fluctuations within a day [min];
    ``variability`` their relative size on a broken-cloud day; ``k_min``, ``k_max`` and ``shape``
    set the day-level distribution (mean about 0.65 with the defaults: about 1,000 kWh/m^2 of
    GHI a year in Berlin).
    """

    seed: int
    region: int = 0
    utc_offset_h: float = 0.0
    day_persistence: float = 0.6
    timescale_min: float = 30.0
    variability: float = 0.5
    k_min: float = 0.1
    k_max: float = 1.0
    shape: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 <= self.day_persistence < 1.0:
            raise ValidationError(
                f"day_persistence {self.day_persistence} must be in [0, 1); 0.6 is typical"
            )
        if self.region < 0:
            raise ValidationError(f"region {self.region} must be a number >= 0")
        if self.timescale_min <= 0:
            raise ValidationError(f"timescale_min {self.timescale_min} must be > 0 minutes")
        if not 0.0 <= self.k_min < self.k_max <= 1.25:
            raise ValidationError(
                f"need 0 <= k_min < k_max <= 1.25, got k_min={self.k_min}, k_max={self.k_max}"
            )

    @property
    def _offset_s(self) -> int:
        return round(self.utc_offset_h * 12) * CLOUD_GRID_S

    def _draws(self, day: int) -> FloatArray:
        """The day's normal variates: [cloud level, temperature anomaly, wind, 288 intra-day]."""
        rng = np.random.default_rng([self.seed % 2**64, _CLOUD_STREAM, self.region, day + 2**31])
        return np.asarray(rng.standard_normal(3 + _GRID_PER_DAY), dtype=np.float64)

    def _daily(self, first_day: int, last_day: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Smoothed day-level latents (cloud, temperature, wind) for days first..last."""
        kernel = _kernel(self.day_persistence)
        days = range(first_day - len(kernel) + 1, last_day + 1)
        raw = np.stack([self._draws(d)[:3] for d in days])
        return (_smooth(raw[:, 0], kernel), _smooth(raw[:, 1], kernel), raw[len(kernel) - 1 :, 2])

    def days_of(self, times: pd.DatetimeIndex) -> npt.NDArray[np.int64]:
        """Index of the (shifted local) day each time belongs to."""
        s = utc_times(times).as_unit("s").asi8 + self._offset_s
        return np.asarray(s // _DAY_S, dtype=np.int64)

    def day_level(self, days: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(day clear-sky index k_d, uniform u_d, temperature anomaly z) for day indices."""
        lo, hi = int(days.min()), int(days.max())
        cloud, temp, _ = self._daily(lo, hi)
        u = 1.0 / (1.0 + np.exp(-1.702 * cloud))
        k = self.k_min + (self.k_max - self.k_min) * u**self.shape
        i = days - lo
        return k[i], u[i], temp[i]

    def wind_latent(self, days: npt.NDArray[np.int64]) -> FloatArray:
        """Unsmoothed standard normal per day for the wind model."""
        lo, hi = int(days.min()), int(days.max())
        return self._daily(lo, hi)[2][days - lo]

    def clear_sky_index(self, times: pd.DatetimeIndex) -> FloatArray:
        """Clear-sky index at ``times`` (tz-aware); depends only on (seed, region, time)."""
        if len(times) == 0:
            return np.zeros(0)
        t = utc_times(times).as_unit("ms").asi8.astype(np.float64) / 1000.0 + self._offset_s
        grid = t / CLOUD_GRID_S
        g0 = np.floor(grid).astype(np.int64)
        kernel = _kernel(math.exp(-CLOUD_GRID_S / 60.0 / self.timescale_min))
        first = int(g0.min()) - len(kernel) + 1
        last = int(g0.max()) + 1
        day_lo, day_hi = first // _GRID_PER_DAY, last // _GRID_PER_DAY
        noise = np.concatenate([self._draws(d)[3:] for d in range(day_lo, day_hi + 1)])
        start = first - day_lo * _GRID_PER_DAY
        noise = noise[start : start + last - first + 1]
        y_grid = _smooth(noise, kernel)  # y_grid[j] is grid point first + len(kernel) - 1 + j
        base = first + len(kernel) - 1
        frac = grid - g0
        y = (1 - frac) * y_grid[g0 - base] + frac * y_grid[g0 + 1 - base]
        days = np.asarray(np.floor(t / _DAY_S), dtype=np.int64)
        k_day, u, _ = self.day_level(days)
        k = k_day * (1.0 + self.variability * 4.0 * u * (1.0 - u) * y)
        return np.asarray(np.clip(k, 0.02, 1.25), dtype=np.float64)


@dataclass(frozen=True)
class Climate:
    """Air temperature and wind of a site (defaults: central European lowland).

    ``temp_air = mean_c + season_amp_c * s(t) + (day_amp_c * (0.4 + k_d)) * cos(2 pi (h - 15) / 24)
    + anomaly_c * z_d``, with ``s`` = -cos(2 pi (doy - 15) / 365.25) (flipped south of the
    equator), ``h`` the local solar hour and ``z_d`` the region's smoothed day anomaly; clear days
    swing more. Wind [m/s] is a log-normal day value with median ``wind_median_ms``.
    """

    mean_c: float = 10.0
    season_amp_c: float = 9.0
    day_amp_c: float = 4.0
    anomaly_c: float = 2.5
    wind_median_ms: float = 3.0
    wind_sigma: float = 0.4


@dataclass(frozen=True)
class StochasticWeather:
    """Clear sky from pvlib x the region's :class:`CloudProcess`, for one site."""

    latitude: float
    longitude: float
    clouds: CloudProcess
    altitude: float = 0.0
    climate: Climate = field(default_factory=Climate)

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude <= 90.0 or not -180.0 <= self.longitude <= 180.0:
            raise ValidationError(
                f"site ({self.latitude}, {self.longitude}) is not a latitude in [-90, 90] and "
                "longitude in [-180, 180] [deg]"
            )

    @cached_property
    def _linke_monthly(self) -> FloatArray:
        """Monthly Linke turbidity at the site from the table pvlib ships."""
        months = pd.date_range("2001-01-15", periods=12, freq="MS", tz="UTC") - pd.Timedelta("14D")
        lt = pvlib.clearsky.lookup_linke_turbidity(
            months, self.latitude, self.longitude, interp_turbidity=False
        )
        return np.asarray(lt.to_numpy(dtype=np.float64), dtype=np.float64)

    def linke_turbidity(self, day_of_year: npt.NDArray[np.int64]) -> FloatArray:
        """Linke turbidity per day of year, interpolated between mid-month values as pvlib does."""
        mid = np.array([15.5 + 365.0 / 12.0 * m for m in range(12)])
        lt = self._linke_monthly
        return np.asarray(np.interp(day_of_year, mid, lt, period=365.0), dtype=np.float64)

    def temperature(self, times: pd.DatetimeIndex) -> tuple[FloatArray, FloatArray]:
        """(air temperature [degC], wind speed [m/s]) at ``times``."""
        c = self.climate
        utc = utc_times(times)
        doy = utc.day_of_year.to_numpy().astype(np.float64)
        season = -np.cos(2 * np.pi * (doy - 15.0) / 365.25)
        if self.latitude < 0:
            season = -season
        hours = (utc.as_unit("s").asi8 % _DAY_S) / 3600.0 + self.longitude / 15.0
        days = self.clouds.days_of(utc)
        k_day, _, anomaly = self.clouds.day_level(days)
        temp = (
            c.mean_c
            + c.season_amp_c * season
            + c.day_amp_c * (0.4 + k_day) * np.cos(2 * np.pi * (hours - 15.0) / 24.0)
            + c.anomaly_c * anomaly
        )
        wind = c.wind_median_ms * np.exp(c.wind_sigma * self.clouds.wind_latent(days))
        return np.asarray(temp, dtype=np.float64), np.asarray(wind, dtype=np.float64)

    def _clear_sky(
        self, utc: pd.DatetimeIndex, app_zen: FloatArray
    ) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        doy = utc.day_of_year.to_numpy().astype(np.int64)
        with np.errstate(all="ignore"):
            dni_extra = np.asarray(pvlib.irradiance.get_extra_radiation(doy), dtype=np.float64)
            am_rel = pvlib.atmosphere.get_relative_airmass(app_zen)
            am_abs = pvlib.atmosphere.get_absolute_airmass(
                am_rel, pvlib.atmosphere.alt2pres(self.altitude)
            )
            clear = pvlib.clearsky.ineichen(
                app_zen, am_abs, self.linke_turbidity(doy), self.altitude, dni_extra
            )
        return np.nan_to_num(np.asarray(clear["ghi"], dtype=np.float64)), doy

    def clear_sky_ghi(self, times: pd.DatetimeIndex) -> FloatArray:
        """Clear-sky GHI [W/m^2] at ``times`` (pvlib Ineichen with the site's Linke turbidity)."""
        utc = utc_times(times)
        temp, _ = self.temperature(utc)
        _, app_zen, _ = solar_position(utc, self.latitude, self.longitude, self.altitude, temp)
        return self._clear_sky(utc, app_zen)[0]

    def at(self, times: pd.DatetimeIndex) -> WeatherSeries:
        """Weather at ``times`` (tz-aware): GHI = clear-sky GHI x clear-sky index, Erbs split."""
        utc = utc_times(times)
        temp, wind = self.temperature(utc)
        zen, app_zen, azi = solar_position(utc, self.latitude, self.longitude, self.altitude, temp)
        clear, doy = self._clear_sky(utc, app_zen)
        ghi = clear * self.clouds.clear_sky_index(utc)
        with np.errstate(all="ignore"):
            split = pvlib.irradiance.erbs(ghi, zen, doy)
        dni = np.nan_to_num(np.asarray(split["dni"], dtype=np.float64))
        dhi = np.nan_to_num(np.asarray(split["dhi"], dtype=np.float64))
        return WeatherSeries(utc, ghi, dni, dhi, temp, wind, zen, app_zen, azi)


WeatherFormat = Literal["epw", "tmy3", "csv"]
#: Columns of the CSV format: interval-start times with a UTC offset, then the quantities.
CSV_COLUMNS: tuple[str, ...] = ("time", "ghi", "dni", "dhi", "temp_air", "wind_speed")
_QUANTITIES = ("ghi", "dni", "dhi", "temp_air", "wind_speed")


@dataclass(frozen=True, eq=False)
class FileWeather:
    """A typical year from a weather file, looked up by time of year (:func:`read_weather_file`).

    ``records`` maps each quantity to an array over the non-leap year in steps of ``step_min``
    minutes of the file's local standard time (``utc_offset_h``); NaN where the file has no data.
    A record holds for its whole interval (no interpolation), so the file's energy is kept.
    """

    latitude: float
    longitude: float
    altitude: float
    utc_offset_h: float
    step_min: int
    records: Mapping[str, FloatArray]

    def at(self, times: pd.DatetimeIndex) -> WeatherSeries:
        """Weather at ``times`` (tz-aware) from the record whose interval holds each time."""
        utc = utc_times(times)
        local = utc + pd.Timedelta(hours=self.utc_offset_h)
        doy = local.day_of_year.to_numpy().astype(np.int64)
        leap = local.is_leap_year & (doy >= 60)  # Feb 29 reads Feb 28, March on shifts back a day
        doy = doy - leap.astype(np.int64)
        minute = (doy - 1) * 1440 + local.hour.to_numpy() * 60 + local.minute.to_numpy()
        idx = np.asarray(minute // self.step_min, dtype=np.int64)
        values = {q: np.asarray(self.records[q][idx], dtype=np.float64) for q in _QUANTITIES}
        if len(idx) and np.isnan(values["ghi"]).any():
            missing = utc[np.isnan(values["ghi"])][0]
            raise ValidationError(
                f"the weather file has no record for {missing.isoformat()} (its time of year); "
                "use a file covering the whole simulated period, or shorten the period"
            )
        zen, app_zen, azi = solar_position(
            utc, self.latitude, self.longitude, self.altitude, values["temp_air"]
        )
        return WeatherSeries(
            utc,
            values["ghi"],
            values["dni"],
            values["dhi"],
            values["temp_air"],
            values["wind_speed"],
            zen,
            app_zen,
            azi,
        )


def _format_of(path: Path) -> WeatherFormat:
    suffix = path.suffix.lower()
    if suffix == ".epw":
        return "epw"
    if suffix == ".csv":
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = fh.readline()
        return "csv" if head.strip().lower().startswith("time") else "tmy3"
    raise ConfigError(
        f"cannot tell the format of weather file {path}; name it .epw or .csv, or pass "
        "format='epw', 'tmy3' or 'csv'"
    )


def read_weather_file(
    path: str | os.PathLike[str],
    format: WeatherFormat | None = None,
    *,
    latitude: float | None = None,
    longitude: float | None = None,
    altitude: float | None = None,
) -> FileWeather:
    """Read a weather file into a :class:`FileWeather`.

    * ``epw``: EnergyPlus weather, via ``pvlib.iotools.read_epw`` (records start at their label).
    * ``tmy3``: NREL TMY3, via ``pvlib.iotools.read_tmy3`` (labels end their hour; shifted back).
    * ``csv``: a header ``time,ghi,dni,dhi,temp_air,wind_speed``; ``time`` is the interval start in
      ISO 8601 with its UTC offset (e.g. ``2025-06-01T12:00:00+01:00``), one offset for the whole
      file, equal steps of 5 to 60 minutes; irradiance [W/m^2], temperature [degC], wind [m/s].
      ``latitude`` and ``longitude`` [deg] (and ``altitude`` [m]) are required for it.

    The file holds at most one year (a leap year's 29 February is dropped); it is used as a
    typical year for any simulated year.
    Site arguments override the file's metadata. Raises :class:`ConfigError` if unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"weather file {p} does not exist; check the path in the scenario")
    fmt = format or _format_of(p)
    try:
        if fmt == "epw":
            data, meta = pvlib.iotools.read_epw(str(p), coerce_year=2001)
        elif fmt == "tmy3":
            data, meta = pvlib.iotools.read_tmy3(str(p), coerce_year=2001, map_variables=True)
            data.index = data.index - pd.Timedelta(hours=1)
        elif fmt == "csv":
            data = pd.read_csv(p)
            missing = [c for c in CSV_COLUMNS if c not in data.columns]
            if missing:
                raise ConfigError(
                    f"weather file {p} lacks columns {missing}; a weather CSV needs the header "
                    + ",".join(CSV_COLUMNS)
                )
            stamps = pd.DatetimeIndex(pd.to_datetime(data["time"], format="ISO8601"))
            if stamps.tz is None:
                raise ConfigError(
                    f"weather file {p}: times have no UTC offset; write them as "
                    "2025-06-01T12:00:00+01:00"
                )
            data.index = stamps
            meta = {"TZ": stamps[0].utcoffset().total_seconds() / 3600.0}
        else:
            raise ConfigError(f"unknown weather file format {fmt!r}; use 'epw', 'tmy3' or 'csv'")
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ConfigError(f"cannot read weather file {p} as {fmt}: {exc}") from exc
    lat = latitude if latitude is not None else meta.get("latitude")
    lon = longitude if longitude is not None else meta.get("longitude")
    if lat is None or lon is None:
        raise ConfigError(
            f"weather file {p} gives no site; pass latitude and longitude [deg] with it"
        )
    alt = altitude if altitude is not None else float(meta.get("altitude", 0.0))
    return _records(data, p, float(lat), float(lon), alt, float(meta["TZ"]))


def _records(
    data: pd.DataFrame, path: Path, lat: float, lon: float, alt: float, tz_h: float
) -> FileWeather:
    index = pd.DatetimeIndex(data.index)
    if len(index) < 2:
        raise ConfigError(f"weather file {path} has fewer than two records")
    local = index.tz_convert("UTC") + pd.Timedelta(hours=tz_h)
    steps = np.diff(local.as_unit("s").asi8) // 60
    step = int(steps[0])
    if step < 5 or step > 60 or 60 % step or (steps != step).any():
        raise ConfigError(
            f"weather file {path}: records must be equally spaced by 5 to 60 minutes dividing "
            f"the hour, found a step of {step} min"
        )
    # A record of 29 February is dropped: the typical year has 365 days (29 February reads 28).
    keep = ~(local.is_leap_year & (local.month == 2) & (local.day == 29))
    local, data = local[keep], data[keep]
    doy = local.day_of_year.to_numpy().astype(np.int64)
    doy = doy - (local.is_leap_year & (doy >= 60)).astype(np.int64)
    minute = (doy - 1) * 1440 + local.hour.to_numpy() * 60 + local.minute.to_numpy()
    slot = np.asarray(minute // step, dtype=np.int64) % (_MINUTES_PER_YEAR // step)
    if len(np.unique(slot)) != len(slot):
        raise ConfigError(
            f"weather file {path} covers the same time of year twice; cut it to one year"
        )
    records: dict[str, FloatArray] = {}
    for q in _QUANTITIES:
        arr = np.full(_MINUTES_PER_YEAR // step, np.nan)
        arr[slot] = data[q].to_numpy(dtype=np.float64)
        records[q] = arr
    return FileWeather(lat, lon, alt, tz_h, step, records)
