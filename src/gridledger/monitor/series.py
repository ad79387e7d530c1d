"""What the monitor reads: a fleet's static description and its readings as arrays.

The monitor never holds a Python object per site and slot: a :class:`Fleet` is a set of arrays
over sites (PV system, battery, region), and a :class:`Telemetry` chunk is a set of arrays
``(sites, slots)`` per device channel, aligned to a slot grid. Each site has the devices of a
household (DESIGN.md): a PV meter (``pv``), an accumulator (``battery``), a load meter (``load``)
and the BEC at the grid connection (``bec``); a site without one of them has that channel all
missing. Registers are the cumulative, monotonic values the devices report [Wh]; a slot without a
reading is NaN. Which slot a reading falls in is decided by whoever builds the chunk (the
simulator by construction, :mod:`gridledger.monitor.readings` from the store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from gridledger.errors import ValidationError
from gridledger.slots import require_utc

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: The device channels of a site, in the order detectors compare them.
CHANNELS: tuple[str, ...] = ("pv", "battery", "load", "bec")

#: One-way efficiency of the accumulator model (``gridledger.devices.Accumulator``: round trip 0.9
#: split evenly between charge and discharge).
DEFAULT_BATTERY_EFFICIENCY = float(np.sqrt(0.9))


@dataclass(frozen=True)
class Fleet:
    """Static description of ``n`` sites; every array has one entry per site.

    ``peak_w`` PV DC rating [W] (0 = no PV); ``tilt_deg``/``azimuth_deg`` the array's orientation
    [degrees, azimuth clockwise from north]; ``latitude``/``longitude`` [degrees]; ``region`` the
    index of the site's region in ``regions``; ``capacity_wh`` the battery's usable capacity [Wh]
    (0 = no battery); ``battery_efficiency`` one-way charge/discharge efficiency.
    """

    site_ids: tuple[str, ...]
    regions: tuple[str, ...]
    region: IntArray
    latitude: FloatArray
    longitude: FloatArray
    peak_w: FloatArray
    tilt_deg: FloatArray
    azimuth_deg: FloatArray
    capacity_wh: FloatArray
    battery_efficiency: FloatArray
    device_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.site_ids)
        for name in (
            "region",
            "latitude",
            "longitude",
            "peak_w",
            "tilt_deg",
            "azimuth_deg",
            "capacity_wh",
            "battery_efficiency",
        ):
            if np.shape(getattr(self, name)) != (n,):
                raise ValidationError(f"Fleet.{name} must have one entry per site ({n})")
        ids = dict(self.device_ids)
        for channel in CHANNELS:
            ids.setdefault(channel, tuple(f"{s}-{channel}" for s in self.site_ids))
            if len(ids[channel]) != n:
                raise ValidationError(f"Fleet.device_ids[{channel!r}] needs one id per site")
        object.__setattr__(self, "device_ids", ids)

    @property
    def n_sites(self) -> int:
        return len(self.site_ids)

    @classmethod
    def uniform(
        cls,
        site_ids: list[str] | tuple[str, ...],
        regions: list[str] | tuple[str, ...],
        *,
        latitude: float = 48.14,
        longitude: float = 11.58,
        peak_w: float | FloatArray = 5_000.0,
        tilt_deg: float | FloatArray = 30.0,
        azimuth_deg: float | FloatArray = 180.0,
        capacity_wh: float | FloatArray = 10_000.0,
        device_ids: dict[str, tuple[str, ...]] | None = None,
    ) -> Fleet:
        """A fleet whose sites share defaults; ``regions`` names each site's region."""
        n = len(site_ids)
        names = tuple(dict.fromkeys(regions))
        index = {r: i for i, r in enumerate(names)}

        def arr(value: float | FloatArray) -> FloatArray:
            return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()

        return cls(
            tuple(site_ids),
            names,
            np.array([index[r] for r in regions], dtype=np.int64),
            arr(latitude),
            arr(longitude),
            arr(peak_w),
            arr(tilt_deg),
            arr(azimuth_deg),
            arr(capacity_wh),
            arr(DEFAULT_BATTERY_EFFICIENCY),
            device_ids or {},
        )


