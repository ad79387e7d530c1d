"""Household load: energy per slot [Wh] from demandlib's BDEW standard load profiles.

Families (``FAMILIES``): the BDEW 1999 profiles of ``demandlib.bdew.ElecSlp`` (``h0`` households
with season, weekday and holiday; ``h0_dyn``, H0 with BDEW's dynamisation function, the default;
trade ``g0``..``g6``; farms ``l0``..``l2``) and the 2025 revision (``h25``, ``p25`` households with
PV, ``s25`` with PV and storage, ``g25``, ``l25``). Each is taken once per (year, family, holidays)
as a 15-minute shape over the local calendar year, normalised to sum to 1, and cached.

Local time: the profiles are wall-clock profiles. A slot's share of the year is the integral of
the shape (constant per quarter hour) from the slot's local start for its length, read off the
cumulative shape, so 5, 10, 20, 30 and 60 minute slots are exact (:meth:`HouseholdLoads.mean_wh`).

Noise (seeded, multiplicative, energy-keeping):

* day factor ``f = exp(day_sigma * z - day_sigma^2 / 2)`` per household and local day, drawn
  from ``(seed, year)`` and normalised over the local year so the year's energy is unchanged;
* slot factor ``m = exp(slot_sigma * z - slot_sigma^2 / 2)`` per household and slot, drawn from
  ``(seed, local day)`` and normalised within the day so the day's energy is unchanged.

Both depend only on (seed, household index, day), never on the window asked for: a period gives
the same arrays in one call or in chunks. Household ``j`` is column ``j``; adding households at
the end does not change the earlier ones.

Integer Wh: each household's cumulative energy since the start of its local year is known at
every local midnight (annual energy x the cumulated day shares x day factors); within a day the
slots split the day's energy in proportion to their noisy shares, and the integer series is the
difference of the rounded cumulative energy. So no slot is off by 1 Wh or more, and the integer
sum of a whole local year is the annual energy rounded to 1 Wh: nothing drifts. (On DST days the
day keeps its full profile energy: the 23-hour day is a little denser, the 25-hour one thinner.)
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from unittest import mock

import numpy as np
import numpy.typing as npt
import pandas as pd
from demandlib import bdew

from gridledger.errors import ValidationError
from gridledger.slots import Slot

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ELEC_SLP_FAMILIES: tuple[str, ...] = (
    "h0", "h0_dyn", "g0", "g1", "g2", "g3", "g4", "g5", "g6", "l0", "l1", "l2",
)  # fmt: skip
BDEW25_FAMILIES: dict[str, type[pd.Series]] = {
    "h25": bdew.H25,
    "p25": bdew.P25,
    "s25": bdew.S25,
    "g25": bdew.G25,
    "l25": bdew.L25,
}
FAMILIES: tuple[str, ...] = ELEC_SLP_FAMILIES + tuple(BDEW25_FAMILIES)
DEFAULT_FAMILY = "h0_dyn"
_QUARTER_MIN = 15
_DAY_MIN = 1440
_SLOT_STREAM = 0x10AD5107
_DAY_STREAM = 0x10ADDA75


def _quiet_demandlib() -> mock._patch[mock.MagicMock]:
    """demandlib 0.2.2's ElecSlp calls ``warnings.simplefilter("error")`` for the whole process
    and then trips over pandas' own deprecation warnings; keep its filter change out."""
    return mock.patch.object(warnings, "simplefilter")


@lru_cache(maxsize=8)
def _elec_slp(year: int, holidays: frozenset[date]) -> pd.DataFrame:
    with warnings.catch_warnings(), _quiet_demandlib():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        frame = bdew.ElecSlp(year, holidays=sorted(holidays) or None).get_profiles()
    return pd.DataFrame(frame)


@lru_cache(maxsize=64)
def profile_shape(year: int, family: str, holidays: frozenset[date] = frozenset()) -> FloatArray:
    """Share of the year's energy per local quarter hour (sums to 1), read-only and cached.

    ``holidays`` are local dates treated as Sundays (only those in ``year`` matter).
    """
    if family not in FAMILIES:
        raise ValidationError(
            f"unknown load profile family {family!r}; use one of {', '.join(FAMILIES)}"
        )
    days = frozenset(d for d in holidays if d.year == year)
    if family in BDEW25_FAMILIES:
        index = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="15min", inclusive="left")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            series = BDEW25_FAMILIES[family](index, holidays=sorted(days) or None)
        values = np.asarray(series.to_numpy(dtype=np.float64), dtype=np.float64)
    else:
        values = _elec_slp(year, days)[family].to_numpy(dtype=np.float64)
    shape = np.asarray(values / values.sum(), dtype=np.float64)
    shape.flags.writeable = False
    return shape


