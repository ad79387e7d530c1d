"""The fault monitor: every detector over a fleet, advanced chunk by chunk.

:class:`FaultMonitor` keeps what the detectors need from the past (the last reading of every
device, run lengths, rolling balances, each site's performance baseline and its last days of
dips) and takes :class:`~gridledger.monitor.series.Telemetry` chunks of any length: one slot at a
time in the live service, a whole simulation at once in the simulator (:func:`detect_faults`).
Feeding a series in chunks raises the same faults at the same times as feeding it at once (a test
holds it). Per chunk, the work is numpy over ``(sites, slots)`` arrays; Python loops run over the
few faults raised or closed, and over completed days.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridledger.errors import ValidationError
from gridledger.monitor.expected import (
    Sun,
    index_from_power,
    power_from_index,
    regional_clear_sky_index,
    sky_grid,
    sun_over,
)
from gridledger.monitor.faults import (
    battery,
    degradation,
    meters,
    performance,
    pv,
    registers,
    shading,
)
from gridledger.monitor.faults.model import Fault, FaultBook, FaultKind
from gridledger.monitor.faults.rules import Rule, RuleRunner, Symptom
from gridledger.monitor.faults.runs import rolling_sum
from gridledger.monitor.series import CHANNELS, DeviceSeries, Fleet, Telemetry

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Clear-sky power [fraction of peak] from which a PV meter must count energy.
DAYLIGHT_MIN_CLEAR = 0.05
#: Solar elevation [deg] from which slots count towards the daily performance index.
INDEX_MIN_ELEVATION = 15.0


@dataclass
class _Last:
    """The previous slot's values of one channel (``(sites,)``, NaN where it had no reading)."""

    import_wh: FloatArray
    export_wh: FloatArray
    power_w: FloatArray
    seen_s: FloatArray  # time of the last reading [s], NaN before the first


def _with_prev(prev: FloatArray, values: FloatArray) -> FloatArray:
    return np.concatenate([prev[:, None], values], axis=1)


