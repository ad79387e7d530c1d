"""Expected PV output per site and slot: pvlib's clear sky, scaled by the sky the region had.

Two steps:

1. :func:`sky_grid`: what each site's system (kWp, tilt, azimuth, location) produces under a sky
   of clear-sky index ``k`` (GHI = k x clear-sky GHI), for a grid of ``k``: pvlib's solar position
   and Ineichen clear sky (Linke turbidity from pvlib's climatology), the Erbs beam/diffuse split,
   isotropic transposition to the plane of array, Faiman cell temperature and PVWatts DC power,
   times a nominal inverter efficiency. All sites at once, broadcasting ``(sites, 1)``
   orientations against ``(1, slots)`` sun positions.
2. :func:`index_from_power` turns each site's measured power into the index its own model needs
   to produce it; :func:`regional_clear_sky_index` takes, per site and slot, the median of its
   *neighbours'* indices (other healthy sites of the region). The median ignores a minority of
   broken sites by itself; sites known to be faulted are excluded explicitly, and each site's own
   value is left out, so a fault of the site cannot hide in its own reference.
3. :func:`power_from_index`: ``expected`` = the site's own model at the region's index. Transposing
   the region's *sky* (not scaling the site's clear-sky power) keeps east- and west-facing roofs
   right under a diffuse sky.

A site without neighbours gets NaN: the detectors then fall back to checks that need no
reference (or abstain).
"""

from __future__ import annotations

import functools
import warnings
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


#: Clear-sky indices at which each site's power is computed; any index in between is
#: interpolated (power grows monotonically with the index).
SKY_INDEX_GRID = np.array(
    [0.0, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25]
)
_CLEAR = int(np.nonzero(SKY_INDEX_GRID == 1.0)[0][0])


@dataclass(frozen=True)
class SkyGrid:
    """Each site's AC power at every index of :data:`SKY_INDEX_GRID`, over a chunk.

    ``power_w`` is ``(sites, slots, indices)`` [W]; ``elevation_deg``/``azimuth_deg`` the sun at
    mid-slot; ``beam_fraction`` the direct share of plane-of-array light under a clear sky.
    """

    power_w: FloatArray
    elevation_deg: FloatArray
    azimuth_deg: FloatArray
    beam_fraction: FloatArray

    @property
    def clear_w(self) -> FloatArray:
        """Clear-sky AC power ``(sites, slots)`` [W]."""
        out: FloatArray = self.power_w[:, :, _CLEAR]
        return out


@functools.lru_cache(maxsize=256)
def _linke_turbidity(latitude: float, longitude: float) -> FloatArray:
    """pvlib's Linke turbidity climatology for each day of the year (index 0 = 1 January).

    Read once per location: pvlib reads it from its bundled HDF5 file on every lookup. (pvlib
    0.16 still calls ``DatetimeIndex.dayofyear``, deprecated in pandas 3.1; the warning is
    pvlib's, about pvlib's own code, and silenced here only.)
    """
    days = pd.date_range("2023-01-01 12:00", periods=366, freq="D", tz="UTC")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        values = pvlib.clearsky.lookup_linke_turbidity(days, latitude, longitude)
    return np.asarray(values, dtype=np.float64)


def _site_sky(
    latitude: float, longitude: float, times: pd.DatetimeIndex
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Apparent zenith, azimuth [deg] and Ineichen clear-sky GHI [W/m^2] at one location.

    The clear sky is computed from pvlib's functions on numpy arrays (airmass, extraterrestrial
    irradiance, ``clearsky.ineichen``), which is what ``Location.get_clearsky`` does.
    """
    location = pvlib.location.Location(latitude, longitude)
    sun = location.get_solarposition(times)
    zenith = sun["apparent_zenith"].to_numpy(dtype=np.float64)
    doy = np.asarray(times.day_of_year, dtype=np.int64)
    turbidity = _linke_turbidity(latitude, longitude)[doy - 1]
    airmass = pvlib.atmosphere.get_absolute_airmass(pvlib.atmosphere.get_relative_airmass(zenith))
    extra = pvlib.irradiance.get_extra_radiation(doy.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):  # the sun below the horizon
        sky = pvlib.clearsky.ineichen(zenith, airmass, turbidity, altitude=0.0, dni_extra=extra)
    ghi = np.nan_to_num(np.asarray(sky["ghi"], dtype=np.float64))
    return zenith, sun["azimuth"].to_numpy(dtype=np.float64), ghi


@dataclass(frozen=True)
class Sun:
    """The sun and the clear sky over each site, each ``(sites, slots)``, at mid-slot.

    ``zenith_deg`` apparent zenith; ``azimuth_deg`` solar azimuth; ``ghi_clear`` Ineichen
    clear-sky global horizontal irradiance [W/m^2]; ``day_of_year`` ``(1, slots)``.
    """

    zenith_deg: FloatArray
    azimuth_deg: FloatArray
    ghi_clear: FloatArray
    day_of_year: FloatArray

    def slice(self, start: int, stop: int) -> Sun:
        return Sun(
            self.zenith_deg[:, start:stop],
            self.azimuth_deg[:, start:stop],
            self.ghi_clear[:, start:stop],
            self.day_of_year[:, start:stop],
        )


def sun_over(fleet: Fleet, start_s: float, slot_s: int, slots: int) -> Sun:
    """Sun position and clear sky for ``slots`` slots from ``start_s`` [s since the epoch].

    Sites that share a location share one computation.
    """
    mid = start_s + slot_s * (np.arange(slots) + 0.5)
    times = pd.DatetimeIndex(pd.to_datetime(mid, unit="s", utc=True))
    n = fleet.n_sites
    zenith = np.empty((n, slots))
    sun_az = np.empty((n, slots))
    ghi_cs = np.empty((n, slots))
    coords = np.stack([fleet.latitude, fleet.longitude], axis=1)
    unique, inverse = np.unique(coords, axis=0, return_inverse=True)
    for k, (lat, lon) in enumerate(unique):
        rows = np.nonzero(inverse.ravel() == k)[0]
        zenith[rows], sun_az[rows], ghi_cs[rows] = _site_sky(float(lat), float(lon), times)
    doy = np.asarray(times.day_of_year, dtype=np.float64)[None, :]
    return Sun(zenith, sun_az, ghi_cs, doy)


def sky_grid(fleet: Fleet, sun: Sun) -> SkyGrid:
    """Power of every site at every clear-sky index of :data:`SKY_INDEX_GRID`.

    The sky at index ``k`` is the clear-sky GHI times ``k``, split into beam and diffuse by the
    Erbs model (a cloudier sky is more diffuse, which changes what each orientation receives).
    """
    n, slots = sun.zenith_deg.shape
    grid = np.empty((n, slots, SKY_INDEX_GRID.size))
    beam_clear = np.zeros((n, slots))
    for j, k in enumerate(SKY_INDEX_GRID):
        power, beam = pv_power_w_from_ghi(
            fleet, sun.zenith_deg, sun.azimuth_deg, sun.ghi_clear * k, sun.day_of_year
        )
        grid[:, :, j] = power
        if j == _CLEAR:
            beam_clear = beam
    return SkyGrid(grid, 90.0 - sun.zenith_deg, sun.azimuth_deg, beam_clear)


def pv_power_w_from_ghi(
    fleet: Fleet,
    zenith: FloatArray,
    sun_azimuth: FloatArray,
    ghi: FloatArray,
    day_of_year: FloatArray,
    air_temp_c: FloatArray | float = AIR_TEMP_C,
) -> tuple[FloatArray, FloatArray]:
    """AC power [W] and POA beam fraction for a global horizontal irradiance [W/m^2] (Erbs)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        split = pvlib.irradiance.erbs(ghi, zenith, day_of_year)
    dni = np.nan_to_num(np.asarray(split["dni"], dtype=np.float64))
    dhi = np.nan_to_num(np.asarray(split["dhi"], dtype=np.float64))
    return pv_power_w(fleet, zenith, sun_azimuth, dni, ghi, dhi, air_temp_c)


