"""The scenarios' default profile source: pvlib PV, demandlib loads and EV sessions, wired to the
scenario's fields, checked against pvlib and demandlib through a whole scenario run."""

from __future__ import annotations

import itertools
import os
import warnings
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pvlib
import pyarrow.parquet as pq
import pytest
from demandlib import bdew

from gridledger.errors import ScenarioError
from gridledger.sim.city_run import run_scenario
from gridledger.sim.field_profiles import (
    FieldProfiles,
    household_families,
    region_weather,
)
from gridledger.sim.households import region_households
from gridledger.sim.load import HouseholdLoads
from gridledger.sim.pv import ROOF_TEMPERATURE_MODEL, PVSystems, pv_energy_wh, sample_times
from gridledger.sim.region_run import RunOptions
from gridledger.sim.scenario import Scenario, parse_scenario
from gridledger.sim.sources import field_profiles
from gridledger.sim.weather import FileWeather, StochasticWeather, read_weather_file
from gridledger.slots import Slot

TMY3 = Path(os.path.dirname(pvlib.__file__)) / "data" / "723170TYA.CSV"
DATA = Path(__file__).resolve().parent / "data"
# pvlib's ModelChain reads DatetimeIndex.dayofyear, which pandas 3 deprecates; not ours to fix.
PVLIB_ON_PANDAS3 = "ignore:.*dayofyear is deprecated:DeprecationWarning"

ROOF = {"pv_kwp": 5.2, "tilt_deg": 35, "azimuth_deg": 200}


