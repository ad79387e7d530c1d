"""A region's profiles from the field's libraries: the default :class:`ProfileSource` of scenarios.

:class:`FieldProfiles` adapts the part-1 modules to the runner's interface (run slot ``first``, 0 =
the scenario start; int64 Wh of shape ``(count, households)``):

* **PV** (:mod:`gridledger.sim.pv`): pvlib's PVWatts chain for each household's kWp, tilt and
  azimuth, under the region's weather (:func:`region_weather`): either pvlib's clear sky times the
  region's seeded :class:`~gridledger.sim.weather.CloudProcess` (one per region, so neighbours see
  the same clouds) or the scenario's weather file. Only households with PV are computed; equal
  orientations (to 1 degree) share one chain run.
* **Load** (:mod:`gridledger.sim.load`): demandlib's BDEW profile of each household's family,
  scaled to its annual kWh, in the scenario's time zone with its holidays, with seeded noise that
  keeps annual energy; ``flat`` households draw a constant power.
* **EV** (:mod:`gridledger.sim.ev`): seeded arrival/departure sessions turned into uncontrolled
  charging (full power from arrival until the need is met). The model's session energy is scaled
  per household so its long-run mean is the household's ``kwh_per_day``, then capped again by the
  usable battery and by what the charger delivers while plugged in.

Seeds: each module gets ``hash(scenario seed, region index, stream)`` (SplitMix64 of
:mod:`gridledger.sim.counter_rng`), so two regions never share draws and one scenario seed gives
the same profiles in any process. Every module is chunk-invariant (it widens a window to whole
days internally and draws by (seed, day)), so the source is too: a run in weekly chunks and one in
37-slot chunks see identical arrays.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import cast

import numpy as np
import numpy.typing as npt

from gridledger.errors import ConfigError, ScenarioError
from gridledger.sim import counter_rng
from gridledger.sim.ev import EVFleet, EVSessions, immediate_charging_wh
from gridledger.sim.households import Households
from gridledger.sim.load import HouseholdLoads
from gridledger.sim.pv import PVSystems, pv_energy_wh
from gridledger.sim.scenario import DEFAULT_LOAD_FAMILY, FLAT_PROFILE, Scenario
from gridledger.sim.weather import (
    CloudProcess,
    StochasticWeather,
    Weather,
    WeatherFormat,
    read_weather_file,
)
from gridledger.slots import Slot

I64 = npt.NDArray[np.int64]

#: Stream tags of the seeds derived from the scenario seed.
WEATHER_STREAM = 1
LOAD_STREAM = 2
EV_STREAM = 3
FAMILY_STREAM = 4


def derived_seed(seed: int, region: int, stream: int) -> int:
    """The seed of one module in one region: SplitMix64 of (scenario seed, region, stream)."""
    return int(counter_rng.hash_words(seed, region, stream)[0])


def region_weather(scenario: Scenario, index: int) -> Weather:
    """The weather of ``scenario.regions[index]``.

    Stochastic: pvlib clear sky at the region's site x the region's cloud process (its day boundary
    at local midnight, round(longitude / 15) hours from UTC). File: the scenario's weather file at
    the file's own site (EPW, TMY3), or at the region's site for a CSV, which has none.
    """
    region = scenario.regions[index]
    spec = scenario.weather
    if spec.source == "file" and spec.path is not None:
        fmt = cast("WeatherFormat | None", spec.format)  # validated by load_scenario
        try:
            return read_weather_file(spec.path, fmt)
        except ConfigError as exc:
            if "gives no site" not in str(exc):
                raise ScenarioError(f"weather.file: {exc}") from None
        return read_weather_file(
            spec.path,
            fmt,
            latitude=region.lat_deg,
            longitude=region.lon_deg,
            altitude=region.altitude_m,
        )
    clouds = CloudProcess(
        derived_seed(scenario.seed, index, WEATHER_STREAM),
        region=index,
        utc_offset_h=float(round(region.lon_deg / 15.0)),
    )
    return StochasticWeather(region.lat_deg, region.lon_deg, clouds, region.altitude_m)


def household_families(scenario: Scenario, index: int, households: Households) -> tuple[str, ...]:
    """Each household's load profile family: a seeded draw from the region's ``profile`` (a name
    or a weighted mix) for the generated households, each home's ``profile`` (or the region's
    first) for the explicit ones. ``flat`` households get the default family: they use none."""
    spec = scenario.regions[index]
    families = spec.load_families
    if families == (FLAT_PROFILE,):
        families = (DEFAULT_LOAD_FAMILY,)
    n = spec.households
    if len(families) == 1:
        drawn = [families[0]] * n
    else:
        rng = np.random.default_rng(derived_seed(scenario.seed, index, FAMILY_STREAM))
        w = np.array(spec.load_family_weights or [1.0] * len(families), np.float64)
        drawn = [families[i] for i in rng.choice(len(families), n, p=w / w.sum())]
    for home in spec.homes:
        drawn += [home.profile or families[0]] * home.count
    if len(drawn) != len(households):
        raise ScenarioError(
            f"region {spec.name!r}: {len(households)} households but {len(drawn)} load profiles"
        )
    return tuple(drawn)


def model_mean_daily_wh(fleet: EVFleet) -> float:
    """Mean energy [Wh] the EV model asks for per day, before caps: plug probability x median
    distance x the log-normal's mean factor x consumption."""
    per_session = fleet.daily_km_median * math.exp(fleet.daily_km_sigma**2 / 2) * fleet.kwh_per_km
    return fleet.plug_probability * per_session * 1000.0