@dataclass(frozen=True)
class DeviceSeries:
    """One device channel over a chunk, each array ``(sites, slots)``, NaN where no reading.

    ``import_wh``/``export_wh`` cumulative registers [Wh]; ``power_w`` instantaneous power [W],
    positive out of the device; ``ts_offset_s`` the reading's own timestamp minus the slot start
    [s] (its clock as seen on the slot grid).
    """

    import_wh: FloatArray
    export_wh: FloatArray
    power_w: FloatArray
    ts_offset_s: FloatArray

    @classmethod
    def missing(cls, sites: int, slots: int) -> DeviceSeries:
        nan = np.full((sites, slots), np.nan)
        return cls(nan, nan.copy(), nan.copy(), nan.copy())

    @property
    def present(self) -> NDArray[np.bool_]:
        """A reading arrived in the slot."""
        return ~np.isnan(self.import_wh) | ~np.isnan(self.export_wh)

    def slice(self, start: int, stop: int) -> DeviceSeries:
        return DeviceSeries(
            self.import_wh[:, start:stop],
            self.export_wh[:, start:stop],
            self.power_w[:, start:stop],
            self.ts_offset_s[:, start:stop],
        )


@dataclass(frozen=True)
class Telemetry:
    """The readings of a fleet over consecutive slots starting at ``start`` (UTC).

    ``soc_permille``/``soh_permille`` the accumulator's state of charge and health [0.1 %];
    ``alarms`` its SunSpec 802 ``Evt1`` bits (0 where none or missing); ``commanded_w`` the power
    the home controller commanded the accumulator [W, positive discharge] where known, else NaN.
    """

    start: datetime
    slot_s: int
    pv: DeviceSeries
    battery: DeviceSeries
    load: DeviceSeries
    bec: DeviceSeries
    soc_permille: FloatArray
    soh_permille: FloatArray
    alarms: IntArray
    commanded_w: FloatArray

    def __post_init__(self) -> None:
        require_utc(self.start, "Telemetry.start")
        if self.slot_s <= 0 or 86_400 % self.slot_s:
            raise ValidationError(f"slot_s must divide a day, got {self.slot_s}")

    @property
    def shape(self) -> tuple[int, int]:
        """``(sites, slots)``."""
        sites, slots = self.pv.import_wh.shape
        return (sites, slots)

    @property
    def times_s(self) -> FloatArray:
        """Slot starts [s since the epoch]."""
        t0 = self.start.timestamp()
        return t0 + self.slot_s * np.arange(self.shape[1], dtype=np.float64)

    def channel(self, name: str) -> DeviceSeries:
        series: DeviceSeries = getattr(self, name)
        return series

    def slice(self, start: int, stop: int) -> Telemetry:
        """Slots ``[start, stop)`` as a chunk of their own."""
        return Telemetry(
            self.start + timedelta(seconds=self.slot_s * start),
            self.slot_s,
            self.pv.slice(start, stop),
            self.battery.slice(start, stop),
            self.load.slice(start, stop),
            self.bec.slice(start, stop),
            self.soc_permille[:, start:stop],
            self.soh_permille[:, start:stop],
            self.alarms[:, start:stop],
            self.commanded_w[:, start:stop],
        )

    @classmethod
    def empty(cls, start: datetime, slot_s: int, sites: int, slots: int) -> Telemetry:
        """Every reading missing (fill the arrays in place to build a chunk)."""
        nan = np.full((sites, slots), np.nan)
        return cls(
            start,
            slot_s,
            DeviceSeries.missing(sites, slots),
            DeviceSeries.missing(sites, slots),
            DeviceSeries.missing(sites, slots),
            DeviceSeries.missing(sites, slots),
            nan.copy(),
            nan.copy(),
            np.zeros((sites, slots), dtype=np.int64),
            nan.copy(),
        )
