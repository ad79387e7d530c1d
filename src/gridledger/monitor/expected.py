"""Expected PV output per site and slot: pvlib's clear sky, scaled by the sky the region had.

Two steps:

1. :func:`clear_sky_power_w`: what each site's system (kWp, tilt, azimuth, location) would
   produce under a clear sky: pvlib's solar position and Ineichen clear sky (Linke turbidity from
   pvlib's climatology), isotropic transposition to the plane of array, Faiman cell temperature
   and PVWatts DC power, times a nominal inverter efficiency. All sites at once, broadcasting
   ``(sites, 1)`` orientations against ``(1, slots)`` sun positions.
2. :func:`regional_clear_sky_index`: how much of the clear sky the region actually had in each
   slot, estimated from the *neighbours'* output: the median over the region's other healthy sites
   of measured / clear-sky power. The median ignores a minority of broken sites by itself; sites
   known to be faulted are excluded explicitly, and each site's own value is left out, so a fault
   of the site cannot hide in its own reference.

``expected = clear_sky_power x regional clear-sky index``. A site without neighbours gets NaN: the
detectors then fall back to checks that need no reference (or abstain).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib
from numpy.typing import NDArray

from gridledger.monitor.series import Fleet

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Inverter efficiency applied to PVWatts DC power (PVWatts' nominal 0.96).
INVERTER_EFFICIENCY = 0.96
#: PVWatts power temperature coefficient [1/K] (crystalline silicon).
GAMMA_PDC = -0.004
#: Air temperature [degC] and wind [m/s] assumed for the clear-sky cell temperature; the regional
#: clear-sky index absorbs what the real weather adds (every neighbour sees the same air).
AIR_TEMP_C = 15.0
WIND_M_S = 1.0


@dataclass(frozen=True)
class ClearSky:
    """Clear-sky quantities of a fleet over a chunk, each ``(sites, slots)``.

    ``power_w`` clear-sky AC power [W]; ``elevation_deg`` apparent solar elevation at mid-slot;
    ``azimuth_deg`` solar azimuth; ``beam_fraction`` the share of the plane-of-array irradiance
    that is direct beam (what an obstruction can take away).
    """

    power_w: FloatArray
    elevation_deg: FloatArray
    azimuth_deg: FloatArray
    beam_fraction: FloatArray


def _site_sky(
    latitude: float, longitude: float, times: pd.DatetimeIndex
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    location = pvlib.location.Location(latitude, longitude)
    sun = location.get_solarposition(times)
    sky = location.get_clearsky(times, model="ineichen", solar_position=sun)
    return (
        sun["apparent_zenith"].to_numpy(dtype=np.float64),
        sun["azimuth"].to_numpy(dtype=np.float64),
        sky["dni"].to_numpy(dtype=np.float64),
        sky["ghi"].to_numpy(dtype=np.float64),
        sky["dhi"].to_numpy(dtype=np.float64),
    )


def clear_sky(fleet: Fleet, start_s: float, slot_s: int, slots: int) -> ClearSky:
    """Clear-sky power and sun position of every site for ``slots`` slots from ``start_s``.

    Sites that share a location share one solar-position and clear-sky computation.
    """
    mid = start_s + slot_s * (np.arange(slots) + 0.5)
    times = pd.DatetimeIndex(pd.to_datetime(mid, unit="s", utc=True))
    n = fleet.n_sites
    zenith = np.empty((n, slots))
    sun_az = np.empty((n, slots))
    dni = np.empty((n, slots))
    ghi = np.empty((n, slots))
    dhi = np.empty((n, slots))
    coords = np.stack([fleet.latitude, fleet.longitude], axis=1)
    unique, inverse = np.unique(coords, axis=0, return_inverse=True)
    for k, (lat, lon) in enumerate(unique):
        rows = np.nonzero(inverse.ravel() == k)[0]
        z, a, b, g, d = _site_sky(float(lat), float(lon), times)
        zenith[rows], sun_az[rows], dni[rows], ghi[rows], dhi[rows] = z, a, b, g, d
    power, beam = pv_power_w(fleet, zenith, sun_az, dni, ghi, dhi)
    return ClearSky(power, 90.0 - zenith, sun_az, beam)


def pv_power_w(
    fleet: Fleet,
    zenith: FloatArray,
    sun_azimuth: FloatArray,
    dni: FloatArray,
    ghi: FloatArray,
    dhi: FloatArray,
    air_temp_c: FloatArray | float = AIR_TEMP_C,
) -> tuple[FloatArray, FloatArray]:
    """AC power [W] of every site's array for the given sky, and the POA beam fraction.

    Arrays are ``(sites, slots)`` [W/m^2, degrees]; PVWatts with ``pdc0 = peak_w`` at 1000 W/m^2.
    """
    tilt = fleet.tilt_deg[:, None]
    azimuth = fleet.azimuth_deg[:, None]
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, zenith, sun_azimuth, dni, ghi, dhi, model="isotropic"
    )
    global_poa = np.nan_to_num(np.asarray(poa["poa_global"], dtype=np.float64))
    direct = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=np.float64))
    global_poa = np.where(zenith < 90.0, np.maximum(global_poa, 0.0), 0.0)
    cell = pvlib.temperature.faiman(global_poa, air_temp_c, WIND_M_S)
    dc = pvlib.pvsystem.pvwatts_dc(global_poa, cell, fleet.peak_w[:, None], GAMMA_PDC)
    power = np.maximum(np.asarray(dc, dtype=np.float64), 0.0) * INVERTER_EFFICIENCY
    with np.errstate(invalid="ignore", divide="ignore"):
        beam = np.where(global_poa > 1.0, np.clip(direct, 0.0, None) / global_poa, 0.0)
    return power, beam


def leave_one_out_median(values: FloatArray, groups: NDArray[np.int64]) -> FloatArray:
    """Per row, the column-wise median of the *other* rows of its group, NaN ignored.

    ``values`` is ``(rows, cols)``; a row's own value never enters its median. Vectorised: each
    group's columns are sorted once and every row reads its median from its own rank.
    """
    out = np.full(values.shape, np.nan)
    cols = values.shape[1]
    for g in np.unique(groups):
        rows = np.nonzero(groups == g)[0]
        v = values[rows]
        order = np.argsort(v, axis=0)  # NaN sorts last
        ordered = np.take_along_axis(v, order, axis=0)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(len(rows))[:, None].repeat(cols, 1), axis=0)
        valid = np.sum(~np.isnan(v), axis=0)[None, :]
        own_valid = ~np.isnan(v)
        remaining = valid - own_valid.astype(np.int64)
        lo = (remaining - 1) // 2
        hi = remaining // 2
        # position p among the others is p in the sorted column below the own rank, p + 1 above
        lo_pos = np.where(own_valid & (lo >= rank), lo + 1, lo)
        hi_pos = np.where(own_valid & (hi >= rank), hi + 1, hi)
        top = len(rows) - 1
        lo_val = np.take_along_axis(ordered, np.clip(lo_pos, 0, top), axis=0)
        hi_val = np.take_along_axis(ordered, np.clip(hi_pos, 0, top), axis=0)
        med = 0.5 * (lo_val + hi_val)
        out[rows] = np.where(remaining > 0, med, np.nan)
    return out


def regional_clear_sky_index(
    measured_w: FloatArray,
    clear_w: FloatArray,
    region: NDArray[np.int64],
    exclude: BoolArray | None = None,
    min_clear_fraction: float = 0.05,
    peak_w: FloatArray | None = None,
) -> FloatArray:
    """Clear-sky index of each site's region in each slot, from its healthy neighbours [0..~1.2].

    ``measured_w`` and ``clear_w`` are ``(sites, slots)`` [W]; ``exclude`` marks values not to use
    (faulted sites, missing readings). Slots where a neighbour's clear-sky power is below
    ``min_clear_fraction`` of its peak (dawn, dusk, night) do not vote. NaN where no neighbour
    voted.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        index = measured_w / clear_w
    peak = peak_w if peak_w is not None else np.nanmax(clear_w, axis=1, initial=1.0)
    low = clear_w < min_clear_fraction * peak[:, None]
    index = np.where(low | np.isnan(measured_w), np.nan, index)
    if exclude is not None:
        index = np.where(exclude, np.nan, index)
    return leave_one_out_median(index, region)


def expected_power_w(clear_w: FloatArray, index: FloatArray) -> FloatArray:
    """Expected AC power [W]: the site's clear-sky power times its region's clear-sky index."""
    return clear_w * index
