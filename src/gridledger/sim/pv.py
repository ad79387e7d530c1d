"""Rooftop PV: AC energy per slot [Wh] for many systems, with pvlib's PVWatts chain.

The chain is the one pvlib's ``ModelChain.with_pvwatts`` runs, written out so it can be vectorised
over thousands of roofs: solar position (from the :class:`~gridledger.sim.weather.WeatherSeries`),
transposition to the plane of array (``pvlib.irradiance.aoi``, ``get_sky_diffuse`` (Perez by
default), ``get_ground_diffuse``, ``poa_components``: ``get_total_irradiance`` split so the angle
of incidence is computed once),
incidence-angle loss (``pvlib.iam.physical``, tabulated), SAPM cell temperature
(``pvlib.temperature.sapm_cell``), ``pvlib.pvsystem.pvwatts_dc``, system losses
(``pvlib.pvsystem.pvwatts_losses`` by default, 14.08 %) and ``pvlib.inverter.pvwatts``.

Vectorisation: every step is linear in the system's size once the inverter's AC/DC ratio is
fixed, so the chain runs once per *group* of systems sharing (tilt, azimuth, AC/DC ratio, losses)
on 1 W of DC, and each system's output is its group's unit output times its DC rating. Tilt and
azimuth are rounded to ``PVModel.orientation_step_deg`` (1 deg) to form groups; pvlib broadcasts
time along one axis and groups along the other, and only samples with light are computed.

Slot energy is the mean AC power over the slot times its duration. The mean is taken over
``samples_per_slot`` equally spaced samples at the midpoints of equal sub-intervals: one mid-slot
sample for slots up to 15 minutes, one per 15 minutes for longer slots (by default).

Integer Wh: within each UTC day, the cumulative float energy is rounded and differenced
(:func:`cumulative_round`), so a day's integer total is its float total rounded, each slot is off
by less than 1 Wh, and the error never accumulates beyond 0.5 Wh per day. Windows are extended
to whole UTC days internally, so the result for a slot does not depend on how a period is chunked.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib

from gridledger.errors import ValidationError
from gridledger.sim.weather import Weather, WeatherSeries
from gridledger.slots import Slot

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Default DC/AC ratio: inverter AC rating = DC rating / 1.1.
DC_AC_RATIO = 1.1
_DAY_S = 86_400
#: SAPM temperature parameters of a roof-mounted (close mount, glass/glass) array.
ROOF_TEMPERATURE_MODEL: dict[str, float] = dict(
    pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["close_mount_glass_glass"]
)


#: pvlib's physical (Fresnel/Snell) incidence-angle modifier tabulated every 0.01 deg: it depends
#: on the angle only, and interpolating the table is 15x faster than evaluating it per sample
#: (the interpolation error is below 1e-7).
_IAM_AOI_DEG = np.linspace(0.0, 90.0, 9001)
_IAM_PHYSICAL = np.asarray(pvlib.iam.physical(_IAM_AOI_DEG), dtype=np.float64)


def default_losses_pct() -> float:
    """pvlib's PVWatts default system losses [%] (soiling, shading, wiring, ...: 14.08)."""
    return float(pvlib.pvsystem.pvwatts_losses())


@dataclass(frozen=True)
class PVModel:
    """Settings shared by all systems of a run.

    ``transposition``: 'perez' (as ModelChain.with_pvwatts), 'haydavies' or 'isotropic'.
    ``gamma_pdc``: DC power temperature coefficient [1/degC]. ``eta_inv_nom``: nominal inverter
    efficiency. ``albedo``: ground reflectance. ``orientation_step_deg``: grouping resolution of
    tilt and azimuth [deg]; 0 groups only exactly equal orientations.
    """

    transposition: str = "perez"
    gamma_pdc: float = -0.004
    eta_inv_nom: float = 0.96
    albedo: float = 0.25
    orientation_step_deg: float = 1.0
    temperature_model: dict[str, float] = field(
        default_factory=lambda: dict(ROOF_TEMPERATURE_MODEL)
    )

    def __post_init__(self) -> None:
        if self.transposition not in ("perez", "haydavies", "isotropic"):
            raise ValidationError(
                f"transposition {self.transposition!r} is not supported; use 'perez', "
                "'haydavies' or 'isotropic'"
            )
        if self.orientation_step_deg < 0:
            raise ValidationError("orientation_step_deg must be >= 0 [deg]")


