"""Rooftop PV from the pvlib PVWatts chain, checked against pvlib's own ModelChain."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.errors import ValidationError
from gridledger.sim.pv import (
    ROOF_TEMPERATURE_MODEL,
    PVModel,
    PVSystems,
    ac_power_w,
    cumulative_round,
    default_losses_pct,
    pv_energy_wh,
    sample_times,
)
from gridledger.sim.weather import CloudProcess, FileWeather, StochasticWeather, read_weather_file
from gridledger.slots import Slot

TMY3 = Path(os.path.dirname(pvlib.__file__)) / "data" / "723170TYA.CSV"
# pvlib's ModelChain reads DatetimeIndex.dayofyear, which pandas 3 deprecates; not ours to fix.
PVLIB_ON_PANDAS3 = "ignore:.*dayofyear is deprecated:DeprecationWarning"


def slot_at(year: int, month: int, day: int, minutes: int = 15, hour: int = 0) -> Slot:
    return Slot(int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()), minutes * 60)


def modelchain_ac(
    weather: FileWeather | StochasticWeather,
    times: pd.DatetimeIndex,
    dc_w: float,
    tilt: float,
    azimuth: float,
) -> np.ndarray:
    """AC power [W] from pvlib's ModelChain.with_pvwatts for one system at ``times``."""
    location = pvlib.location.Location(
        weather.latitude, weather.longitude, altitude=weather.altitude
    )
    system = pvlib.pvsystem.PVSystem(
        surface_tilt=tilt,
        surface_azimuth=azimuth,
        module_parameters={"pdc0": dc_w, "gamma_pdc": -0.004},
        inverter_parameters={"pdc0": dc_w / 1.1 / 0.96, "eta_inv_nom": 0.96},
        temperature_model_parameters=ROOF_TEMPERATURE_MODEL,
    )
    chain = pvlib.modelchain.ModelChain.with_pvwatts(system, location)
    chain.run_model(weather.at(times).to_frame())
    return np.asarray(chain.results.ac.fillna(0.0).clip(lower=0.0).to_numpy(), dtype=np.float64)


@pytest.mark.filterwarnings(PVLIB_ON_PANDAS3)
def test_annual_yield_equals_pvlib_modelchain() -> None:
    weather = read_weather_file(TMY3)
    systems = PVSystems.create([5200.0], [30.0], [165.0])
    first = slot_at(2025, 1, 1, minutes=60)
    energy = pv_energy_wh(systems, weather, first, 8760)
    times = sample_times(first, 8760, 4)  # the four 15-minute midpoints of each hour
    reference_wh = modelchain_ac(weather, times, 5200.0, 30.0, 165.0).sum() * 0.25
    assert energy.dtype == np.int64 and energy.shape == (8760, 1)
    assert 6000e3 < reference_wh < 8000e3  # about 1,300 kWh/kWp in North Carolina
    assert abs(energy.sum() / reference_wh - 1) < 0.01
    assert abs(energy.sum() - reference_wh) < 365  # in fact: rounding only, < 0.5 Wh a day


@pytest.mark.filterwarnings(PVLIB_ON_PANDAS3)
def test_every_orientation_group_follows_the_modelchain() -> None:
    weather = StochasticWeather(48.1, 11.6, CloudProcess(seed=2, utc_offset_h=1), 520.0)
    tilts = np.array([0.0, 15.0, 35.0, 35.0, 60.0, 90.0])
    azimuths = np.array([180.0, 90.0, 180.0, 180.0, 270.0, 200.0])
    dc = np.array([3000.0, 4000.0, 5000.0, 10000.0, 6000.0, 2500.0])
    systems = PVSystems.create(dc, tilts, azimuths)
    times = pd.date_range("2025-06-20", periods=4 * 24 * 3, freq="15min", tz="UTC")
    power = ac_power_w(systems, weather.at(times), PVModel(orientation_step_deg=0))
    for i in range(len(dc)):
        reference = modelchain_ac(weather, times, dc[i], tilts[i], azimuths[i])
        np.testing.assert_allclose(power[:, i], reference, rtol=1e-6, atol=1e-3)


def berlin_weather(seed: int = 1) -> StochasticWeather:
    return StochasticWeather(52.52, 13.40, CloudProcess(seed, utc_offset_h=1), 34.0)


def street(n: int = 40, seed: int = 0) -> PVSystems:
    rng = np.random.default_rng(seed)
    return PVSystems.create(
        rng.uniform(2000, 12000, n).round(),
        rng.normal(30, 8, n).clip(0, 60),
        rng.normal(180, 45, n).clip(60, 300),
    )


def test_chunks_give_the_same_energy() -> None:
    systems, weather = street(), berlin_weather()
    first = slot_at(2025, 3, 29, hour=5)
    whole = pv_energy_wh(systems, weather, first, 96 * 4)
    parts = [
        pv_energy_wh(systems, weather, Slot(first.start_s + i * 900, 900), min(77, 96 * 4 - i))
        for i in range(0, 96 * 4, 77)
    ]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert whole.sum() > 0


