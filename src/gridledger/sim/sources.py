"""Where a region's profiles come from: the :class:`ProfileSource` interface, replayed profile
files, and the default factory.

A profile source belongs to one region and gives, for ``count`` consecutive slots starting at run
slot ``first`` (0 = the scenario start), an int64 array of shape ``(count, households)``:

* :meth:`ProfileSource.pv_wh`: PV energy produced [Wh];
* :meth:`ProfileSource.load_wh`: household consumption without the EV [Wh];
* :meth:`ProfileSource.ev_wh`: energy the EV charger draws [Wh] (uncontrolled charging at
  arrival).

Values must not depend on how the run is cut into chunks (the runner asks for weeks, a test for
days). The default, :func:`field_profiles`, is
:class:`~gridledger.sim.field_profiles.FieldProfiles`: pvlib's PVWatts for each roof under the
region's weather, demandlib's BDEW loads, and the seeded EV session model. Replayed profile files
(``load_file``/``pv_file`` of an explicit home) override a household's column in any source
(:func:`with_replays`). Another source plugs in through :attr:`RunOptions.profiles
<gridledger.sim.region_run.RunOptions>`, a module-level :data:`ProfileFactory`.
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
from gridledger.sim.households import Households
from gridledger.sim.scenario import Scenario

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


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


class ReplayedProfiles:
    """A source with some households' PV or load replaced by measured profile files.

    ``pv_files`` / ``load_files`` map a household column to its file's ``energy_wh`` column (one
    row per run slot); every other column, and the EV, come from ``inner``.
    """

    def __init__(
        self, inner: ProfileSource, pv_files: dict[int, I64], load_files: dict[int, I64]
    ) -> None:
        self.inner = inner
        self.pv_files = pv_files
        self.load_files = load_files

    @staticmethod
    def _override(out: I64, files: dict[int, I64], first: int, count: int) -> I64:
        for i, values in files.items():
            out[:, i] = values[first : first + count]
        return out

    def pv_wh(self, first: int, count: int) -> I64:
        return self._override(self.inner.pv_wh(first, count), self.pv_files, first, count)

    def load_wh(self, first: int, count: int) -> I64:
        return self._override(self.inner.load_wh(first, count), self.load_files, first, count)

    def ev_wh(self, first: int, count: int) -> I64:
        return self.inner.ev_wh(first, count)


def with_replays(
    source: ProfileSource, scenario: Scenario, households: Households
) -> ProfileSource:
    """``source`` with the region's replayed files (``load_file`` / ``pv_file`` of its homes)."""
    if not households.pv_files and not households.load_files:
        return source
    return ReplayedProfiles(
        source,
        {i: read_profile_file(p, scenario.slots) for i, p in households.pv_files.items()},
        {i: read_profile_file(p, scenario.slots) for i, p in households.load_files.items()},
    )


def field_profiles(scenario: Scenario, index: int, households: Households) -> ProfileSource:
    """The default :data:`ProfileFactory`: pvlib PV, demandlib loads and the EV session model
    (:class:`~gridledger.sim.field_profiles.FieldProfiles`), with replayed files on top."""
    # imported here: pvlib and demandlib take seconds to import, and only scenario runs need them
    from gridledger.sim.field_profiles import FieldProfiles

    return with_replays(FieldProfiles(scenario, index, households), scenario, households)
