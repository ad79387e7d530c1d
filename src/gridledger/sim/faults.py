"""Fault injection with ground truth, over a synthetic district the fault monitor can be scored on.

:func:`simulate_district` builds a district of sites in several regions (a :class:`Fleet` and its
:class:`Telemetry`), with faults injected at seeded random times and sites
(:class:`InjectionPlan`) or where a scenario puts them (:class:`Placement`), and returns the ground
truth (:class:`InjectedFault`) that :func:`write_ground_truth` saves as JSON.
:func:`gridledger.sim.fault_scores.score` matches detected faults against it.

The physics, vectorised over ``(sites, slots)``:

* sky: per region a day type (clear, mixed, overcast; overcast days may rain) and an AR(1)
  clear-sky index within the day; each site adds a small local AR(1) variation, larger under
  broken clouds (neighbours a few hundred metres apart see nearly the same sky);
* PV: pvlib's Ineichen clear sky x the site's index gives GHI, Erbs splits it into beam and
  diffuse, then the same transposition, Faiman temperature (with a daily air-temperature cycle)
  and PVWatts as :mod:`gridledger.monitor.expected`, times a per-site derate the monitor does not
  know, clipped at the inverter's AC limit. (This module computes PV with pvlib directly; once
  ``gridledger.sim.pv`` exists, the district can take its PV from there.)
* load: the BDEW H0 shape of :mod:`gridledger.sim.profiles` scaled per household, with noise;
* battery: self-consumption dispatch with the efficiency model of
  :class:`gridledger.devices.Accumulator` (one loop over slots, vectorised over sites);
* meters: cumulative registers [Wh], power [W], SoC/SoH [0.1 %], a reading's clock offset, and
  a small random loss of messages.

Injected kinds (``FaultKind`` values): outage, under_performance, degradation (1 %/month),
shading, soiling (cleaned by the region's next rain), stuck_register and offline_device (any
device), battery_inconsistency (a drifting SoC estimate), battery_fade, bypassed_load, and clipping
(an undersized inverter, informational).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pvlib
from numpy.typing import NDArray

from gridledger.monitor.expected import pv_power_w, sun_over
from gridledger.monitor.faults import FaultKind
from gridledger.monitor.series import CHANNELS, DeviceSeries, Fleet, Telemetry
from gridledger.sim.profiles import H0_W_PER_MWH_A

FloatArray = NDArray[np.float64]

DAY_S = 86_400


@dataclass(frozen=True)
class InjectionPlan:
    """How many sites get each fault kind (as a share of the district; one fault per site)."""

    outage: float = 0.04
    under_performance: float = 0.03
    degradation: float = 0.03
    shading: float = 0.03
    soiling: float = 0.03
    stuck_register: float = 0.04
    offline_device: float = 0.04
    battery_inconsistency: float = 0.03
    battery_fade: float = 0.03
    bypassed_load: float = 0.03
    clipping: float = 0.03

    @classmethod
    def none(cls) -> InjectionPlan:
        """A healthy district."""
        return cls(**{name: 0.0 for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Placement:
    """A fault put at a chosen site and time instead of a random one (a scenario's section).

    ``kind`` a :class:`FaultKind` value; ``site`` the site's index; ``start_slot``/``end_slot``
    slots from the run's start (``end_slot`` ``None``: the kind's usual duration); ``channel`` the
    device of a stuck or offline fault (``pv``, ``battery``, ``load``, ``bec``).
    """

    kind: str
    site: int
    start_slot: int
    end_slot: int | None = None
    channel: str | None = None


@dataclass(frozen=True)
class InjectedFault:
    """One injected fault (ground truth); times aware UTC; ``params`` its size (loss, rate...)."""

    site: str
    device: str
    kind: str
    start: datetime
    end: datetime
    params: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        return out


@dataclass(frozen=True)
class District:
    """A simulated district: its fleet, telemetry, ground truth, and what the physics knew."""

    fleet: Fleet
    telemetry: Telemetry
    truth: list[InjectedFault]
    clear_w: FloatArray  #: clear-sky AC power per site and slot [W] (for daylight onsets)
    rain: NDArray[np.bool_]  #: (regions, days): the region had rain that day


def _fleet(
    sites: int,
    regions: int,
    rng: np.random.Generator,
    tilt_deg: float | None = None,
    azimuth_deg: float | None = None,
) -> Fleet:
    region = np.arange(sites) % regions
    names = [f"r{r}" for r in range(regions)]
    ids = [f"{names[r]}-{i:04d}" for i, r in enumerate(region)]
    fleet = Fleet.uniform(
        ids,
        [names[r] for r in region],
        peak_w=np.round(rng.uniform(3_000, 10_000, sites), -2),
        tilt_deg=rng.uniform(15, 45, sites) if tilt_deg is None else tilt_deg,
        azimuth_deg=rng.uniform(120, 240, sites) if azimuth_deg is None else azimuth_deg,
        capacity_wh=rng.choice([5_000.0, 10_000.0, 13_500.0], sites),
    )
    lat = 48.14 + 0.08 * region
    lon = 11.58 + 0.12 * region
    return Fleet(
        fleet.site_ids,
        fleet.regions,
        fleet.region,
        lat.astype(np.float64),
        lon.astype(np.float64),
        fleet.peak_w,
        fleet.tilt_deg,
        fleet.azimuth_deg,
        fleet.capacity_wh,
        fleet.battery_efficiency,
    )


def _ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float) -> FloatArray:
    """Unit-variance AR(1) series along the last axis."""
    noise = rng.standard_normal(shape) * np.sqrt(1 - phi * phi)
    out = np.empty(shape)
    out[..., 0] = rng.standard_normal(shape[:-1])
    for t in range(1, shape[-1]):
        out[..., t] = phi * out[..., t - 1] + noise[..., t]
    return out


def _sky(
    regions: int, days: int, spd: int, rng: np.random.Generator
) -> tuple[FloatArray, NDArray[np.bool_], FloatArray]:
    """Regional clear-sky index ``(regions, slots)``, rain ``(regions, days)``, and the local
    variation scale per region and slot."""
    kind = rng.choice(3, size=(regions, days), p=[0.4, 0.35, 0.25])
    mean = np.choose(
        kind,
        [
            rng.uniform(0.9, 1.0, (regions, days)),
            rng.uniform(0.45, 0.8, (regions, days)),
            rng.uniform(0.12, 0.35, (regions, days)),
        ],
    )
    spread = np.choose(kind, [0.03, 0.2, 0.08])
    rain = (kind == 2) & (rng.random((regions, days)) < 0.6)
    within = _ar1(rng, (regions, days * spd), 0.9)
    index = np.repeat(mean, spd, axis=1) + np.repeat(spread, spd, axis=1) * within
    index = np.clip(index, 0.08, 1.05)
    local = 0.01 + 0.03 * (1.0 - index)
    return index, rain, local


def _load_w(sites: int, times_s: FloatArray, rng: np.random.Generator) -> FloatArray:
    hours = (times_s % DAY_S) / 3600.0 + 1.0  # local time, roughly CET
    shape = np.interp(hours % 24, np.arange(24) + 0.5, H0_W_PER_MWH_A, period=24)
    annual_mwh = rng.uniform(2.0, 5.5, sites)[:, None]
    noise = np.exp(0.25 * _ar1(rng, (sites, times_s.size), 0.6))
    out: FloatArray = np.maximum(shape[None, :] * annual_mwh * noise, 40.0)
    return out


def _pick(rng: np.random.Generator, free: list[int], share: float, sites: int) -> list[int]:
    count = min(len(free), round(share * sites))
    chosen = [int(x) for x in rng.choice(free, size=count, replace=False)] if count else []
    for c in chosen:
        free.remove(c)
    return chosen


def simulate_district(
    sites: int = 500,
    regions: int = 5,
    days: int = 60,
    *,
    start: datetime = datetime(2026, 4, 1, tzinfo=UTC),
    slot_s: int = 900,
    plan: InjectionPlan | None = None,
    seed: int = 0,
    message_loss: float = 0.003,
    tilt_deg: float | None = None,
    azimuth_deg: float | None = None,
    placements: tuple[Placement, ...] = (),
) -> District:
    """A district of ``sites`` households over ``days`` days with faults injected per ``plan``.

    Sites are named ``r<region>-<number>``, assigned to regions in turn; their PV arrays face
    random orientations unless ``tilt_deg``/``azimuth_deg`` fix them. A kind with
    ``placements`` gets exactly those instead of random ones.
    """
    rng = np.random.default_rng(seed)
    plan = plan or InjectionPlan()
    fleet = _fleet(sites, regions, rng, tilt_deg, azimuth_deg)
    spd = DAY_S // slot_s
    slots = days * spd
    t0 = start.timestamp()
    times_s = t0 + slot_s * np.arange(slots, dtype=np.float64)

    region_index, rain, local_scale = _sky(regions, days, spd, rng)
    sun = sun_over(fleet, t0, slot_s, slots)
    zen, azi, ghi_cs, doy = sun.zenith_deg, sun.azimuth_deg, sun.ghi_clear, sun.day_of_year
    site_index = region_index[fleet.region] * (
        1.0 + local_scale[fleet.region] * _ar1(rng, (sites, slots), 0.5)
    )
    ghi = ghi_cs * np.clip(site_index, 0.05, 1.1)
    split = pvlib.irradiance.erbs(ghi, zen, doy)
    dni = np.nan_to_num(np.asarray(split["dni"], dtype=np.float64))
    dhi = np.nan_to_num(np.asarray(split["dhi"], dtype=np.float64))
    hour = (times_s % DAY_S) / 3600.0
    air = 12.0 + 7.0 * np.sin((hour - 9.0) / 24.0 * 2 * np.pi)[None, :]
    power, beam = pv_power_w(fleet, zen, azi, dni, ghi, dhi, air)
    clear_cs = pvlib.irradiance.erbs(ghi_cs, zen, doy)
    clear_w, clear_beam = pv_power_w(
        fleet,
        zen,
        azi,
        np.nan_to_num(np.asarray(clear_cs["dni"], dtype=np.float64)),
        ghi_cs,
        np.nan_to_num(np.asarray(clear_cs["dhi"], dtype=np.float64)),
    )
    derate = rng.uniform(0.88, 1.0, sites)[:, None]
    ac_limit = np.full((sites, 1), np.inf)
    elevation = 90.0 - zen
    pv_factor = np.ones((sites, slots))
    pv_zero = np.zeros((sites, slots), dtype=np.bool_)
    load_w = _load_w(sites, times_s, rng)
    hidden_w = np.zeros((sites, slots))
    soh_rate = np.full(sites, 0.02 / 365 * 1000)  # [0.1 %/day] normal ageing, 2 %/year
    soh_extra = np.zeros((sites, slots))
    soc_drift = np.zeros((sites, slots))
    truth: list[InjectedFault] = []
    free = list(range(sites))

    def at(slot: int) -> datetime:
        return start + timedelta(seconds=slot * slot_s)

    def add(site: int, channel: str, kind: FaultKind, a: int, b: int, **params: float) -> None:
        device = fleet.device_ids[channel][site]
        truth.append(
            InjectedFault(
                fleet.site_ids[site],
                device,
                str(kind),
                at(a),
                at(b),
                {k: round(v, 5) for k, v in params.items()},
            )
        )

    day_of = np.arange(slots) // spd

    def where(
        kind: FaultKind, share: float
    ) -> list[tuple[int, int | None, int | None, str | None]]:
        """``(site, start, end, channel)`` of a kind: its placements, or random sites."""
        mine = [p for p in placements if p.kind == str(kind)]
        if mine:
            for p in mine:
                if p.site in free:
                    free.remove(p.site)
            return [(p.site, p.start_slot, p.end_slot, p.channel) for p in mine]
        return [(s, None, None, None) for s in _pick(rng, free, share, sites)]

    def day_in(first: int, last: int) -> int:
        """A random day in ``[first, last)``, squeezed into short runs."""
        last = max(min(last, days - 1), 1)
        first = min(first, last - 1)
        return int(rng.integers(max(first, 0), last))

    for s, a0, b0, _ in where(FaultKind.OUTAGE, plan.outage):
        a = int(rng.integers(spd, slots - spd)) if a0 is None else a0
        b = min(slots, a + int(rng.uniform(8, 3 * spd))) if b0 is None else b0
        pv_zero[s, a:b] = True
        add(s, "pv", FaultKind.OUTAGE, a, b)
    for s, a0, _, _ in where(FaultKind.UNDER_PERFORMANCE, plan.under_performance):
        a = day_in(12, days - 12) * spd + int(rng.integers(0, spd)) if a0 is None else a0
        loss = float(rng.uniform(0.25, 0.6))
        pv_factor[s, a:] *= 1 - loss
        add(s, "pv", FaultKind.UNDER_PERFORMANCE, a, slots, loss=loss)
    for s, a0, _, _ in where(FaultKind.DEGRADATION, plan.degradation):
        a = day_in(12, min(26, days - 20)) * spd if a0 is None else a0
        months = np.maximum(0, np.arange(slots) - a) * slot_s / (30 * DAY_S)
        pv_factor[s] *= 1 - 0.01 * months
        add(s, "pv", FaultKind.DEGRADATION, a, slots, pct_per_month=1.0)
    for s, a0, _, _ in where(FaultKind.SHADING, plan.shading):
        a = day_in(5, days - 15) * spd if a0 is None else a0
        # an obstruction low on the horizon, where the sun passes on the first day: a window of
        # azimuths below an elevation, morning or evening
        width, top, depth = float(rng.uniform(12, 25)), float(rng.uniform(20, 35)), 0.8
        first_day = slice(a, a + spd)
        # (where the array gets direct light: an obstruction behind its plane changes nothing)
        low = np.nonzero(
            (elevation[s, first_day] >= 8)
            & (elevation[s, first_day] <= top - 3)
            & (clear_beam[s, first_day] >= 0.5)
        )[0]
        if low.size == 0:
            low = np.nonzero(elevation[s, first_day] >= 8)[0]
        morning = rng.random() < 0.5
        side = low[azi[s, first_day][low] < 180] if morning else low[azi[s, first_day][low] > 180]
        pick = side if side.size else low
        az0 = float(azi[s, first_day][int(rng.choice(pick))]) - width / 2
        inside = (azi[s] >= az0) & (azi[s] <= az0 + width) & (elevation[s] <= top)
        inside[:a] = False
        pv_factor[s] *= np.where(inside, 1 - depth * beam[s], 1.0)
        add(
            s,
            "pv",
            FaultKind.SHADING,
            a,
            slots,
            azimuth_deg=az0,
            width_deg=width,
            max_elevation_deg=top,
        )
    for s, a0, _, _ in where(FaultKind.SOILING, plan.soiling):
        d0 = day_in(12, days - 18) if a0 is None else a0 // spd
        r = int(fleet.region[s])
        later = [d for d in range(d0 + 14, days) if rain[r, d]]
        d1 = later[0] if later else days
        rate = float(rng.uniform(0.003, 0.007))
        loss = np.clip((day_of - d0 + 1) * rate, 0.0, 0.15)
        loss[(day_of < d0) | (day_of >= d1)] = 0.0
        pv_factor[s] *= 1 - loss
        add(s, "pv", FaultKind.SOILING, d0 * spd, d1 * spd, loss_per_day=rate)
    for s, _, _, _ in where(FaultKind.CLIPPING, plan.clipping):
        ac_limit[s] = 0.7 * fleet.peak_w[s]
        add(s, "pv", FaultKind.CLIPPING, 0, slots, ac_limit_w=float(ac_limit[s, 0]))
    for s, a0, _, _ in where(FaultKind.BYPASSED_LOAD, plan.bypassed_load):
        a = day_in(2, days - 8) * spd + int(rng.integers(0, spd)) if a0 is None else a0
        watts = float(rng.uniform(600, 2000))
        h0 = float(rng.integers(6, 20))
        on = (hour >= h0) & (hour < h0 + float(rng.uniform(2, 5)))
        hidden_w[s, a:] = np.where(on[a:], watts, 0.0)
        add(s, "bec", FaultKind.BYPASSED_LOAD, a, slots, load_w=watts)
    for s, a0, _, _ in where(FaultKind.BATTERY_FADE, plan.battery_fade):
        a = day_in(5, days - 20) * spd if a0 is None else a0
        rate = float(rng.uniform(2.0, 5.0))  # [%/month]
        soh_extra[s, a:] = np.arange(slots - a) * slot_s / (30 * DAY_S) * rate * 10
        add(s, "battery", FaultKind.BATTERY_FADE, a, slots, pct_per_month=rate)
    for s, a0, b0, _ in where(FaultKind.BATTERY_INCONSISTENCY, plan.battery_inconsistency):
        a = day_in(2, days - 6) * spd + int(rng.integers(0, spd)) if a0 is None else a0
        b = min(slots, a + int(rng.uniform(2, 6) * spd)) if b0 is None else b0
        rate = float(rng.uniform(4, 10)) * rng.choice([-1.0, 1.0])  # [%/day]
        soc_drift[s, a:b] = np.arange(b - a) * slot_s / DAY_S * rate * 10
        add(s, "battery", FaultKind.BATTERY_INCONSISTENCY, a, b, pct_per_day=rate)

    pv_w = np.minimum(power * derate, ac_limit) * pv_factor
    pv_w = np.where(pv_zero, 0.0, pv_w)
    telemetry, soc_true = _meters(
        fleet, start, slot_s, pv_w, load_w, hidden_w, soh_rate, soh_extra, soc_drift, rng
    )
    del soc_true
    # device-level faults act on what the meters report
    for s, a0, b0, ch in where(FaultKind.STUCK_REGISTER, plan.stuck_register):
        channel = ch or CHANNELS[int(rng.integers(0, 4))]
        a = int(rng.integers(spd, slots - spd)) if a0 is None else a0
        b = min(slots, a + int(rng.uniform(12, 2 * spd))) if b0 is None else b0
        series = telemetry.channel(channel)
        # slots in which the real registers moved: a meter frozen while its device carries
        # nothing reports the truth (the ground truth keeps the count)
        moved = np.diff(series.import_wh[s, a - 1 : b]) + np.diff(series.export_wh[s, a - 1 : b])
        for arr in (series.import_wh, series.export_wh, series.power_w):
            arr[s, a:b] = arr[s, a - 1]
        if channel == "battery":
            telemetry.soc_permille[s, a:b] = telemetry.soc_permille[s, a - 1]
        add(s, channel, FaultKind.STUCK_REGISTER, a, b, moving_slots=float(np.sum(moved > 0)))
    for s, a0, b0, ch in where(FaultKind.OFFLINE_DEVICE, plan.offline_device):
        channel = ch or CHANNELS[int(rng.integers(0, 4))]
        a = int(rng.integers(spd, slots - spd)) if a0 is None else a0
        b = min(slots, a + int(rng.uniform(6, 2 * spd))) if b0 is None else b0
        series = telemetry.channel(channel)
        for arr in (series.import_wh, series.export_wh, series.power_w, series.ts_offset_s):
            arr[s, a:b] = np.nan
        if channel == "battery":
            telemetry.soc_permille[s, a:b] = np.nan
            telemetry.soh_permille[s, a:b] = np.nan
        add(s, channel, FaultKind.OFFLINE_DEVICE, a, b)
    # random message loss everywhere (a lost reading or two is normal)
    for channel in CHANNELS:
        series = telemetry.channel(channel)
        lost = rng.random((sites, slots)) < message_loss
        for arr in (series.import_wh, series.export_wh, series.power_w, series.ts_offset_s):
            arr[lost] = np.nan
        if channel == "battery":
            telemetry.soc_permille[lost] = np.nan
            telemetry.soh_permille[lost] = np.nan
    return District(fleet, telemetry, truth, clear_w * derate, rain)


def _meters(
    fleet: Fleet,
    start: datetime,
    slot_s: int,
    pv_w: FloatArray,
    load_w: FloatArray,
    hidden_w: FloatArray,
    soh_rate: FloatArray,
    soh_extra: FloatArray,
    soc_drift: FloatArray,
    rng: np.random.Generator,
) -> tuple[Telemetry, FloatArray]:
    """Battery dispatch and every meter's registers over the run."""
    sites, slots = pv_w.shape
    hours = slot_s / 3600.0
    eta = fleet.battery_efficiency
    cap = fleet.capacity_wh
    soh = 1000.0 - soh_rate[:, None] * (np.arange(slots) * slot_s / DAY_S)[None, :] - soh_extra
    stored = 0.5 * cap
    charge = np.zeros((sites, slots))
    discharge = np.zeros((sites, slots))
    stored_at = np.zeros((sites, slots))
    max_w = 0.5 * cap  # C/2
    for t in range(slots):
        usable = cap * soh[:, t] / 1000.0
        stored = np.minimum(stored, usable)
        surplus = pv_w[:, t] - load_w[:, t] - hidden_w[:, t]
        room = np.maximum(usable - stored, 0.0)
        c = np.clip(surplus, 0.0, np.minimum(max_w, room / eta / hours))
        avail = np.maximum(stored - 0.1 * usable, 0.0)
        d = np.clip(-surplus, 0.0, np.minimum(max_w, avail * eta / hours))
        stored = stored + c * hours * eta - d * hours / eta
        charge[:, t], discharge[:, t], stored_at[:, t] = c, d, stored
    soc_true = stored_at / (cap[:, None] * soh / 1000.0) * 1000.0
    soc = np.clip(np.floor(soc_true + soc_drift), 0, 1000)
    grid = load_w + hidden_w + charge - discharge - pv_w  # net import [W]
    e = hours

    def series(imp_w: FloatArray, exp_w: FloatArray, power_w: FloatArray) -> DeviceSeries:
        offset = rng.uniform(0.0, 5.0, imp_w.shape)
        return DeviceSeries(
            np.floor(np.cumsum(imp_w * e, axis=1)),
            np.floor(np.cumsum(exp_w * e, axis=1)),
            np.round(power_w),
            offset,
        )

    zeros = np.zeros((sites, slots))
    telemetry = Telemetry(
        start,
        slot_s,
        pv=series(zeros, pv_w, pv_w),
        battery=series(charge, discharge, discharge - charge),
        load=series(load_w, zeros, -load_w),
        bec=series(np.maximum(grid, 0.0), np.maximum(-grid, 0.0), -grid),
        soc_permille=soc,
        soh_permille=np.round(soh),
        alarms=np.zeros((sites, slots), dtype=np.int64),
        commanded_w=np.full((sites, slots), np.nan),
    )
    return telemetry, soc_true


def write_ground_truth(path: Path, truth: list[InjectedFault]) -> None:
    """Write the injected faults as a JSON list (one object per fault, ISO 8601 times)."""
    path.write_text(json.dumps([f.to_json() for f in truth], indent=1))


def read_ground_truth(path: Path) -> list[InjectedFault]:
    """Read a file written by :func:`write_ground_truth`."""
    rows = json.loads(path.read_text())
    return [
        InjectedFault(
            r["site"],
            r["device"],
            r["kind"],
            datetime.fromisoformat(r["start"]),
            datetime.fromisoformat(r["end"]),
            dict(r["params"]),
        )
        for r in rows
    ]
