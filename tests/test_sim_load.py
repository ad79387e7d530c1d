"""Household load from demandlib's BDEW profiles: annual energy, shape, noise, local time."""

from __future__ import annotations

import itertools
import warnings
from datetime import UTC, date, datetime
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from demandlib import bdew
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.errors import ValidationError
from gridledger.sim.load import FAMILIES, HouseholdLoads, profile_shape
from gridledger.slots import Slot


def utc_year(year: int, minutes: int = 15) -> tuple[Slot, int]:
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    return Slot(start, minutes * 60), (end - start) // (minutes * 60)


def local_year(year: int, tz: str, minutes: int = 15) -> tuple[Slot, int]:
    start = int(pd.Timestamp(f"{year}-01-01", tz=tz).timestamp())
    end = int(pd.Timestamp(f"{year + 1}-01-01", tz=tz).timestamp())
    return Slot(start, minutes * 60), (end - start) // (minutes * 60)


def demandlib_elec_slp(year: int, holidays: list[date] | None = None) -> pd.DataFrame:
    """demandlib's own ElecSlp profiles (shares of the year per quarter hour)."""
    # demandlib 0.2.2 sets warnings.simplefilter("error") and then hits pandas 3 deprecations.
    with warnings.catch_warnings(), mock.patch.object(warnings, "simplefilter"):
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        return pd.DataFrame(bdew.ElecSlp(year, holidays=holidays).get_profiles())


@pytest.mark.parametrize("family", ["h0", "h0_dyn", "g0", "l0"])
def test_noise_free_profile_is_demandlibs_elecslp(family: str) -> None:
    loads = HouseholdLoads.create([3500.0], family, slot_sigma=0, day_sigma=0)
    first, count = utc_year(2025)
    mine = loads.mean_wh(first, count)[:, 0]
    reference = demandlib_elec_slp(2025)[family].to_numpy()
    reference = reference / reference.sum() * 3500e3  # demandlib's h0_dyn sums to 1.00005
    np.testing.assert_allclose(mine, reference, rtol=1e-9)
    integer = loads.energy_wh(first, count)[:, 0]
    assert (np.abs(integer - reference) < 1).all()
    assert integer.sum() == 3_500_000
    assert np.corrcoef(integer, reference)[0, 1] > 0.99


def test_bdew_2025_household_profile_is_demandlibs_h25() -> None:
    loads = HouseholdLoads.create([2800.0], "h25", slot_sigma=0, day_sigma=0)
    first, count = utc_year(2026)
    index = pd.date_range("2026-01-01", periods=count, freq="15min")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        reference = bdew.H25(index).to_numpy()
    np.testing.assert_allclose(
        loads.mean_wh(first, count)[:, 0], reference / reference.sum() * 2800e3, rtol=1e-9
    )


def test_dynamisation_moves_energy_to_winter() -> None:
    first, count = utc_year(2025)
    static = HouseholdLoads.create([3000.0], "h0", slot_sigma=0, day_sigma=0)
    dynamic = HouseholdLoads.create([3000.0], "h0_dyn", slot_sigma=0, day_sigma=0)
    months = pd.date_range("2025-01-01", periods=count, freq="15min").month
    s, d = static.mean_wh(first, count)[:, 0], dynamic.mean_wh(first, count)[:, 0]
    assert d[months == 1].sum() > 1.1 * s[months == 1].sum()
    assert d[months == 7].sum() < 0.9 * s[months == 7].sum()


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_annual_energy_is_kept_with_noise_in_local_time(tz: str) -> None:
    annual = np.array([1800.0, 3200.0, 4700.0, 0.0])
    loads = HouseholdLoads.create(annual, ["h0_dyn", "h0", "h25", "h0"], tz=tz, seed=9)
    first, count = local_year(2025, tz)
    energy = loads.energy_wh(first, count)
    assert energy.dtype == np.int64 and energy.shape == (count, 4)
    np.testing.assert_array_equal(energy.sum(axis=0), (annual * 1000).astype(np.int64))
    assert (energy >= 0).all()
    noise_free = loads.mean_wh(first, count)
    # The noise-free profile loses or repeats a DST hour; the noisy one keeps whole days.
    np.testing.assert_allclose(noise_free.sum(axis=0), annual * 1000, rtol=1e-3)
    # Noise is real but keeps the shape recognisable.
    r = np.corrcoef(energy[:, 0], noise_free[:, 0])[0, 1]
    assert 0.5 < r < 0.99