def _interp_last(x: FloatArray, xp: FloatArray, fp: FloatArray) -> FloatArray:
    """Linear interpolation of ``x`` in rows ``xp`` (increasing along the last axis) to ``fp``.

    ``x`` is ``(...)``, ``xp``/``fp`` ``(..., K)``; clamps outside the range.
    """
    k = xp.shape[-1]
    pos = np.sum(xp < x[..., None], axis=-1)
    hi = np.clip(pos, 1, k - 1)
    lo = hi - 1
    x0 = np.take_along_axis(xp, lo[..., None], axis=-1)[..., 0]
    x1 = np.take_along_axis(xp, hi[..., None], axis=-1)[..., 0]
    f0 = np.take_along_axis(fp, lo[..., None], axis=-1)[..., 0]
    f1 = np.take_along_axis(fp, hi[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.clip((x - x0) / (x1 - x0), 0.0, 1.0)
    out: FloatArray = np.where(x1 > x0, f0 + w * (f1 - f0), f0)
    return out


def index_from_power(grid: SkyGrid, power_w: FloatArray) -> FloatArray:
    """The clear-sky index at which each site's model gives ``power_w`` ``(sites, slots)``.

    NaN where the model's power does not grow with the index: an array facing away from a low
    sun gets mostly diffuse light, and a bright overcast sky can give it more than a clear one,
    so its power cannot tell the sky (it does not vote for the region's index then).
    """
    k = np.broadcast_to(SKY_INDEX_GRID, grid.power_w.shape)
    out = _interp_last(power_w, grid.power_w, k)
    drop = np.min(np.diff(grid.power_w, axis=2), axis=2)
    ambiguous = drop < -0.01 * np.max(grid.power_w, axis=2)
    return np.where(np.isnan(power_w) | ambiguous, np.nan, out)


def power_from_index(grid: SkyGrid, index: FloatArray) -> FloatArray:
    """Each site's modelled power [W] at clear-sky index ``index`` ``(sites, slots)``."""
    k = np.broadcast_to(SKY_INDEX_GRID, grid.power_w.shape)
    out = _interp_last(np.nan_to_num(index), k, grid.power_w)
    return np.where(np.isnan(index), np.nan, out)


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
    with np.errstate(divide="ignore", invalid="ignore"):
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
    site_index: FloatArray,
    clear_w: FloatArray,
    region: NDArray[np.int64],
    peak_w: FloatArray,
    exclude: BoolArray | None = None,
    min_clear_fraction: float = 0.05,
) -> FloatArray:
    """Clear-sky index of each site's region in each slot, from its healthy neighbours.

    ``site_index`` is each site's own index ``(sites, slots)`` (:func:`index_from_power` of its
    measured power, scaled by its known performance); ``exclude`` marks values not to use
    (faulted sites, missing readings). Slots where a neighbour's clear-sky power is below
    ``min_clear_fraction`` of its peak (dawn, dusk, night) do not vote. NaN where no neighbour
    voted.
    """
    low = clear_w < min_clear_fraction * peak_w[:, None]
    index = np.where(low, np.nan, site_index)
    if exclude is not None:
        index = np.where(exclude, np.nan, index)
    return leave_one_out_median(index, region)
