"""Weather sources: the stochastic regional clear-sky index and weather files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest

from gridledger.errors import ConfigError, ValidationError
from gridledger.sim.weather import (
    CloudProcess,
    StochasticWeather,
    WeatherSeries,
    read_weather_file,
)

DATA = Path(__file__).parent / "data"
TMY3 = Path(os.path.dirname(pvlib.__file__)) / "data" / "723170TYA.CSV"
FIELDS = ("ghi", "dni", "dhi", "temp_air", "wind_speed", "solar_zenith", "solar_azimuth")


def year_15min(year: int = 2025) -> pd.DatetimeIndex:
    return pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="15min", tz="UTC")[:-1]


def berlin(seed: int = 7, region: int = 0) -> StochasticWeather:
    return StochasticWeather(52.52, 13.40, CloudProcess(seed, region, utc_offset_h=1), 34.0)


def test_sites_of_one_region_see_the_same_clouds() -> None:
    clouds = CloudProcess(seed=3, region=1, utc_offset_h=1)
    west = StochasticWeather(52.50, 13.30, clouds)
    east = StochasticWeather(52.55, 13.55, clouds, altitude=60.0)
    times = pd.date_range("2025-06-01", periods=4 * 24 * 14, freq="15min", tz="UTC")
    w, e = west.at(times), east.at(times)
    lit = (west.clear_sky_ghi(times) > 50) & (east.clear_sky_ghi(times) > 50)
    k_west = w.ghi[lit] / west.clear_sky_ghi(times)[lit]
    k_east = e.ghi[lit] / east.clear_sky_ghi(times)[lit]
    np.testing.assert_allclose(k_west, k_east, rtol=1e-9)
    assert not np.array_equal(w.ghi, e.ghi)  # the sites differ only by their clear sky
    # A new process object with the same (seed, region) is the same region's sky.
    again = CloudProcess(seed=3, region=1, utc_offset_h=1).clear_sky_index(times)
    np.testing.assert_array_equal(again, clouds.clear_sky_index(times))


def test_other_regions_have_other_clouds() -> None:
    times = pd.date_range("2025-01-01", periods=96 * 120, freq="15min", tz="UTC")
    a = CloudProcess(seed=3, region=1).clear_sky_index(times)
    b = CloudProcess(seed=3, region=2).clear_sky_index(times)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.3


def test_clear_sky_index_is_physical_and_persistent() -> None:
    times = year_15min()
    clouds = CloudProcess(seed=11)
    k = clouds.clear_sky_index(times)
    assert k.min() >= 0.02 and k.max() <= 1.25
    assert 0.5 < k.mean() < 0.8
    daily = k.reshape(365, 96).mean(axis=1)
    lag1 = np.corrcoef(daily[:-1], daily[1:])[0, 1]
    assert 0.3 < lag1 < 0.9  # weather persists from day to day, but changes
    assert daily.std() > 0.1  # clear, broken and overcast days all occur
    step = np.abs(np.diff(k.reshape(365, 96), axis=1)).mean()
    assert 0.0 < step < 0.2  # smooth within a day at 15 minutes


def test_irradiance_is_consistent() -> None:
    w = berlin()
    times = year_15min()
    s = w.at(times)
    clear = w.clear_sky_ghi(times)
    assert (s.ghi >= 0).all() and (s.dni >= 0).all() and (s.dhi >= 0).all()
    assert (s.ghi <= clear * 1.25 + 1e-9).all()
    assert (s.ghi[s.apparent_zenith > 90.5] == 0).all()
    # Erbs closes: GHI = DHI + DNI cos(zenith) wherever the sun is up.
    up = s.solar_zenith < 85
    closure = s.dhi[up] + s.dni[up] * np.cos(np.radians(s.solar_zenith[up]))
    np.testing.assert_allclose(closure, s.ghi[up], atol=1.0)
    annual_kwh_m2 = s.ghi.sum() * 0.25 / 1000
    assert 850 < annual_kwh_m2 < 1250  # Berlin has about 1,000 kWh/m^2 a year
    july = s.temp_air[(times.month == 7)].mean()
    january = s.temp_air[(times.month == 1)].mean()
    assert july - january > 10
    assert (s.wind_speed > 0).all()


def test_chunks_give_the_same_weather() -> None:
    w = berlin()
    times = pd.date_range("2025-03-28", periods=96 * 6, freq="15min", tz="UTC")
    whole = w.at(times)
    parts = [w.at(times[i : i + 137]) for i in range(0, len(times), 137)]
    for name in FIELDS:
        joined = np.concatenate([getattr(p, name) for p in parts])
        np.testing.assert_array_equal(joined, getattr(whole, name), err_msg=name)


def test_same_seed_same_weather_other_seed_other_weather() -> None:
    times = pd.date_range("2025-05-01", periods=96 * 10, freq="15min", tz="UTC")
    a, b, c = berlin(seed=5).at(times), berlin(seed=5).at(times), berlin(seed=6).at(times)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.ghi, c.ghi)
    assert not np.array_equal(a.temp_air, c.temp_air)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        berlin().at(pd.date_range("2025-01-01", periods=4, freq="15min"))


def test_csv_file_is_read_as_interval_starts() -> None:
    fw = read_weather_file(DATA / "weather_2days.csv", latitude=36.1, longitude=-79.95)
    assert fw.step_min == 60 and fw.utc_offset_h == -5.0
    raw = pd.read_csv(DATA / "weather_2days.csv")
    # The record starting at 12:00-05:00 holds from 17:00 to 18:00 UTC, in any year.
    row = raw[raw["time"] == "2001-06-01T12:00:00-05:00"].iloc[0]
    for year in (2025, 2028):
        times = pd.DatetimeIndex(
            [f"{year}-06-01T17:00Z", f"{year}-06-01T17:30Z", f"{year}-06-01T17:59Z"]
        )
        s = fw.at(times)
        assert isinstance(s, WeatherSeries)
        for q in ("ghi", "dni", "dhi", "temp_air", "wind_speed"):
            np.testing.assert_array_equal(getattr(s, q), np.full(3, row[q]), err_msg=q)
    with pytest.raises(ValidationError, match="no record"):
        fw.at(pd.DatetimeIndex(["2025-06-05T12:00Z"]))


def test_epw_file_is_read_with_pvlib() -> None:
    fw = read_weather_file(DATA / "weather_2days.epw")
    csv = read_weather_file(DATA / "weather_2days.csv", latitude=36.1, longitude=-79.95)
    assert (fw.latitude, fw.longitude, fw.altitude) == (36.1, -79.95, 273.0)
    times = pd.date_range("2025-06-01T05:00Z", periods=48 * 4, freq="15min")
    a, b = fw.at(times), csv.at(times)
    for q in ("ghi", "dni", "dhi", "temp_air", "wind_speed"):
        np.testing.assert_array_equal(getattr(a, q), getattr(b, q), err_msg=q)
    assert a.ghi.max() > 800


def test_tmy3_file_is_a_whole_year() -> None:
    fw = read_weather_file(TMY3)
    s = fw.at(year_15min(2024))  # a leap year reads Feb 29 from Feb 28
    assert not np.isnan(s.ghi).any()
    assert 1400 < s.ghi.sum() * 0.25 / 1000 < 1800  # Greensboro, NC


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("time,ghi\n2025-01-01T00:00:00+00:00,0\n", "lacks columns"),
        (
            "time,ghi,dni,dhi,temp_air,wind_speed\n2025-01-01T00:00,0,0,0,1,1\n"
            "2025-01-01T01:00,0,0,0,1,1\n",
            "no UTC offset",
        ),
        (
            "time,ghi,dni,dhi,temp_air,wind_speed\n2025-01-01T00:00Z,0,0,0,1,1\n"
            "2025-01-01T00:07Z,0,0,0,1,1\n",
            "equally spaced",
        ),
    ],
)
def test_bad_csv_files_say_what_to_fix(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "w.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_weather_file(path, latitude=50.0, longitude=8.0)


def test_missing_file_and_site() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_weather_file("no/such/file.epw")
    with pytest.raises(ConfigError, match="latitude and longitude"):
        read_weather_file(DATA / "weather_2days.csv")


def test_a_leap_year_csv_is_a_typical_year(tmp_path: Path) -> None:
    times = pd.date_range("2024-01-01", "2025-01-01", freq="60min", inclusive="left", tz="UTC")
    ghi = np.where(times.month == 3, 500.0, 100.0)
    ghi[(times.month == 2) & (times.day == 29)] = 999.0
    frame = pd.DataFrame(
        {
            "time": [t.isoformat() for t in times],
            "ghi": ghi,
            "dni": 0.0,
            "dhi": ghi,
            "temp_air": 10.0,
            "wind_speed": 2.0,
        }
    )
    path = tmp_path / "meter_site_2024.csv"
    frame.to_csv(path, index=False)
    fw = read_weather_file(path, latitude=50.0, longitude=8.0)
    s = fw.at(pd.DatetimeIndex(["2025-02-28T12:00Z", "2025-03-01T00:00Z", "2024-02-29T12:00Z"]))
    np.testing.assert_array_equal(s.ghi, [100.0, 500.0, 100.0])
    with pytest.raises(ValidationError, match="region"):
        CloudProcess(seed=1, region=-1)
