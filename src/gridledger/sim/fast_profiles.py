"""The fast hand-rolled profile source: the approximations of :mod:`gridledger.sim.profiles`.

Scenario runs use the field's models by default (:mod:`gridledger.sim.field_profiles`: pvlib
PVWatts, demandlib BDEW loads, EV sessions). This source keeps the built-in example's
approximations (Haurwitz clear sky on a flat plate, a 24-value H0 table, EVs charged from a fixed
arrival hour) behind the same :class:`~gridledger.sim.sources.ProfileSource` interface, for
studies that need many quick runs and a fixed EV arrival (the demand-response study,
:mod:`gridledger.sim.demand_response`). ``tests/test_sim_profiles.py`` pins how far its numbers
are from pvlib's and demandlib's (a flat roof's clear-sky year about 23% above PVWatts): do not
use it for yields.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gridledger.sim import counter_rng
from gridledger.sim.households import Households
from gridledger.sim.profiles import (
    H0_W_PER_MWH_A,
    PERFORMANCE_RATIO,
    haurwitz_ghi,
    solar_zenith_cos,
)
from gridledger.sim.scenario import Scenario
from gridledger.sim.sources import ProfileSource, SlotTimes, read_profile_file

I64 = npt.NDArray[np.int64]

#: EV arrival [local hour] in the hand-rolled model.
EV_ARRIVAL_HOUR = 18


class HandRolledProfiles:
    """The built-in fast profiles of one region (see the module docstring)."""

    def __init__(self, scenario: Scenario, index: int, households: Households) -> None:
        self.h = households
        self.seed = scenario.seed
        self.region = index
        self.times = SlotTimes(scenario)
        self.hours = scenario.slot_minutes / 60
        self._pv_files = {
            i: read_profile_file(p, scenario.slots) for i, p in households.pv_files.items()
        }
        self._load_files = {
            i: read_profile_file(p, scenario.slots) for i, p in households.load_files.items()
        }
        self._ids = np.arange(len(households), dtype=np.int64)

    def pv_wh(self, first: int, count: int) -> I64:
        utc = self.times.utc_s(first, count)
        mid = utc + self.times.length_s // 2
        ghi = haurwitz_ghi(solar_zenith_cos(mid, self.h.lat_deg, self.h.lon_deg))
        day = utc // 86400
        # neighbours see the same clouds: one factor per region and day, a little spread per home
        regional = 0.35 + 0.65 * counter_rng.uniform(self.seed, self.region, 1, day)
        local = 0.9 + 0.1 * counter_rng.uniform(self.seed, self.region, 2, self._ids)
        power = (ghi * regional)[:, None] * (self.h.pv_w * local)[None, :] / 1000.0
        out = np.floor(power * PERFORMANCE_RATIO * self.hours).astype(np.int64)
        for i, values in self._pv_files.items():
            out[:, i] = values[first : first + count]
        return out

    def load_wh(self, first: int, count: int) -> I64:
        hour = self.times.local_hour(first, count)
        profile_w = np.array(H0_W_PER_MWH_A, np.float64)[hour]
        slots = np.arange(first, first + count, dtype=np.int64)
        noise = 0.7 + 0.6 * counter_rng.uniform(
            self.seed, self.region, 3, slots[:, None], self._ids[None, :]
        )
        energy = (self.h.annual_kwh / 1000.0)[None, :] * profile_w[:, None] * self.hours * noise
        out = np.floor(energy).astype(np.int64)
        flat = self.h.flat_load_w > 0
        if flat.any():
            out[:, flat] = (self.h.flat_load_w[flat] * self.times.length_s // 3600)[None, :]
        for i, values in self._load_files.items():
            out[:, i] = values[first : first + count]
        return out

    def ev_wh(self, first: int, count: int) -> I64:
        out = np.zeros((count, len(self.h)), np.int64)
        has_ev = np.flatnonzero(self.h.ev_wh_per_day > 0)
        if len(has_ev) == 0:
            return out
        local = self.times.local(first, count)
        minutes = np.asarray(local.hour * 60 + local.minute, np.int64) - EV_ARRIVAL_HOUR * 60
        day = np.asarray(local.day_of_year, np.int64) + 366 * np.asarray(local.year, np.int64)
        slot_cap = self.h.ev_power_w[has_ev] * self.times.length_s // 3600
        daily = np.floor(
            self.h.ev_wh_per_day[has_ev][None, :]
            * (
                0.7
                + 0.6
                * counter_rng.uniform(self.seed, self.region, 4, day[:, None], has_ev[None, :])
            )
        ).astype(np.int64)
        before = (np.maximum(minutes, 0) // (self.times.length_s // 60))[:, None] * slot_cap[
            None, :
        ]
        energy = np.clip(daily - before, 0, slot_cap[None, :])
        energy[minutes < 0, :] = 0
        out[:, has_ev] = energy
        return out


def hand_rolled(scenario: Scenario, index: int, households: Households) -> ProfileSource:
    """A :data:`~gridledger.sim.sources.ProfileFactory` of the fast approximations."""
    return HandRolledProfiles(scenario, index, households)
