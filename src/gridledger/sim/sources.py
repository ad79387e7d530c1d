"""Where a region's profiles come from: the :class:`ProfileSource` interface and its adapter over
the hand-rolled models of :mod:`gridledger.sim.profiles`.

A profile source belongs to one region and gives, for ``count`` consecutive slots starting at run
slot ``first`` (0 = the scenario start), an int64 array of shape ``(count, households)``:

* :meth:`ProfileSource.pv_wh`: PV energy produced [Wh];
* :meth:`ProfileSource.load_wh`: household consumption without the EV [Wh];
* :meth:`ProfileSource.ev_wh`: energy the EV charger draws [Wh] (uncontrolled charging at
  arrival).

Values must not depend on how the run is cut into chunks (the runner asks for weeks, a test for
days). :class:`HandRolledProfiles` is the built-in adapter: a flat-plate Haurwitz clear-sky PV
with a seeded daily cloud factor per region (it ignores tilt and azimuth), the BDEW H0 hourly
shape with seeded noise in local time, and an EV that plugs in at 18:00 local time and charges
its day's energy at full power. It is a fast stand-in until the pvlib/demandlib sources
(``sim/pv.py``, ``sim/load.py``, ``sim/ev.py``) plug in through a :data:`ProfileFactory`.
Replayed profile files (``load_file``/``pv_file`` of an explicit home) override a household's
column in every source.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq

from gridledger.errors import ScenarioError
from gridledger.sim import counter_rng
from gridledger.sim.households import Households
from gridledger.sim.profiles import (
    H0_W_PER_MWH_A,
    PERFORMANCE_RATIO,
    haurwitz_ghi,
    solar_zenith_cos,
)
from gridledger.sim.scenario import Scenario

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: EV arrival [local hour] in the hand-rolled model.
EV_ARRIVAL_HOUR = 18


class ProfileSource(Protocol):
    """A region's PV, load and EV energy per slot and household [Wh]; see the module docstring."""

    def pv_wh(self, first: int, count: int) -> I64: ...

    def load_wh(self, first: int, count: int) -> I64: ...

    def ev_wh(self, first: int, count: int) -> I64: ...


#: Makes the profile source of ``scenario.regions[index]`` with households ``households``.
#: Must be a module-level function so regions can run in other processes.
ProfileFactory = Callable[[Scenario, int, Households], ProfileSource]


class SlotTimes:
    """The local calendar of run slots: UTC starts [s], local hour, minute and day number."""

    def __init__(self, scenario: Scenario) -> None:
        self.start_s = int(scenario.start.timestamp())
        self.length_s = scenario.slot_minutes * 60
        self.timezone = scenario.timezone

    def utc_s(self, first: int, count: int) -> I64:
        return self.start_s + self.length_s * np.arange(first, first + count, dtype=np.int64)

    def local(self, first: int, count: int) -> pd.DatetimeIndex:
        utc = pd.to_datetime(self.utc_s(first, count), unit="s", utc=True)
        return pd.DatetimeIndex(utc).tz_convert(self.timezone)

    def local_hour(self, first: int, count: int) -> I64:
        return np.asarray(self.local(first, count).hour, np.int64)


def read_profile_file(path: Path, slots: int) -> I64:
    """The ``energy_wh`` column of a CSV or Parquet profile: at least ``slots`` rows [Wh]."""
    if path.suffix.lower() == ".parquet":
        table = pq.read_table(path)
        names = table.column_names
        column = table.column("energy_wh").to_numpy() if "energy_wh" in names else None
    else:
        frame = pd.read_csv(path)
        names = list(frame.columns)
        column = frame["energy_wh"].to_numpy() if "energy_wh" in frame else None
    if column is None:
        raise ScenarioError(f"{path}: no column 'energy_wh' (found {names}); name it energy_wh")
    values = np.asarray(column)
    if len(values) < slots:
        raise ScenarioError(
            f"{path}: {len(values)} rows, the scenario needs {slots} (one per slot from the "
            "start); shorten the period or extend the file"
        )
    if not np.issubdtype(values.dtype, np.integer) or (values < 0).any():
        raise ScenarioError(f"{path}: energy_wh must be non-negative integers [Wh]")
    return values[:slots].astype(np.int64)


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
    """The default :data:`ProfileFactory`."""
    return HandRolledProfiles(scenario, index, households)