class FieldProfiles:
    """PV from pvlib, loads from demandlib and EV sessions of one region (module docstring)."""

    def __init__(self, scenario: Scenario, index: int, households: Households) -> None:
        spec = scenario.regions[index]
        h = households
        self.households = len(h)
        self.start_s = int(scenario.start.timestamp())
        self.slot_s = scenario.slot_minutes * 60
        self.weather = region_weather(scenario, index)
        self.pv_rows = np.flatnonzero(h.pv_w > 0)
        self.pv_systems = PVSystems.create(
            h.pv_w[self.pv_rows].astype(np.float64),
            h.tilt_deg[self.pv_rows],
            h.azimuth_deg[self.pv_rows],
        )
        self.flat = np.flatnonzero(h.flat_load_w > 0)
        self.flat_wh = h.flat_load_w[self.flat] * self.slot_s // 3600
        self.loads = HouseholdLoads.create(
            h.annual_kwh.astype(np.float64),
            household_families(scenario, index, h),
            tz=scenario.timezone,
            holidays=scenario.holidays,
            seed=derived_seed(scenario.seed, index, LOAD_STREAM),
            slot_sigma=spec.load_slot_sigma,
            day_sigma=spec.load_day_sigma,
        )
        self.ev_rows = np.flatnonzero(h.ev_wh_per_day > 0)
        fleet = EVFleet.create(
            self.ev_rows,
            h.ev_power_w[self.ev_rows],
            tz=scenario.timezone,
            seed=derived_seed(scenario.seed, index, EV_STREAM),
            plug_probability=spec.ev_plug_probability,
            usable_kwh=spec.ev_usable_kwh,
        )
        self.fleet = replace(
            fleet, arrival_mean_h=spec.ev_arrival_hour, departure_mean_h=spec.ev_departure_hour
        )
        mean = model_mean_daily_wh(self.fleet)
        scale = np.zeros(max(self.households, 1), np.float64)
        if mean > 0:
            scale[self.ev_rows] = h.ev_wh_per_day[self.ev_rows] / mean
        self.ev_scale = scale

    def _slot(self, first: int) -> Slot:
        return Slot(self.start_s + first * self.slot_s, self.slot_s)

    def pv_wh(self, first: int, count: int) -> I64:
        """AC energy per slot and household [Wh] (0 without PV)."""
        out = np.zeros((count, self.households), np.int64)
        if len(self.pv_rows) and count:
            out[:, self.pv_rows] = pv_energy_wh(
                self.pv_systems, self.weather, self._slot(first), count
            )
        return out

    def load_wh(self, first: int, count: int) -> I64:
        """Consumption without the EV per slot and household [Wh]."""
        out = self.loads.energy_wh(self._slot(first), count)
        if len(self.flat):
            out[:, self.flat] = self.flat_wh[None, :]
        return out

    def sessions(self, first: int, count: int) -> EVSessions:
        """The charging sessions touching the window, their energy scaled to each household's
        ``kwh_per_day`` and capped by the usable battery and the charger while plugged in."""
        s = self.fleet.sessions(self._slot(first), count)
        per_slot = s.max_power_w * s.slot_s // 3600
        cap = np.minimum(
            round(self.fleet.usable_kwh * 1000),
            per_slot * np.maximum(s.departure_slot - s.arrival_slot, 0),
        )
        energy = np.minimum(np.round(s.energy_wh * self.ev_scale[s.household]), cap)
        return replace(s, energy_wh=energy.astype(np.int64))

    def ev_wh(self, first: int, count: int) -> I64:
        """Energy the EV chargers draw per slot and household [Wh], charging on arrival."""
        if len(self.ev_rows) == 0 or count == 0:
            return np.zeros((count, self.households), np.int64)
        sessions = self.sessions(first, count)
        keep = sessions.energy_wh > 0
        if not keep.all():
            sessions = EVSessions(
                sessions.household[keep], sessions.arrival_slot[keep],
                sessions.departure_slot[keep], sessions.energy_wh[keep],
                sessions.max_power_w[keep], sessions.slot_s,
            )  # fmt: skip
        return immediate_charging_wh(sessions, self._slot(first), count, self.households)