@dataclass(frozen=True, eq=False)
class PVSystems:
    """N rooftop systems as columns. Build with :meth:`create`.

    ``dc_w``: DC rating [W]; ``tilt_deg``: 0 horizontal .. 90 vertical; ``azimuth_deg``: 0 north,
    90 east, 180 south; ``ac_w``: inverter AC rating [W]; ``losses_pct``: DC system losses [%].
    """

    dc_w: FloatArray
    tilt_deg: FloatArray
    azimuth_deg: FloatArray
    ac_w: FloatArray
    losses_pct: FloatArray

    @classmethod
    def create(
        cls,
        dc_w: npt.ArrayLike,
        tilt_deg: npt.ArrayLike,
        azimuth_deg: npt.ArrayLike,
        ac_w: npt.ArrayLike | None = None,
        losses_pct: npt.ArrayLike | None = None,
    ) -> PVSystems:
        """Validate and broadcast the columns; ``ac_w`` defaults to ``dc_w / 1.1`` and
        ``losses_pct`` to :func:`default_losses_pct`. Systems with ``dc_w == 0`` produce nothing.
        """
        dc = np.atleast_1d(np.asarray(dc_w, dtype=np.float64))
        n = dc.shape[0]

        def column(values: npt.ArrayLike, name: str) -> FloatArray:
            arr = np.asarray(values, dtype=np.float64)
            try:
                return np.array(np.broadcast_to(arr, (n,)), dtype=np.float64)
            except ValueError:
                raise ValidationError(
                    f"{name} has shape {arr.shape}; give one value or one per system ({n})"
                ) from None

        tilt = column(tilt_deg, "tilt_deg")
        az = column(azimuth_deg, "azimuth_deg")
        ac = column(dc / DC_AC_RATIO if ac_w is None else ac_w, "ac_w")
        losses = column(default_losses_pct() if losses_pct is None else losses_pct, "losses_pct")
        if dc.ndim != 1 or (dc < 0).any() or not np.isfinite(dc).all():
            raise ValidationError("dc_w must be a 1-D array of finite ratings >= 0 [W]")
        if ((tilt < 0) | (tilt > 90)).any():
            raise ValidationError("tilt_deg must be within 0 (flat) to 90 (vertical) [deg]")
        if ((az < 0) | (az > 360)).any():
            raise ValidationError("azimuth_deg must be within 0 to 360 [deg] (180 = south)")
        if ((ac <= 0) & (dc > 0)).any():
            raise ValidationError("ac_w must be > 0 [W] for every system with a DC rating")
        if ((losses < 0) | (losses >= 100)).any():
            raise ValidationError("losses_pct must be within 0 to 100 [%]")
        return cls(dc, tilt, az, ac, losses)

    def __len__(self) -> int:
        return int(self.dc_w.shape[0])

    def groups(self, step_deg: float) -> tuple[FloatArray, IntArray]:
        """Unique (tilt, azimuth, AC/DC ratio, losses) rows and each system's group index."""
        if step_deg > 0:
            tilt = np.round(self.tilt_deg / step_deg) * step_deg
            az = np.round(self.azimuth_deg / step_deg) * step_deg
        else:
            tilt, az = self.tilt_deg, self.azimuth_deg
        ratio = np.divide(self.ac_w, self.dc_w, out=np.ones_like(self.dc_w), where=self.dc_w > 0)
        keys = np.stack([tilt, az, np.round(ratio, 6), self.losses_pct], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        return unique, np.asarray(inverse, dtype=np.int64).reshape(-1)


def unit_ac_power(weather: WeatherSeries, groups: FloatArray, model: PVModel) -> FloatArray:
    """AC power [W per W of DC rating] of each group at the weather's samples, shape (T, G).

    ``groups`` rows are (tilt [deg], azimuth [deg], AC/DC ratio, losses [%]).
    """
    out = np.zeros((len(weather.times), groups.shape[0]))
    # Only samples with light are computed (an hourly file can have diffuse light at sun-down).
    day = np.flatnonzero((weather.ghi > 0) | (weather.dhi > 0) | (weather.dni > 0))
    if day.size == 0 or groups.shape[0] == 0:
        return out
    tilt, azimuth, ratio, losses = (groups[:, i][None, :] for i in range(4))

    def col(a: FloatArray) -> FloatArray:
        return a[day][:, None]

    # Apparent (refracted) zenith, as pvlib's ModelChain uses for transposition and incidence.
    zenith, sun_az = col(weather.apparent_zenith), col(weather.solar_azimuth)
    with np.errstate(all="ignore"):
        doy = weather.times[day].day_of_year.to_numpy()
        dni_extra = np.asarray(pvlib.irradiance.get_extra_radiation(doy), dtype=np.float64)
        airmass = pvlib.atmosphere.get_relative_airmass(weather.apparent_zenith[day])
        aoi = pvlib.irradiance.aoi(tilt, azimuth, zenith, sun_az)
        sky = pvlib.irradiance.get_sky_diffuse(
            tilt,
            azimuth,
            zenith,
            sun_az,
            col(weather.dni),
            col(weather.ghi),
            col(weather.dhi),
            dni_extra=dni_extra[:, None],
            airmass=np.asarray(airmass, dtype=np.float64)[:, None],
            model=model.transposition,
        )
        ground = pvlib.irradiance.get_ground_diffuse(tilt, col(weather.ghi), albedo=model.albedo)
        poa = pvlib.irradiance.poa_components(aoi, col(weather.dni), sky, ground)
        iam = np.interp(aoi, _IAM_AOI_DEG, _IAM_PHYSICAL)
        direct = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=np.float64))
        diffuse = np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=np.float64))
        effective = direct * np.nan_to_num(np.asarray(iam, dtype=np.float64)) + diffuse
        t = model.temperature_model
        cell = pvlib.temperature.sapm_cell(
            direct + diffuse,
            col(weather.temp_air),
            col(weather.wind_speed),
            t["a"],
            t["b"],
            t["deltaT"],
        )
        dc = pvlib.pvsystem.pvwatts_dc(effective, cell, 1.0, model.gamma_pdc)
        dc = np.asarray(dc, dtype=np.float64) * (1.0 - losses / 100.0)
        ac = pvlib.inverter.pvwatts(dc, ratio / model.eta_inv_nom, model.eta_inv_nom)
    out[day] = np.clip(np.nan_to_num(np.asarray(ac, dtype=np.float64)), 0.0, None)
    return out