class FaultMonitor:
    """Every detector over ``fleet``; :meth:`advance` feeds the next chunk of slots."""

    def __init__(self, fleet: Fleet, slot_s: int = 900) -> None:
        self.fleet = fleet
        self.slot_s = slot_s
        self.book = FaultBook()
        n = fleet.n_sites
        self.slots_per_day = 86_400 // slot_s
        nan = np.full(n, np.nan)
        self._last = {c: _Last(nan.copy(), nan.copy(), nan.copy(), nan.copy()) for c in CHANNELS}
        self._last_soc = nan.copy()
        self._frozen = {c: np.zeros(n) for c in CHANNELS}
        self._stuck_since = {c: np.full(n, np.nan) for c in ("battery", "bec")}
        self._max_w = np.zeros(n)
        self._last_stored = nan.copy()
        self._next_s: float | None = None
        w = battery.BALANCE_WINDOW - 1
        self._carry = {
            name: np.zeros((n, w))
            for name in ("batt", "batt_cov", "site", "site_cov", "bec_moving", "bec_moving_cov")
        }
        c = pv.CLIP_WINDOW - 1
        self._clip_carry = {name: np.full((n, c), np.nan) for name in ("m", "c", "k")}
        self._day_parts: list[dict[str, FloatArray]] = []
        self._soh_days = np.full((n, battery.FADE_WINDOW_DAYS), np.nan)
        self.performance = performance.PerformanceState(n)
        self.degradation = degradation.DegradationState(fleet)
        self.shading = shading.ShadingState(n, self.slots_per_day)
        slot_rules: list[Rule] = [
            *registers.OFFLINE_RULES.values(),
            *registers.STUCK_RULES.values(),
            pv.OUTAGE_RULE,
            pv.CLIPPING_RULE,
            *registers.CLOCK_RULES.values(),
            battery.INCONSISTENCY_RULE,
            battery.COMMAND_RULE,
            battery.ALARM_RULE,
            meters.BYPASS_RULE,
        ]
        day_rules = [
            performance.UNDER_RULE,
            performance.SOILING_RULE,
            degradation.DEGRADATION_RULE,
            shading.SHADING_RULE,
            battery.FADE_RULE,
        ]
        self._slot = {(r.kind, r.channel): RuleRunner(r, fleet) for r in slot_rules}
        self._day = {(r.kind, r.channel): RuleRunner(r, fleet) for r in day_rules}

    # -- public ------------------------------------------------------------------------------
    def advance(self, chunk: Telemetry) -> list[Fault]:
        """Feed the next slots; return the faults raised in them (the book holds all)."""
        sites, slots = chunk.shape
        if sites != self.fleet.n_sites:
            raise ValidationError(
                f"chunk has {sites} sites but the fleet {self.fleet.n_sites}; build the chunk "
                "for the monitor's fleet"
            )
        if chunk.slot_s != self.slot_s:
            raise ValidationError(f"chunk slot_s {chunk.slot_s} != monitor slot_s {self.slot_s}")
        times = chunk.times_s
        if self._next_s is not None and slots and abs(times[0] - self._next_s) > 1e-6:
            raise ValidationError(
                f"chunk starts at {chunk.start.isoformat()} but the monitor expects the slot "
                "after the last one it saw; feed chunks in order without gaps (missing readings "
                "are NaN, not absent slots)"
            )
        if slots == 0:
            return []
        self._next_s = float(times[-1] + self.slot_s)
        # work a day at a time at most: bounded memory, and the same pieces in batch and live
        day_slot = ((times % 86_400) // self.slot_s).astype(np.int64)
        cuts = [0, *(np.nonzero(day_slot == 0)[0].tolist()), slots]
        sun = sun_over(self.fleet, float(times[0]), self.slot_s, slots)
        raised: list[Fault] = []
        for a, b in itertools.pairwise(cuts):
            if b > a:
                raised += self._advance_piece(chunk.slice(a, b), sun.slice(a, b))
        return raised

    def _advance_piece(self, chunk: Telemetry, sun: Sun) -> list[Fault]:
        times = chunk.times_s
        raised: list[Fault] = []
        symptoms, day_fields = self._slot_symptoms(chunk, times, sun)
        for key, runner in self._slot.items():
            raised += runner.apply(self.book, symptoms[key], times, self.slot_s)
        raised += self._days(day_fields, times)
        return raised

    def open_faults(self, site: str | None = None) -> list[Fault]:
        """Open and acknowledged faults (of one site)."""
        return self.book.active(site)

    # -- slot-level --------------------------------------------------------------------------
    def _deltas(
        self, name: str, series: DeviceSeries, times: FloatArray
    ) -> tuple[FloatArray, FloatArray, BoolArray, FloatArray]:
        """Import/export deltas [Wh], frozen flag, minutes since the last reading."""
        last = self._last[name]
        imp = _with_prev(last.import_wh, series.import_wh)
        exp = _with_prev(last.export_wh, series.export_wh)
        power = _with_prev(last.power_w, series.power_w)
        d_imp = np.diff(imp, axis=1)
        d_exp = np.diff(exp, axis=1)
        frozen = (d_imp == 0) & (d_exp == 0) & (power[:, 1:] == power[:, :-1])
        # the first reading after a frozen run catches up the whole run's energy in one delta:
        # it tells nothing about that slot, so it counts as unknown
        was_frozen = _with_prev(self._frozen[name], frozen.astype(np.float64))[:, :-1] > 0
        d_imp = np.where(was_frozen & ~frozen, np.nan, d_imp)
        d_exp = np.where(was_frozen & ~frozen, np.nan, d_exp)
        self._frozen[name] = frozen[:, -1].astype(np.float64)
        present = series.present
        index = np.arange(times.size)
        last_i = np.maximum.accumulate(np.where(present, index, -1), axis=1)
        seen_s = np.where(last_i >= 0, times[np.maximum(last_i, 0)], last.seen_s[:, None])
        gap_min = (times[None, :] + self.slot_s - seen_s) / 60.0
        gap_min = np.where(np.isnan(seen_s), (index[None, :] + 1) * self.slot_s / 60.0, gap_min)
        self._last[name] = _Last(imp[:, -1], exp[:, -1], power[:, -1], seen_s[:, -1])
        return d_imp, d_exp, frozen, gap_min

    def _slot_symptoms(
        self, chunk: Telemetry, times: FloatArray, sun: Sun
    ) -> tuple[dict[tuple[FaultKind, str | None], Symptom], dict[str, FloatArray]]:
        fleet = self.fleet
        peak = fleet.peak_w[:, None]
        d = {name: self._deltas(name, chunk.channel(name), times) for name in CHANNELS}
        pv_wh = d["pv"][1]
        charged, discharged = d["battery"][0], d["battery"][1]
        load_wh = d["load"][0]
        bec_imp, bec_exp = d["bec"][0], d["bec"][1]
        frozen = {name: d[name][2] for name in CHANNELS}
        soc = chunk.soc_permille
        soc_prev = _with_prev(self._last_soc, soc)
        frozen["battery"] = frozen["battery"] & (soc_prev[:, 1:] == soc_prev[:, :-1])
        self._last_soc = soc_prev[:, -1]

        measured_w = pv_wh * 3600.0 / self.slot_s
        sky = sky_grid(fleet, sun)
        clear_w = sky.clear_w
        daylight = clear_w >= DAYLIGHT_MIN_CLEAR * peak
        residual = meters.site_residual_wh(bec_imp, bec_exp, load_wh, charged, discharged, pv_wh)
        # each site's sky as its own model and known performance read it; the region's sky is
        # the neighbours' median, first from every site, then without the slots that look broken
        scale = np.where(np.isnan(self.performance.baseline), 1.0, self.performance.baseline)
        own = index_from_power(sky, measured_w / scale[:, None])
        first = regional_clear_sky_index(own, clear_w, fleet.region, fleet.peak_w)
        with np.errstate(invalid="ignore"):
            dark = own <= pv.OUTAGE_MAX_RATIO * first
        suspect = (frozen["pv"] & daylight) | dark
        index = regional_clear_sky_index(own, clear_w, fleet.region, fleet.peak_w, suspect)
        expected_w = power_from_index(sky, index)
        expected_wh = expected_w * self.slot_s / 3600.0
        hidden_pv = np.where(daylight, -residual, np.nan)

        out: dict[tuple[FaultKind, str | None], Symptom] = {}
        for name in CHANNELS:
            present = chunk.channel(name).present
            out[(FaultKind.OFFLINE_DEVICE, name)] = registers.offline(present, d[name][3])
        devices_net = load_wh + charged - discharged - pv_wh
        battery_moved = (np.nan_to_num(charged) + np.nan_to_num(discharged)) > 0
        bec_power = chunk.bec.power_w
        bec_still = np.nan_to_num(bec_power, nan=1.0) == 0
        balancing = bec_still & battery_moved
        # a residual the load or PV meter explains (frozen while it must move) is theirs
        others_frozen = frozen["load"] | (frozen["pv"] & daylight)
        # a BEC at zero flow while a frozen battery could balance the house (it is neither full
        # nor at its reserve, or full while the house needs power, or at its reserve while there
        # is surplus): blame the battery; a full battery cannot take a surplus, an empty one
        # cannot cover a deficit, so there the frozen BEC is the suspect
        mid_soc = (soc > battery.IDLE_SOC_LOW) & (soc < battery.IDLE_SOC_HIGH)
        full = soc >= battery.IDLE_SOC_HIGH
        empty = soc <= battery.IDLE_SOC_LOW
        battery_could = mid_soc | (full & (devices_net > 0)) | (empty & (devices_net < 0))
        unexplained = {
            "pv": hidden_pv,
            # a full battery may idle, but not while something unmetered supplies the house; an
            # empty one (at its reserve) may idle, but not while the BEC stands at zero flow
            # although the devices say there is a surplus (something took it; a bypassed load
            # rarely balances the grid flow to exactly zero, a battery does)
            "battery": np.where(
                others_frozen,
                np.nan,
                np.where(
                    mid_soc,
                    np.abs(residual),
                    np.where(
                        full,
                        -residual,
                        np.where(empty & bec_still & (devices_net < 0), residual, np.nan),
                    ),
                ),
            ),
            "load": residual,
            "bec": np.where(
                balancing | others_frozen | (frozen["battery"] & battery_could),
                np.nan,
                np.abs(devices_net),
            ),
        }
        must_move = {
            "pv": np.zeros_like(daylight),
            "battery": np.zeros_like(daylight),
            "load": np.ones_like(daylight),
            "bec": np.zeros_like(daylight),
        }
        raw = {
            name: registers.stuck_register(
                frozen[name],
                chunk.channel(name).present,
                chunk.channel(name).power_w,
                must_move[name],
                unexplained[name],
            )
            for name in CHANNELS
        }
        # a frozen battery and a frozen BEC at zero flow explain each other: the one shown stuck
        # first in its frozen run keeps the blame (the other's slots then say nothing)
        since = {}
        for name in ("battery", "bec"):
            since[name], self._stuck_since[name] = registers.stuck_since(
                frozen[name], raw[name].symptom, times, self._stuck_since[name]
            )
        both = frozen["battery"] & frozen["bec"]
        with np.errstate(invalid="ignore"):
            battery_first = both & ~np.isnan(since["battery"]) & ~(since["bec"] < since["battery"])
            bec_first = both & ~np.isnan(since["bec"]) & (since["bec"] < since["battery"])
            bec_first |= both & ~np.isnan(since["bec"]) & np.isnan(since["battery"])
        unexplained["bec"] = np.where(battery_first, np.nan, unexplained["bec"])
        unexplained["battery"] = np.where(bec_first, np.nan, unexplained["battery"])
        for name in CHANNELS:
            series = chunk.channel(name)
            out[(FaultKind.STUCK_REGISTER, name)] = (
                registers.stuck_register(
                    frozen[name], series.present, series.power_w, must_move[name], unexplained[name]
                )
                if name in since
                else raw[name]
            )
        outage = pv.outage(measured_w, expected_w, clear_w, fleet.peak_w, hidden_pv, expected_wh)
        # a PV meter repeating zero is an outage only if the BEC does not see production; when
        # the balance is unknown for a slot (a lost reading) the slot cannot tell, unless the BEC
        # is offline altogether
        bec_offline = d["bec"][3] > 60.0
        undecided = frozen["pv"] & np.isnan(hidden_pv) & ~bec_offline
        out[(FaultKind.OUTAGE, "pv")] = Symptom(
            outage.symptom, outage.evaluable & ~undecided, outage.evidence
        )
        cc = self._clip_carry
        out[(FaultKind.CLIPPING, "pv")] = pv.clipping(
            measured_w, clear_w, index, fleet.peak_w, cc["m"], cc["c"], cc["k"]
        )
        keep = pv.CLIP_WINDOW - 1
        for name, values in (("m", measured_w), ("c", clear_w), ("k", index)):
            cc[name] = np.concatenate([cc[name], values], axis=1)[:, -keep:]
        offsets = np.stack([chunk.channel(c).ts_offset_s for c in CHANNELS])
        for i, name in enumerate(CHANNELS):
            out[(FaultKind.CLOCK_DRIFT, name)] = registers.clock_drift(offsets, i)

        # battery: stored energy from SoC x SoH x capacity against the metered flows
        soh = np.where(
            np.isnan(chunk.soh_permille) | (chunk.soh_permille <= 0), 1000.0, chunk.soh_permille
        )
        stored = soc / 1000.0 * soh / 1000.0 * fleet.capacity_wh[:, None]
        stored_prev = _with_prev(self._last_stored, stored)
        self._last_stored = stored_prev[:, -1]
        batt_res = battery.balance_residual_wh(
            np.diff(stored_prev, axis=1), charged, discharged, fleet.battery_efficiency
        )
        out[(FaultKind.BATTERY_INCONSISTENCY, "battery")] = battery.soc_inconsistent(
            *self._window("batt", batt_res), fleet.capacity_wh
        )
        out[(FaultKind.BATTERY_COMMAND_MISMATCH, "battery")] = battery.command_mismatch(
            chunk.commanded_w, chunk.battery.power_w, soc
        )
        out[(FaultKind.BATTERY_ALARM, "battery")] = battery.alarms(
            chunk.alarms, chunk.battery.present
        )
        # the site balance, without slots a stuck meter explains
        stuck_like = (
            frozen["load"]
            | (frozen["pv"] & daylight)
            | (frozen["bec"] & ~balancing)
            | (load_wh <= 0)
        )
        for name in CHANNELS:
            stuck_like |= out[(FaultKind.STUCK_REGISTER, name)].symptom
        site_res = np.where(stuck_like, np.nan, residual)
        bec_moved = ((np.nan_to_num(bec_imp) + np.nan_to_num(bec_exp)) > 0).astype(np.float64)
        total, coverage = self._window("site", site_res)
        moving, _ = self._window("bec_moving", bec_moved)
        out[(FaultKind.BYPASSED_LOAD, "bec")] = meters.bypassed_load(
            total, coverage, moving / battery.BALANCE_WINDOW
        )

        pv_broken = (
            np.isnan(measured_w)
            | out[(FaultKind.OUTAGE, "pv")].symptom
            | out[(FaultKind.STUCK_REGISTER, "pv")].symptom
            | (frozen["pv"] & daylight)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = measured_w / expected_w
        # a flat top at the inverter limit says nothing about the modules: slots near the
        # site's highest power so far stay out of the index
        running = np.fmax.accumulate(
            np.concatenate([self._max_w[:, None], np.nan_to_num(measured_w)], axis=1), axis=1
        )
        self._max_w = running[:, -1]
        near_top = measured_w >= 0.97 * running[:, :-1]
        good = (
            (expected_w >= performance.GOOD_MIN_EXPECTED * peak)
            & (sky.elevation_deg >= INDEX_MIN_ELEVATION)
            & ~pv_broken
            & ~near_top
            & ~out[(FaultKind.CLIPPING, "pv")].symptom
        )
        judged = (
            (expected_w >= shading.MIN_EXPECTED * peak)
            & (sky.elevation_deg >= shading.MIN_ELEVATION)
            & ~pv_broken
            & ~near_top
            & ~out[(FaultKind.CLIPPING, "pv")].symptom
            & (index >= shading.MIN_INDEX)
            & (sky.beam_fraction >= shading.MIN_BEAM)
        )
        day_fields = {
            "sky": index,
            "ratio": ratio,
            "good": good.astype(np.float64),
            "judged": judged.astype(np.float64),
            "soh": np.where(chunk.battery.present, soh, np.nan),
        }
        return out, day_fields

    def _window(self, name: str, values: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Trailing-day sum of ``values`` (NaN = not counted) and the share of slots counted."""
        w = battery.BALANCE_WINDOW
        counted = (~np.isnan(values)).astype(np.float64)
        total = rolling_sum(values, self._carry[name], w)
        coverage = rolling_sum(counted, self._carry[name + "_cov"], w) / w
        self._carry[name] = np.concatenate([self._carry[name], np.nan_to_num(values)], axis=1)[
            :, -(w - 1) :
        ]
        self._carry[name + "_cov"] = np.concatenate([self._carry[name + "_cov"], counted], axis=1)[
            :, -(w - 1) :
        ]
        return total, coverage

    # -- daily ---------------------------------------------------------------------------------
    def _days(self, fields: dict[str, FloatArray], times: FloatArray) -> list[Fault]:
        """Buffer the chunk's slots; run the daily detectors over every day now complete."""
        fields = {**fields, "t": np.broadcast_to(times, fields["ratio"].shape[1:])[None, :]}
        self._day_parts.append(fields)
        merged = {k: np.concatenate([p[k] for p in self._day_parts], axis=1) for k in fields}
        t = merged["t"][0]
        day = np.floor(t / 86_400).astype(np.int64)
        slot_of_day = ((t - day * 86_400) // self.slot_s).astype(np.int64)
        ends = np.nonzero(slot_of_day == self.slots_per_day - 1)[0]
        if ends.size == 0:
            return []
        raised: list[Fault] = []
        begin = 0
        for end in ends:
            cols = slice(begin, end + 1)
            raised += self._one_day(
                {k: v[:, cols] for k, v in merged.items()}, slot_of_day[cols], float(day[end])
            )
            begin = int(end) + 1
        rest = {k: v[:, begin:] for k, v in merged.items()}
        self._day_parts = [rest] if rest["t"].shape[1] else []
        return raised

    def _one_day(
        self, f: dict[str, FloatArray], slot_of_day: NDArray[np.int64], day: float
    ) -> list[Fault]:
        n, spd = self.fleet.n_sites, self.slots_per_day
        full = {k: np.full((n, spd), np.nan) for k in ("ratio", "good", "judged", "sky")}
        for k in full:
            full[k][:, slot_of_day] = f[k]
        good = np.nan_to_num(full["good"]) > 0
        judged = np.nan_to_num(full["judged"]) > 0
        index, _ = performance.daily_index(full["ratio"], good)
        sky_day = performance.daily_sky(full["sky"], good)
        symptoms = self.performance.advance(index, sky_day)
        symptoms[FaultKind.DEGRADATION] = self.degradation.advance(
            index, sky_day, self.performance.slow_allowed
        )
        symptoms[FaultKind.SHADING] = self.shading.advance(full["ratio"], index, judged)
        with np.errstate(invalid="ignore"):
            soh_min = np.where(
                np.all(np.isnan(f["soh"]), axis=1),
                np.nan,
                np.nanmin(np.where(np.isnan(f["soh"]), np.inf, f["soh"]), axis=1),
            )
        self._soh_days = np.concatenate([self._soh_days[:, 1:], soh_min[:, None]], axis=1)
        symptoms[FaultKind.BATTERY_FADE] = battery.fade(self._soh_days)
        start = np.array([day * 86_400.0])
        raised: list[Fault] = []
        for (kind, _), runner in self._day.items():
            raised += runner.apply(self.book, symptoms[kind], start, 86_400.0)
        return raised


def detect_faults(fleet: Fleet, telemetry: Telemetry, chunk_slots: int | None = None) -> FaultBook:
    """Run every detector over ``telemetry`` (in chunks of ``chunk_slots``, default all at once).

    Returns the :class:`FaultBook`: open faults and those that closed again.
    """
    monitor = FaultMonitor(fleet, telemetry.slot_s)
    slots = telemetry.shape[1]
    step = chunk_slots or slots
    for start in range(0, slots, step):
        monitor.advance(telemetry.slice(start, min(start + step, slots)))
    return monitor.book