def test_same_seed_same_energy_other_seed_other_energy() -> None:
    systems = street()
    first = slot_at(2025, 7, 1)
    a = pv_energy_wh(systems, berlin_weather(4), first, 96 * 3)
    b = pv_energy_wh(systems, berlin_weather(4), first, 96 * 3)
    c = pv_energy_wh(systems, berlin_weather(5), first, 96 * 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_integer_energy_tracks_float_energy_per_day() -> None:
    systems, weather = street(10), berlin_weather()
    first = slot_at(2025, 5, 10)
    count = 96 * 3
    model = PVModel()
    power = ac_power_w(systems, weather.at(sample_times(first, count, 1)), model)
    exact = power * 0.25
    energy = pv_energy_wh(systems, weather, first, count, model=model)
    assert (np.abs(energy - exact) < 1.0).all()
    daily_int = energy.reshape(3, 96, -1).sum(axis=1)
    np.testing.assert_array_equal(daily_int, np.rint(exact.reshape(3, 96, -1).sum(axis=1)))
    assert (energy >= 0).all()


def test_energy_scales_with_size_and_clips_at_the_inverter() -> None:
    weather = berlin_weather()
    first = slot_at(2025, 6, 1)
    small = PVSystems.create([4000.0], [35.0], [180.0])
    big = PVSystems.create([8000.0], [35.0], [180.0])
    e_small = pv_energy_wh(small, weather, first, 96 * 7)[:, 0]
    e_big = pv_energy_wh(big, weather, first, 96 * 7)[:, 0]
    assert abs(int(e_big.sum()) - 2 * int(e_small.sum())) <= 7  # rounding, once per day
    tiny_inverter = PVSystems.create([8000.0], [35.0], [180.0], ac_w=[2000.0])
    clipped = pv_energy_wh(tiny_inverter, weather, first, 96 * 7)[:, 0]
    assert clipped.max() <= 2000 * 0.25 + 1
    assert clipped.max() >= 2000 * 0.25 - 1  # a June week in Berlin reaches the limit
    assert clipped.sum() < e_big.sum()


def test_losses_and_orientation_matter() -> None:
    weather = berlin_weather()
    first = slot_at(2025, 6, 1)
    losses = [default_losses_pct(), default_losses_pct(), 30.0]
    south = PVSystems.create([5000.0] * 3, [35.0] * 3, [180.0, 0.0, 180.0], losses_pct=losses)
    e = pv_energy_wh(south, weather, first, 96 * 7).sum(axis=0)
    assert e[0] > 1.3 * e[1]  # south beats north
    ratio = (1 - 0.30) / (1 - default_losses_pct() / 100)
    assert abs(e[2] / e[0] - ratio) < 0.01  # more losses, proportionally less (below clipping)


def test_longer_slots_average_sub_samples() -> None:
    systems, weather = street(5), berlin_weather()
    hourly = pv_energy_wh(systems, weather, slot_at(2025, 8, 1, minutes=60), 24 * 3)
    quarter = pv_energy_wh(systems, weather, slot_at(2025, 8, 1, minutes=15), 96 * 3)
    # Four samples per hour at the quarters' midpoints: the same energy, regrouped.
    regrouped = quarter.reshape(24 * 3, 4, -1).sum(axis=1)
    assert np.abs(hourly - regrouped).max() <= 2
    np.testing.assert_array_equal(hourly.sum(axis=0), quarter.sum(axis=0))


def test_no_systems_and_no_slots() -> None:
    weather = berlin_weather()
    empty = PVSystems.create(np.zeros(0), np.zeros(0), np.zeros(0))
    assert pv_energy_wh(empty, weather, slot_at(2025, 1, 1), 96).shape == (96, 0)
    assert pv_energy_wh(street(3), weather, slot_at(2025, 1, 1), 0).shape == (0, 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tilt_deg": [95.0]}, "tilt_deg"),
        ({"azimuth_deg": [-10.0]}, "azimuth_deg"),
        ({"losses_pct": [100.0]}, "losses_pct"),
        ({"ac_w": [0.0]}, "ac_w"),
        ({"tilt_deg": [10.0, 20.0]}, "one per system"),
    ],
)
def test_bad_systems_say_what_to_fix(kwargs: dict[str, list[float]], match: str) -> None:
    args: dict[str, list[float]] = {"dc_w": [5000.0], "tilt_deg": [30.0], "azimuth_deg": [180.0]}
    args.update(kwargs)
    with pytest.raises(ValidationError, match=match):
        PVSystems.create(**args)


def test_bad_model_settings() -> None:
    with pytest.raises(ValidationError, match="transposition"):
        PVModel(transposition="klucher")


def test_cumulative_round_keeps_block_sums() -> None:
    rng = np.random.default_rng(0)
    energy = rng.uniform(0, 3, (50, 4))
    out = cumulative_round(energy, [0, 20, 35])
    assert (np.abs(out - energy) < 1).all()
    for s, e in ((0, 20), (20, 35), (35, 50)):
        np.testing.assert_array_equal(out[s:e].sum(axis=0), np.rint(energy[s:e].sum(axis=0)))


@settings(max_examples=8)
@given(cuts=st.lists(st.floats(0.01, 0.99), max_size=4), minutes=st.sampled_from([5, 30, 60]))
def test_any_chunking_gives_the_same_pv(cuts: list[float], minutes: int) -> None:
    systems, weather = street(6), berlin_weather(3)
    first = Slot(int(datetime(2025, 4, 2, 9, tzinfo=UTC).timestamp()), minutes * 60)
    count = 2 * 1440 // minutes
    bounds = sorted({0, count, *(int(c * count) for c in cuts)})
    parts = [
        pv_energy_wh(
            systems, weather, Slot(first.start_s + a * first.length_s, first.length_s), b - a
        )
        for a, b in itertools.pairwise(bounds)
    ]
    np.testing.assert_array_equal(
        np.concatenate(parts), pv_energy_wh(systems, weather, first, count)
    )