def year_scenario() -> Scenario:
    """One year of hourly slots in UTC: a PV home on an H0 profile, a home on G0 without PV."""
    return parse_scenario(
        {
            "name": "year",
            "seed": 3,
            "place": {"lat": 52.52, "lon": 13.40, "altitude_m": 34},
            "time": {"start": "2026-01-01", "days": 365, "slot_minutes": 60},
            "regions": [
                {
                    "name": "r",
                    "homes": [
                        {**ROOF, "annual_kwh": 3500, "profile": "h0"},
                        {"pv_kwp": 0, "annual_kwh": 4500, "profile": "g0"},
                    ],
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def year_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Path]:
    scenario = year_scenario()
    out = tmp_path_factory.mktemp("year")
    run_scenario(scenario, RunOptions(out, per_household=True))
    return scenario, out


def modelchain_ac_w(
    weather: StochasticWeather | FileWeather, times: pd.DatetimeIndex, dc_w: float
) -> np.ndarray:
    """AC power [W] of :data:`ROOF` from pvlib's ``ModelChain.with_pvwatts`` at ``times``."""
    location = pvlib.location.Location(
        weather.latitude, weather.longitude, altitude=weather.altitude
    )
    system = pvlib.pvsystem.PVSystem(
        surface_tilt=ROOF["tilt_deg"],
        surface_azimuth=ROOF["azimuth_deg"],
        module_parameters={"pdc0": dc_w, "gamma_pdc": -0.004},
        inverter_parameters={"pdc0": dc_w / 1.1 / 0.96, "eta_inv_nom": 0.96},
        temperature_model_parameters=ROOF_TEMPERATURE_MODEL,
    )
    chain = pvlib.modelchain.ModelChain.with_pvwatts(system, location)
    chain.run_model(weather.at(times).to_frame())
    return np.asarray(chain.results.ac.fillna(0.0).clip(lower=0.0).to_numpy(), dtype=np.float64)


def demandlib_profile(year: int, family: str) -> pd.Series:
    """demandlib's own BDEW profile of ``year`` per quarter hour, as shares of the year."""
    with warnings.catch_warnings(), mock.patch.object(warnings, "simplefilter"):
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        frame = pd.DataFrame(bdew.ElecSlp(year).get_profiles())
    series = frame[family]
    return series / series.sum()


@pytest.mark.filterwarnings(PVLIB_ON_PANDAS3)
def test_annual_pv_yield_of_a_run_equals_pvlib_pvwatts(year_run: tuple[Scenario, Path]) -> None:
    scenario, out = year_run
    totals = pq.read_table(out / "households.parquet").to_pandas()
    run_wh = int(totals.pv_wh.iloc[0])
    weather = region_weather(scenario, 0)
    assert isinstance(weather, StochasticWeather)
    first = Slot(int(scenario.start.timestamp()), 3600)
    times = sample_times(first, scenario.slots, 4)  # the run samples each hour four times
    reference_wh = modelchain_ac_w(weather, times, 5200.0).sum() * 0.25
    assert 3000e3 < reference_wh < 7000e3  # about 1,000 kWh/kWp in Berlin
    assert abs(run_wh / reference_wh - 1) < 0.01
    assert int(totals.pv_wh.iloc[1]) == 0
    series = pq.read_table(out / "households" / "r.parquet").to_pandas()
    assert int(series.pv_wh[series.household == 0].sum()) == run_wh


def test_annual_load_of_a_run_is_its_annual_kwh_in_demandlibs_shape(
    year_run: tuple[Scenario, Path],
) -> None:
    _, out = year_run
    totals = pq.read_table(out / "households.parquet").to_pandas()
    # a local (here UTC) calendar year of noisy load sums to the annual energy exactly
    assert totals.load_wh.tolist() == [3_500_000, 4_500_000]
    series = pq.read_table(out / "households" / "r.parquet").to_pandas()
    for household, family, annual in ((0, "h0", 3500), (1, "g0", 4500)):
        run = series.load_wh[series.household == household].to_numpy(dtype=np.float64)
        shares = demandlib_profile(2026, family).to_numpy().reshape(-1, 4).sum(axis=1)
        expected = shares * annual * 1000
        # noise averages out: the average day and the monthly energies are demandlib's
        run_day = run.reshape(365, 24).mean(axis=0)
        expected_day = expected.reshape(365, 24).mean(axis=0)
        assert np.corrcoef(run_day, expected_day)[0, 1] > 0.99
        assert np.abs(run_day / expected_day - 1).max() < 0.05
        months = pd.date_range("2026-01-01", periods=8760, freq="h").month.to_numpy()
        run_month = np.bincount(months, weights=run)[1:]
        expected_month = np.bincount(months, weights=expected)[1:]
        assert np.abs(run_month / expected_month - 1).max() < 0.08


def test_without_noise_each_hour_is_demandlibs() -> None:
    data = {
        "time": {"start": "2026-01-01", "days": 365, "slot_minutes": 60},
        "regions": [
            {
                "name": "r",
                "load": {"slot_sigma": 0, "day_sigma": 0},
                "homes": [{"pv_kwp": 0, "annual_kwh": 3500, "profile": "h0"}],
            }
        ],
    }
    scenario = parse_scenario(data)
    source = field_profiles(scenario, 0, region_households(scenario, 0))
    load = source.load_wh(0, scenario.slots)[:, 0]
    expected = demandlib_profile(2026, "h0").to_numpy().reshape(-1, 4).sum(axis=1) * 3.5e6
    assert int(load.sum()) == 3_500_000
    assert np.abs(load - expected).max() < 1.0


def dst_scenario(**region: Any) -> Scenario:
    """Two days over the spring DST change in Berlin, 15-minute slots, everything switched on."""
    base: dict[str, Any] = {
        "name": "dst",
        "households": 30,
        "pv": {"share": 0.7, "tilt_deg": [10, 50], "azimuth_deg": [90, 270]},
        "load": {"profile": {"choices": ["h0_dyn", "h25", "g0"], "weights": [3, 1, 1]}},
        "ev": {"share": 0.5},
        "homes": [{"load_w": 400, "pv_kwp": 3}],
    }
    base.update(region)
    return parse_scenario(
        {
            "seed": 5,
            "place": {"timezone": "Europe/Berlin", "holidays": ["2026-03-30"]},
            "time": {"start": "2026-03-28", "days": 3},
            "regions": [base, {**base, "name": "other"}],
        }
    )


def test_chunks_give_the_same_profiles() -> None:
    scenario = dst_scenario()
    source = field_profiles(scenario, 0, region_households(scenario, 0))
    n = scenario.slots
    whole = [source.pv_wh(0, n), source.load_wh(0, n), source.ev_wh(0, n)]
    assert all(a.dtype == np.int64 and a.shape == (n, 31) for a in whole)
    assert all(a.sum() > 0 for a in whole)
    cuts = [0, 37, 40, 95, 96, 200, n]
    pieces: list[list[np.ndarray]] = [[], [], []]
    for lo, hi in itertools.pairwise(cuts):
        pieces[0].append(source.pv_wh(lo, hi - lo))
        pieces[1].append(source.load_wh(lo, hi - lo))
        pieces[2].append(source.ev_wh(lo, hi - lo))
    for a, parts in zip(whole, pieces, strict=True):
        assert np.array_equal(a, np.concatenate(parts))


def test_same_seed_same_profiles_regions_and_seeds_differ() -> None:
    scenario = dst_scenario()
    a = field_profiles(scenario, 0, region_households(scenario, 0))
    b = field_profiles(scenario, 0, region_households(scenario, 0))
    assert np.array_equal(a.load_wh(0, 96), b.load_wh(0, 96))
    assert np.array_equal(a.pv_wh(0, 96), b.pv_wh(0, 96))
    other_region = field_profiles(scenario, 1, region_households(scenario, 1))
    assert not np.array_equal(a.load_wh(0, 96), other_region.load_wh(0, 96))
    reseeded = replace(scenario, seed=6)
    c = field_profiles(reseeded, 0, region_households(reseeded, 0))
    assert not np.array_equal(a.load_wh(0, 96), c.load_wh(0, 96))
    assert not np.array_equal(a.pv_wh(0, 96), c.pv_wh(0, 96))


def test_neighbours_see_the_same_clouds() -> None:
    scenario = parse_scenario(
        {
            "time": {"start": "2026-05-01", "days": 4},
            "regions": [
                {"name": "a", "homes": [{"pv_kwp": 4}, {"pv_kwp": 8}]},
                {"name": "b", "homes": [{"pv_kwp": 4}]},
            ],
        }
    )
    a = field_profiles(scenario, 0, region_households(scenario, 0)).pv_wh(0, scenario.slots)
    b = field_profiles(scenario, 1, region_households(scenario, 1)).pv_wh(0, scenario.slots)
    # same roof in one region: the same output per kWp, to rounding
    assert np.abs(a[:, 1] - 2 * a[:, 0]).max() <= 2
    # the next region has clouds of its own
    assert np.abs(a[:, 0] - b[:, 0]).max() > 100


def test_ev_charges_its_daily_energy_in_the_evening_within_the_charger() -> None:
    scenario = parse_scenario(
        {
            "place": {"timezone": "Europe/Berlin"},
            "time": {"start": "2026-04-01", "days": 60},
            "regions": [{"name": "r", "households": 200, "ev": {"share": 1, "kwh_per_day": 10}}],
        }
    )
    h = region_households(scenario, 0)
    source = FieldProfiles(scenario, 0, h)
    ev = source.ev_wh(0, scenario.slots)
    assert (ev <= 11000 // 4).all()  # an 11 kW charger delivers at most 2,750 Wh a slot
    daily = ev.sum() / 200 / 60
    assert daily == pytest.approx(10_000, rel=0.05)
    local = pd.date_range(scenario.start, periods=scenario.slots, freq="15min").tz_convert(
        "Europe/Berlin"
    )
    daytime = (local.hour >= 11) & (local.hour < 14)
    assert ev[daytime].sum() == 0  # cars are away, or already full


def test_load_families_are_drawn_per_household_and_homes_keep_theirs() -> None:
    scenario = dst_scenario(homes=[{"profile": "G0", "count": 2}])
    families = household_families(scenario, 0, region_households(scenario, 0))
    assert len(families) == 32 and families[-2:] == ("g0", "g0")
    drawn = families[:30]
    assert set(drawn) <= {"h0_dyn", "h25", "g0"} and drawn.count("h0_dyn") > drawn.count("h25")


def test_holidays_and_the_time_zone_reach_the_loads() -> None:
    scenario = dst_scenario()
    h = region_households(scenario, 0)
    source = FieldProfiles(scenario, 0, h)
    assert source.loads.tz == "Europe/Berlin"
    assert source.loads.holidays == frozenset({date(2026, 3, 30)})
    plain = HouseholdLoads.create(
        h.annual_kwh.astype(np.float64),
        household_families(scenario, 0, h),
        tz="Europe/Berlin",
        seed=source.loads.seed,
    )
    first = Slot(int(scenario.start.timestamp()), 900)
    with_holiday = source.loads.energy_wh(first, scenario.slots)
    without = plain.energy_wh(first, scenario.slots)
    monday = slice(2 * 96 - 4, 3 * 96 - 4)  # 30 March in local time (after the DST change)
    assert np.abs(with_holiday[monday] - without[monday]).max() > 20
    # other days change only through the year's normalisation: at most a rounding step
    assert np.abs(with_holiday[:90] - without[:90]).max() <= 2


@pytest.mark.filterwarnings(PVLIB_ON_PANDAS3)
def test_a_weather_file_drives_the_pv() -> None:
    scenario = parse_scenario(
        {
            "place": {"lat": 36.1, "lon": -79.95},
            "weather": {"file": str(TMY3)},
            "time": {"start": "2026-06-01", "days": 3},
            "regions": [{"name": "r", "homes": [ROOF]}],
        }
    )
    weather = region_weather(scenario, 0)
    assert isinstance(weather, FileWeather)
    source = field_profiles(scenario, 0, region_households(scenario, 0))
    first = Slot(int(scenario.start.timestamp()), 900)
    expected = pv_energy_wh(
        PVSystems.create([5200.0], [35.0], [200.0]), read_weather_file(TMY3), first, scenario.slots
    )
    assert np.array_equal(source.pv_wh(0, scenario.slots), expected)
    # a CSV has no site: the region's is used
    csv = parse_scenario(
        {
            "place": {"lat": 36.1, "lon": -79.95},
            "weather": {"source": "file", "file": "weather_2days.csv", "format": "csv"},
            # the file covers 1 June 05:00 to 3 June 04:00 UTC: whole UTC days of 2 June
            "time": {"start": "2026-06-02T00:00:00+00:00", "days": 1},
            "regions": [{"name": "r", "homes": [ROOF]}],
        },
        DATA,
    )
    csv_weather = region_weather(csv, 0)
    assert (csv_weather.latitude, csv_weather.longitude) == (36.1, -79.95)
    assert field_profiles(csv, 0, region_households(csv, 0)).pv_wh(0, csv.slots).sum() > 10_000


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weather": {"source": "satellite"}}, "weather.source"),
        ({"weather": {"source": "file"}}, "weather.file is required"),
        ({"weather": {"file": "nowhere.epw"}}, "weather.file: file"),
        ({"weather": {"file": str(TMY3), "format": "grib"}}, "weather.format"),
        ({"weather": {"file": str(TMY3)}}, "far from regions"),
        ({"weather": {"file": str(DATA / "weather_2days.csv")}}, "weather.file"),
        ({"weather": {"file": str(TMY3), "source": "stochastic"}}, "reads no file"),
        ({"place": {"holidays": ["Christmas"]}}, "place.holidays[0]"),
        (
            {
                "place": {"lat": 36.1, "lon": -79.95},
                "weather": {"file": str(DATA / "weather_2days.csv")},
                "time": {"start": "2026-06-01T00:00:00-05:00"},
            },
            "no record for 2026-06-01T00:00:00",
        ),
        ({"place": {"holidays": "2026-12-25"}}, "place.holidays"),
        ({"regions": [{"name": "r", "households": 1, "load": {"profile": "X9"}}]}, "X9"),
        (
            {"regions": [{"name": "r", "households": 1, "load": {"profile": {"choices": []}}}]},
            "regions[0].load.profile",
        ),
        (
            {"regions": [{"name": "r", "homes": [{"profile": "flat"}]}]},
            "regions[0].homes[0].profile",
        ),
        (
            {"regions": [{"name": "r", "households": 1, "ev": {"plug_probability": 2}}]},
            "regions[0].ev.plug_probability",
        ),
    ],
)
def test_bad_profile_fields_are_named(changes: dict[str, Any], message: str) -> None:
    data: dict[str, Any] = {"regions": [{"name": "r", "households": 1}]}
    data.update(changes)
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(data)
