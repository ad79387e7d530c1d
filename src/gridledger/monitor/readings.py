"""A region's stored readings as the monitor's arrays: :class:`Fleet` and :class:`Telemetry`.

The fleet comes from the registry: each site's devices by kind (``pv_meter``, ``accumulator``,
``load``, ``bec``; the first of each kind) and their ``params``: ``peak_w`` and ``capacity_wh``
as the devices register them, and, where the installer recorded them, ``tilt_deg``,
``azimuth_deg``, ``latitude`` and ``longitude`` of the PV array (defaults otherwise).

Readings are placed on the slot grid: a reading belongs to the slot that holds its timestamp (the
last one wins if a device sent several), and its offset from the slot start is kept for the
clock-drift check. A query of one device per call (:meth:`Store.readings`) keeps memory bounded
by the window asked for. :func:`site_faults` puts it together for one site (what
``gridledger faults --site S`` prints).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from gridledger.errors import ValidationError
from gridledger.monitor.faults import Fault, FaultMonitor
from gridledger.monitor.series import CHANNELS, DEFAULT_BATTERY_EFFICIENCY, Fleet, Telemetry
from gridledger.store import Store, from_ms, to_ms

#: Store device kind of each monitor channel.
CHANNEL_KINDS = {"pv": "pv_meter", "battery": "accumulator", "load": "load", "bec": "bec"}

#: Where a PV array's orientation and location are not registered.
DEFAULT_TILT_DEG = 30.0
DEFAULT_AZIMUTH_DEG = 180.0


def fleet_from_store(
    store: Store,
    site_ids: Sequence[str],
    *,
    latitude: float,
    longitude: float,
) -> Fleet:
    """The :class:`Fleet` of ``site_ids`` from the registry (``latitude``/``longitude`` [deg]
    where a PV meter does not register its own)."""
    n = len(site_ids)
    regions: list[str] = []
    ids: dict[str, list[str]] = {c: [] for c in CHANNELS}
    values = {
        name: np.zeros(n)
        for name in ("peak_w", "tilt_deg", "azimuth_deg", "capacity_wh", "latitude", "longitude")
    }
    for i, site_id in enumerate(site_ids):
        site = store.get_site(site_id)
        regions.append(site.region if site is not None else "")
        devices = store.list_devices(site_id)
        for channel, kind in CHANNEL_KINDS.items():
            device = next((d for d in devices if d.kind == kind), None)
            ids[channel].append(device.device_id if device else f"{site_id}-{channel}")
            params = dict(device.params) if device else {}
            if channel == "pv":
                values["peak_w"][i] = float(params.get("peak_w", 0))
                values["tilt_deg"][i] = float(params.get("tilt_deg", DEFAULT_TILT_DEG))
                values["azimuth_deg"][i] = float(params.get("azimuth_deg", DEFAULT_AZIMUTH_DEG))
                values["latitude"][i] = float(params.get("latitude", latitude))
                values["longitude"][i] = float(params.get("longitude", longitude))
            elif channel == "battery":
                values["capacity_wh"][i] = float(params.get("capacity_wh", 0))
    names = tuple(dict.fromkeys(regions))
    index = {r: k for k, r in enumerate(names)}
    return Fleet(
        tuple(site_ids),
        names,
        np.array([index[r] for r in regions], dtype=np.int64),
        values["latitude"],
        values["longitude"],
        values["peak_w"],
        values["tilt_deg"],
        values["azimuth_deg"],
        values["capacity_wh"],
        np.full(n, DEFAULT_BATTERY_EFFICIENCY),
        {c: tuple(v) for c, v in ids.items()},
    )


def telemetry_from_store(
    store: Store, fleet: Fleet, start: datetime, slots: int, slot_s: int
) -> Telemetry:
    """Every device's readings in ``[start, start + slots x slot_s)`` on the slot grid."""
    telemetry = Telemetry.empty(start, slot_s, fleet.n_sites, slots)
    start_ms = to_ms(start)
    end_ms = start_ms + slots * slot_s * 1000
    for channel in CHANNELS:
        series = telemetry.channel(channel)
        for i, device_id in enumerate(fleet.device_ids[channel]):
            rows = store.readings(device_id, start_ms, end_ms)
            if not rows:
                continue
            ts = np.array([r.ts_ms for r in rows], dtype=np.int64)
            slot = (ts - start_ms) // (slot_s * 1000)
            offset = (ts - start_ms - slot * slot_s * 1000) / 1000.0
            series.import_wh[i, slot] = [
                np.nan if r.import_wh is None else r.import_wh for r in rows
            ]
            series.export_wh[i, slot] = [
                np.nan if r.export_wh is None else r.export_wh for r in rows
            ]
            series.power_w[i, slot] = [np.nan if r.power_w is None else r.power_w for r in rows]
            series.ts_offset_s[i, slot] = offset
            if channel == "battery":
                telemetry.soc_permille[i, slot] = [
                    np.nan if r.soc_permille is None else r.soc_permille for r in rows
                ]
                extra = [dict(r.extra or {}) for r in rows]
                telemetry.soh_permille[i, slot] = [
                    float(e.get("soh_permille", np.nan)) for e in extra
                ]
                telemetry.alarms[i, slot] = [int(e.get("alarms", 0)) for e in extra]
    return telemetry