def _local_minutes(starts_s: IntArray, tz: str) -> IntArray:
    """Local wall-clock minutes since 1970-01-01 00:00 (naive) of UTC Unix seconds."""
    utc = pd.DatetimeIndex(pd.to_datetime(starts_s, unit="s", utc=True))
    local = utc.tz_convert(tz).tz_localize(None)
    return np.asarray(local.as_unit("s").asi8 // 60, dtype=np.int64)


def _year_start_minute(year: int) -> int:
    return (date(year, 1, 1) - date(1970, 1, 1)).days * _DAY_MIN


@dataclass(frozen=True, eq=False)
class HouseholdLoads:
    """Loads of N households of one region. Build with :meth:`create`.

    ``annual_kwh``: consumption per local calendar year [kWh]; ``families``: profile family per
    household; ``tz``: the region's IANA time zone; ``holidays``: local dates treated as Sundays
    (default none); ``slot_sigma`` and ``day_sigma``: log-normal noise (0 for none).
    """

    annual_kwh: FloatArray
    families: tuple[str, ...]
    tz: str = "UTC"
    holidays: frozenset[date] = frozenset()
    seed: int = 0
    slot_sigma: float = 0.3
    day_sigma: float = 0.15
    _cache: dict[object, FloatArray] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    @classmethod
    def create(
        cls,
        annual_kwh: npt.ArrayLike,
        families: str | Iterable[str] = DEFAULT_FAMILY,
        *,
        tz: str = "UTC",
        holidays: Iterable[date] = (),
        seed: int = 0,
        slot_sigma: float = 0.3,
        day_sigma: float = 0.15,
    ) -> HouseholdLoads:
        """Validate the inputs; ``families`` is one name for all or one per household."""
        annual = np.atleast_1d(np.asarray(annual_kwh, dtype=np.float64))
        if annual.ndim != 1 or not np.isfinite(annual).all() or (annual < 0).any():
            raise ValidationError("annual_kwh must be a 1-D array of finite values >= 0 [kWh]")
        fams = (families,) * len(annual) if isinstance(families, str) else tuple(families)
        if len(fams) != len(annual):
            raise ValidationError(
                f"families has {len(fams)} entries for {len(annual)} households; give one name "
                "or one per household"
            )
        for f in set(fams):
            if f not in FAMILIES:
                raise ValidationError(
                    f"unknown load profile family {f!r}; use one of {', '.join(FAMILIES)}"
                )
        try:
            pd.Timestamp("2025-01-01", tz=tz)
        except Exception as exc:  # pandas raises several types for unknown zones
            raise ValidationError(
                f"unknown time zone {tz!r}; use an IANA name such as 'Europe/Berlin'"
            ) from exc
        if slot_sigma < 0 or day_sigma < 0:
            raise ValidationError("slot_sigma and day_sigma must be >= 0 (0 switches noise off)")
        return cls(annual, fams, tz, frozenset(holidays), seed, slot_sigma, day_sigma)

    def __len__(self) -> int:
        return int(self.annual_kwh.shape[0])

    def _family_index(self) -> tuple[tuple[str, ...], IntArray]:
        names = tuple(sorted(set(self.families)))
        lookup = {n: i for i, n in enumerate(names)}
        return names, np.array([lookup[f] for f in self.families], dtype=np.int64)

    def _shares(self, local_min: IntArray, length_min: int) -> FloatArray:
        """Share of its local year's energy in each slot, per family: shape (slots, families)."""
        names, _ = self._family_index()
        years = pd.DatetimeIndex(pd.to_datetime(local_min, unit="m")).year.to_numpy()
        y0, y1 = int(years.min()), int(years.max()) + 1  # +1: a slot may run into next year
        origin = _year_start_minute(y0)
        x0 = (local_min - origin).astype(np.float64)
        out = np.empty((len(local_min), len(names)))
        for k, name in enumerate(names):
            shape = np.concatenate(
                [profile_shape(y, name, self.holidays) for y in range(y0, y1 + 1)]
            )
            cum = np.concatenate([[0.0], np.cumsum(shape)])
            grid = np.arange(len(cum), dtype=np.float64) * _QUARTER_MIN
            out[:, k] = np.interp(x0 + length_min, grid, cum) - np.interp(x0, grid, cum)
        return out

    def mean_wh(self, first: Slot, count: int) -> FloatArray:
        """Noise-free energy [Wh] per slot and household (float), shape (count, N)."""
        starts = first.start_s + np.arange(count, dtype=np.int64) * first.length_s
        if count == 0:
            return np.zeros((0, len(self)))
        _, fam = self._family_index()
        shares = self._shares(_local_minutes(starts, self.tz), first.length_s // 60)
        return np.asarray(shares[:, fam] * (self.annual_kwh * 1000.0)[None, :], dtype=np.float64)

    def _anchors(self, year: int) -> FloatArray:
        """Cumulative energy [Wh] at each local midnight of ``year``, shape (N, days + 1).

        ``annual_wh * cumsum(E_d * f_d)`` with ``E_d`` the profile's share of day ``d`` and ``f_d``
        the day factors normalised so that the year sums to the annual energy exactly.
        """
        key = ("anchors", year)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        names, fam = self._family_index()
        shapes = [profile_shape(year, n, self.holidays) for n in names]
        n_days = len(shapes[0]) // (_DAY_MIN // _QUARTER_MIN)
        day_energy = np.stack([sh.reshape(n_days, -1).sum(axis=1) for sh in shapes])[fam]
        if self.day_sigma > 0:
            rng = np.random.default_rng([self.seed % 2**64, _DAY_STREAM, year])
            z = rng.standard_normal((len(self), 366))[:, :n_days]
            f = np.exp(self.day_sigma * z - self.day_sigma**2 / 2)
            day_energy = (
                day_energy * f * (day_energy.sum(axis=1) / (day_energy * f).sum(axis=1))[:, None]
            )
        cum = np.zeros((len(self), n_days + 1))
        np.cumsum(day_energy / day_energy.sum(axis=1)[:, None], axis=1, out=cum[:, 1:])
        anchors = np.asarray(cum * (self.annual_kwh * 1000.0)[:, None], dtype=np.float64)
        if len(self._cache) > 8:
            self._cache.clear()
        self._cache[key] = anchors
        return anchors

    def _slot_noise(self, day: int, positions: IntArray, per_day: int) -> FloatArray:
        """Slot factors of one local day (not yet normalised), shape (slots, N)."""
        rng = np.random.default_rng([self.seed % 2**64, _SLOT_STREAM, day + 2**31])
        z = rng.standard_normal((len(self), per_day), dtype=np.float32)[:, positions].T
        m = np.exp(self.slot_sigma * z - np.float32(self.slot_sigma**2 / 2))
        return np.asarray(m, dtype=np.float64)

    def energy_wh(self, first: Slot, count: int) -> IntArray:
        """Energy [Wh] per slot and household with noise, shape (count, N) (see module doc)."""
        if count < 0:
            raise ValidationError(f"count {count} must be >= 0 slots")
        if count == 0 or len(self) == 0:
            return np.zeros((count, len(self)), dtype=np.int64)
        slot_s = first.length_s
        length_min = slot_s // 60
        edge = 2 * 86_400
        end_s = first.start_s + count * slot_s
        ext_starts = np.arange(first.start_s - edge, end_s + edge, slot_s, dtype=np.int64)
        local = _local_minutes(ext_starts, self.tz)
        day = local // _DAY_MIN
        i0 = edge // slot_s
        keep = (day >= day[i0]) & (day <= day[i0 + count - 1])
        lo, hi = int(np.argmax(keep)), len(keep) - int(np.argmax(keep[::-1]))
        local, day = local[lo:hi], day[lo:hi]
        _, fam = self._family_index()
        base = self._shares(local, length_min)[:, fam]
        stamps = pd.DatetimeIndex(pd.to_datetime(local, unit="m"))
        years, doy = stamps.year.to_numpy(), stamps.day_of_year.to_numpy() - 1
        starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        bounds = [*starts.tolist(), len(day)]
        out = np.empty(base.shape, dtype=np.int64)
        per_day = _DAY_MIN // length_min
        for s, e in itertools.pairwise(bounds):
            anchors = self._anchors(int(years[s]))
            a0, a1 = anchors[:, doy[s]], anchors[:, doy[s] + 1]
            shares = base[s:e]
            if self.slot_sigma > 0:
                positions = (local[s:e] % _DAY_MIN) // length_min
                shares = shares * self._slot_noise(int(day[s]), positions, per_day)
            cum = np.cumsum(shares, axis=0)
            total = cum[-1]
            frac = np.divide(cum, total, out=np.ones_like(cum), where=total > 0)
            level = np.rint(a0 + (a1 - a0) * frac)
            level[-1] = np.rint(a1)  # the day ends exactly on the next anchor
            out[s] = level[0] - np.rint(a0)
            out[s + 1 : e] = np.diff(level, axis=0)
        offset = i0 - lo
        return np.ascontiguousarray(out[offset : offset + count])