def ac_power_w(
    systems: PVSystems, weather: WeatherSeries, model: PVModel | None = None
) -> FloatArray:
    """AC power [W] of every system at the weather's samples, shape (T, N)."""
    model = model or PVModel()
    groups, member = systems.groups(model.orientation_step_deg)
    unit = unit_ac_power(weather, groups, model)
    return np.asarray(unit[:, member] * systems.dc_w[None, :], dtype=np.float64)


def default_samples_per_slot(slot_s: int) -> int:
    """One sample per started 15 minutes of the slot: 1 up to 15 min, 2 for 30, 4 for 60."""
    return max(1, -(-slot_s // 900))


def sample_times(first: Slot, count: int, samples_per_slot: int) -> pd.DatetimeIndex:
    """Midpoints of ``samples_per_slot`` equal sub-intervals of each of ``count`` slots (UTC)."""
    step = first.length_s / samples_per_slot
    offsets = np.arange(count * samples_per_slot, dtype=np.float64) * step + step / 2
    ms = (first.start_s * 1000 + np.round(offsets * 1000)).astype(np.int64)
    return pd.DatetimeIndex(pd.to_datetime(ms, unit="ms", utc=True))


def cumulative_round(energy_wh: FloatArray, block_starts: npt.ArrayLike) -> IntArray:
    """Integer Wh per row of ``energy_wh`` (rows are slots) by cumulative rounding per block.

    Within each block (rows ``block_starts[i]`` to the next start), ``out = diff(rint(cumsum))``:
    the block's integer sum is its float sum rounded, and no row is off by 1 Wh or more.
    """
    out = np.empty(energy_wh.shape, dtype=np.int64)
    starts = [int(s) for s in np.asarray(block_starts, dtype=np.int64)]
    bounds = [*starts, energy_wh.shape[0]]
    for s, e in itertools.pairwise(bounds):
        if e > s:
            cum = np.rint(np.cumsum(energy_wh[s:e], axis=0))
            out[s] = cum[0]
            out[s + 1 : e] = np.diff(cum, axis=0)
    return out


def day_window(first: Slot, count: int) -> tuple[Slot, int, int]:
    """The window extended to whole UTC days: (first slot, slot count, offset of ``first``)."""
    day_start = first.start_s - first.start_s % _DAY_S
    end = first.start_s + count * first.length_s
    day_end = end + (-end) % _DAY_S
    return (
        Slot(day_start, first.length_s),
        (day_end - day_start) // first.length_s,
        (first.start_s - day_start) // first.length_s,
    )


def pv_energy_wh(
    systems: PVSystems,
    weather: Weather,
    first: Slot,
    count: int,
    *,
    model: PVModel | None = None,
    samples_per_slot: int | None = None,
) -> IntArray:
    """AC energy [Wh] per slot and system, shape (count, N), for ``count`` slots from ``first``.

    Every system shares ``weather`` (one site). See the module docstring for the sampling and the
    rounding; the result for a slot is the same whatever window it is computed in.
    """
    if count < 0:
        raise ValidationError(f"count {count} must be >= 0 slots")
    model = model or PVModel()
    n_samples = samples_per_slot or default_samples_per_slot(first.length_s)
    if n_samples < 1:
        raise ValidationError(f"samples_per_slot {n_samples} must be >= 1")
    if count == 0:
        return np.zeros((0, len(systems)), dtype=np.int64)
    ext_first, ext_count, offset = day_window(first, count)
    series = weather.at(sample_times(ext_first, ext_count, n_samples))
    groups, member = systems.groups(model.orientation_step_deg)
    unit = unit_ac_power(series, groups, model)
    unit_wh = unit.reshape(ext_count, n_samples, -1).mean(axis=1) * (first.length_s / 3600.0)
    energy = unit_wh[:, member] * systems.dc_w[None, :]
    per_day = _DAY_S // first.length_s
    rounded = cumulative_round(energy, np.arange(0, ext_count, per_day))
    return np.ascontiguousarray(rounded[offset : offset + count])
