"""Fast approximate profiles of the built-in example city (``gridledger simulate`` without a
scenario file, :mod:`gridledger.sim.runner`). Scenario runs use pvlib and demandlib instead
(:mod:`gridledger.sim.field_profiles`).

* PV: solar position from the standard declination / hour-angle equations (no equation of time),
  clear-sky global horizontal irradiance from the Haurwitz model (GHI = 1098 cos(z)
  exp(-0.057 / cos(z)) [W/m^2]), scaled by the installed peak power [W], a performance ratio and
  a per-day cloud factor; no tilt or azimuth.
* Load: the shape of the BDEW H0 standard load profile (German households), as hourly mean power
  per 1,000 kWh of annual consumption [W], scaled to each household's annual consumption; no
  season, weekday or holiday.

Everything returns integer watt-hours per slot, as meters report them. The models are kept, small,
so the built-in example runs offline in milliseconds and prints the same figures release after
release. Their accuracy against the libraries is pinned by ``tests/test_sim_profiles.py``: solar
zenith within 3.4 deg of pvlib's SPA (1 deg rms); clear-sky GHI pvlib's ``haurwitz`` to 2.1 W/m^2;
a flat roof's clear-sky year about 23% above pvlib's PVWatts (Haurwitz is brighter than Ineichen
and the performance ratio leaves out PVWatts' losses); the H0 table correlates 0.96 with
demandlib's H0 on transition-season workdays.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gridledger.slots import Slot

#: Hourly mean power [W] per 1,000 kWh/a of the BDEW H0 shape (workday, transition season).
H0_W_PER_MWH_A: tuple[int, ...] = (
    70, 58, 52, 50, 50, 56, 82, 118, 128, 124, 126, 140,
    160, 150, 128, 118, 120, 142, 182, 196, 180, 160, 132, 96,
)  # fmt: skip
PERFORMANCE_RATIO = 0.85


def solar_zenith_cos(
    times_s: npt.NDArray[np.int64], lat_deg: float, lon_deg: float
) -> npt.NDArray[np.float64]:
    """cos(solar zenith angle) at Unix times ``times_s`` for a site; negative below the horizon."""
    days = times_s / 86400.0
    day_of_year = (days % 365.2422) + 1
    decl = np.radians(23.45) * np.sin(np.radians(360.0 / 365.0 * (284 + day_of_year)))
    solar_hours = (times_s % 86400) / 3600.0 + lon_deg / 15.0
    hour_angle = np.radians(15.0 * (solar_hours - 12.0))
    lat = np.radians(lat_deg)
    return np.asarray(
        np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle),
        dtype=np.float64,
    )


def haurwitz_ghi(cos_zenith: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Clear-sky global horizontal irradiance [W/m^2] (Haurwitz 1945); zero below the horizon."""
    cz = np.clip(cos_zenith, 1e-6, None)
    ghi = 1098.0 * cz * np.exp(-0.057 / cz)
    return np.where(cos_zenith > 0.0, ghi, 0.0)


def pv_energy_wh(
    slots: list[Slot],
    peak_power_w: npt.NDArray[np.int64],
    lat_deg: float,
    lon_deg: float,
    cloud_factor: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
    """PV energy per household and slot [Wh], shape (households, slots).

    Irradiance is sampled at each slot's midpoint; ``cloud_factor`` (0..1, per household) dims it.
    """
    mid = np.array([s.start_s + s.length_s // 2 for s in slots], dtype=np.int64)
    hours = np.array([s.hours for s in slots])
    ghi = haurwitz_ghi(solar_zenith_cos(mid, lat_deg, lon_deg))
    power_w = peak_power_w[:, None] * (ghi[None, :] / 1000.0) * PERFORMANCE_RATIO
    energy = power_w * cloud_factor[:, None] * hours[None, :]
    out: npt.NDArray[np.int64] = np.floor(energy).astype(np.int64)
    return out


def load_energy_wh(
    slots: list[Slot],
    annual_kwh: npt.NDArray[np.int64],
    noise: npt.NDArray[np.float64],
    utc_offset_h: int = 0,
) -> npt.NDArray[np.int64]:
    """Household consumption per slot [Wh], shape (households, slots), H0-shaped.

    The profile is in local clock time, ``utc_offset_h`` hours ahead of UTC. ``noise`` has shape
    (households, slots): multiplicative variation around the profile.
    """
    hour_of_day = np.array([(s.start.hour + utc_offset_h) % 24 for s in slots])
    profile_w = np.array(H0_W_PER_MWH_A, dtype=np.float64)[hour_of_day]
    hours = np.array([s.hours for s in slots])
    energy = (annual_kwh[:, None] / 1000.0) * profile_w[None, :] * hours[None, :] * noise
    out: npt.NDArray[np.int64] = np.maximum(np.floor(energy), 0).astype(np.int64)
    return out