def test_local_time_shifts_the_evening_peak() -> None:
    first, count = utc_year(2025)
    utc = HouseholdLoads.create([3000.0], "h0", slot_sigma=0, day_sigma=0)
    berlin = HouseholdLoads.create([3000.0], "h0", tz="Europe/Berlin", slot_sigma=0, day_sigma=0)
    january = slice(0, 96 * 31)
    peak_utc = np.argmax(utc.mean_wh(first, count)[january, 0].reshape(31, 96).mean(axis=0))
    peak_berlin = np.argmax(berlin.mean_wh(first, count)[january, 0].reshape(31, 96).mean(axis=0))
    assert peak_utc - peak_berlin == 4  # CET is one hour (four quarters) ahead of UTC


@pytest.mark.parametrize("minutes", [5, 10, 20, 30, 60])
def test_every_slot_length_gives_the_same_energy(minutes: int) -> None:
    loads = HouseholdLoads.create([3000.0, 5000.0], tz="Europe/Berlin", seed=2)
    first, count = local_year(2025, "Europe/Berlin", minutes)
    energy = loads.energy_wh(first, count)
    np.testing.assert_array_equal(energy.sum(axis=0), [3_000_000, 5_000_000])
    quarter = HouseholdLoads.create([3000.0], "h0", slot_sigma=0, day_sigma=0)
    f15, c15 = utc_year(2025, 15)
    fm, cm = utc_year(2025, minutes)
    fine = quarter.mean_wh(f15, c15)[:, 0]
    coarse = quarter.mean_wh(fm, cm)[:, 0]
    if minutes % 15 == 0:
        np.testing.assert_allclose(coarse, fine.reshape(cm, -1).sum(axis=1), rtol=1e-9)
    np.testing.assert_allclose(coarse.sum(), fine.sum(), rtol=1e-12)


def test_chunks_give_the_same_load_across_dst() -> None:
    loads = HouseholdLoads.create(
        [2500.0, 4000.0, 6000.0], ["h0_dyn", "g0", "h25"], tz="Europe/Berlin", seed=4
    )
    first = Slot(int(datetime(2025, 3, 28, 13, 45, tzinfo=UTC).timestamp()), 900)
    count = 96 * 5
    whole = loads.energy_wh(first, count)
    parts = [
        loads.energy_wh(Slot(first.start_s + i * 900, 900), min(61, count - i))
        for i in range(0, count, 61)
    ]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_chunks_give_the_same_load_across_new_year() -> None:
    loads = HouseholdLoads.create([3000.0], tz="America/New_York", seed=4)
    first = Slot(int(datetime(2025, 12, 30, tzinfo=UTC).timestamp()), 3600)
    whole = loads.energy_wh(first, 24 * 4)
    parts = [loads.energy_wh(Slot(first.start_s + i * 3600, 3600), 7) for i in range(0, 96, 7)]
    np.testing.assert_array_equal(np.concatenate(parts)[:96], whole)


def test_same_seed_same_load_other_seed_other_load() -> None:
    first = Slot(int(datetime(2025, 5, 5, tzinfo=UTC).timestamp()), 900)
    a = HouseholdLoads.create([3000.0] * 3, seed=1).energy_wh(first, 96 * 2)
    b = HouseholdLoads.create([3000.0] * 3, seed=1).energy_wh(first, 96 * 2)
    c = HouseholdLoads.create([3000.0] * 3, seed=2).energy_wh(first, 96 * 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[:, 0], a[:, 1])  # households differ from each other