def window_end(store: Store, site_id: str, slot_s: int) -> datetime | None:
    """The end of the slot holding the site's latest reading (``None`` without readings)."""
    latest = store.latest_state(site_id)
    if not latest:
        return None
    last_ms = max(r.ts_ms for r in latest.values())
    slot_ms = slot_s * 1000
    return from_ms((last_ms // slot_ms + 1) * slot_ms)


def window(end: datetime, days: float, slot_s: int) -> tuple[datetime, int]:
    """Start and slot count of a window of ``days`` ending at ``end``, starting at midnight UTC
    (the monitor's daily detectors work on whole UTC days)."""
    start = end - timedelta(days=days)
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    slots = int((end - start).total_seconds() // slot_s)
    return start, slots


@dataclass(frozen=True)
class SiteFaults:
    """A site's open faults over a window, with what they were judged on.

    ``neighbours`` the other sites of its region (its sky); ``start``/``end`` the window (UTC);
    ``produced_wh``/``imported_wh`` its PV production and grid import over the last 24 h [Wh].
    """

    site_id: str
    region: str
    neighbours: int
    start: datetime
    end: datetime
    faults: list[Fault]
    produced_wh: int
    imported_wh: int


def site_faults(
    store: Store,
    site_id: str,
    *,
    days: float,
    slot_s: int,
    latitude: float,
    longitude: float,
) -> SiteFaults:
    """Run every detector over ``days`` of the site's region before the site's latest reading;
    return the site's open faults. Raise :class:`ValidationError` for an unknown site or one
    without readings."""
    site = store.get_site(site_id)
    if site is None:
        raise ValidationError(
            f"site {site_id!r} is not registered in the store {store.url}; check the id "
            "(sites are named <region>-<number>) and the store_url setting"
        )
    end = window_end(store, site_id, slot_s)
    if end is None:
        raise ValidationError(f"site {site_id!r} has no readings yet; nothing to judge")
    others = [s.site_id for s in store.list_sites(site.region) if s.site_id != site_id]
    fleet = fleet_from_store(store, [site_id, *others], latitude=latitude, longitude=longitude)
    start, slots = window(end, days, slot_s)
    telemetry = telemetry_from_store(store, fleet, start, slots, slot_s)
    end_ms = to_ms(end)
    energy = store.energy_per_interval(site_id, end_ms - 86_400_000, end_ms, 86_400)
    monitor = FaultMonitor(fleet, slot_s)
    monitor.advance(telemetry)
    return SiteFaults(
        site_id,
        site.region,
        len(others),
        start,
        end,
        monitor.open_faults(site_id),
        sum(e.export_wh for e in energy if e.kind == CHANNEL_KINDS["pv"]),
        sum(e.import_wh for e in energy if e.kind == CHANNEL_KINDS["bec"]),
    )