def test_adding_households_keeps_the_earlier_ones() -> None:
    first = Slot(int(datetime(2025, 5, 5, tzinfo=UTC).timestamp()), 900)
    few = HouseholdLoads.create([3000.0, 4000.0], seed=1, day_sigma=0).energy_wh(first, 96)
    more = HouseholdLoads.create([3000.0, 4000.0, 5000.0], seed=1, day_sigma=0).energy_wh(first, 96)
    np.testing.assert_array_equal(more[:, :2], few)


def test_day_noise_off_keeps_each_day() -> None:
    loads = HouseholdLoads.create([3000.0], "h0", seed=3, day_sigma=0)
    first, count = utc_year(2025)
    energy = loads.energy_wh(first, count)[:, 0].reshape(365, 96).sum(axis=1)
    expected = loads.mean_wh(first, count)[:, 0].reshape(365, 96).sum(axis=1)
    assert np.abs(energy - expected).max() <= 1


def test_holidays_look_like_sundays() -> None:
    shape = profile_shape(2025, "h0", frozenset({date(2025, 10, 1)}))  # a Wednesday
    plain = profile_shape(2025, "h0")

    def day(s: np.ndarray, d: int) -> np.ndarray:
        return s[(d - 1) * 96 : d * 96]

    wednesday, sunday = 274, 278  # 1 and 5 October 2025 (both transition season)
    # Equal up to the year's normalisation, which the extra holiday changes slightly.
    np.testing.assert_allclose(
        day(shape, wednesday) / day(shape, wednesday).sum(),
        day(plain, sunday) / day(plain, sunday).sum(),
        rtol=1e-12,
    )
    assert not np.allclose(day(plain, wednesday), day(plain, sunday))
    reference = demandlib_elec_slp(2025, [date(2025, 10, 1)])["h0"].to_numpy()
    np.testing.assert_allclose(shape, reference / reference.sum(), rtol=1e-12)


def test_shapes_cover_every_family() -> None:
    for family in FAMILIES:
        shape = profile_shape(2024, family)
        assert shape.shape == (366 * 96,) and abs(shape.sum() - 1) < 1e-12
        assert (shape >= 0).all()
        assert not shape.flags.writeable


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"families": "x9"}, "unknown load profile family"),
        ({"families": ["h0", "h0", "h0"]}, "one per household"),
        ({"tz": "Mars/Olympus"}, "unknown time zone"),
        ({"slot_sigma": -0.1}, "noise"),
    ],
)
def test_bad_inputs_say_what_to_fix(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        HouseholdLoads.create([3000.0, 2000.0], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="annual_kwh"):
        HouseholdLoads.create([-1.0])


@settings(max_examples=12)
@given(
    cuts=st.lists(st.floats(0.01, 0.99), max_size=5),
    minutes=st.sampled_from([5, 15, 20, 60]),
    tz=st.sampled_from(["Europe/Berlin", "Australia/Adelaide"]),
)
def test_any_chunking_gives_the_same_load(cuts: list[float], minutes: int, tz: str) -> None:
    loads = HouseholdLoads.create([2000.0, 3500.0], ["h0_dyn", "h25"], tz=tz, seed=8)
    first = Slot(int(datetime(2025, 10, 3, 22, tzinfo=UTC).timestamp()), minutes * 60)
    count = 3 * 1440 // minutes
    bounds = sorted({0, count, *(int(c * count) for c in cuts)})
    parts = [
        loads.energy_wh(Slot(first.start_s + a * first.length_s, first.length_s), b - a)
        for a, b in itertools.pairwise(bounds)
    ]
    np.testing.assert_array_equal(np.concatenate(parts), loads.energy_wh(first, count))
