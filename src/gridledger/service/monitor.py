"""The activity monitor and the installation: what a site's devices do now and did before.

Power [W] (``pv_w`` produced, ``load_w`` consumed, ``battery_w`` positive discharging,
``grid_w`` positive importing), energy [Wh] per interval from the cumulative registers, state of
charge [0.1 %]. Region aggregates go through :func:`~gridledger.service.access.require_aggregate`.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from gridledger.devices.models import Accumulator
from gridledger.errors import ValidationError
from gridledger.identity import checksum
from gridledger.service.access import (
    Action,
    NotFoundError,
    Principal,
    authorize,
    require_aggregate,
)
from gridledger.service.plant import MODE_NAMES
from gridledger.service.platform import Platform
from gridledger.store import Site

RESOLUTIONS = {"hour": 3600, "day": 86400}
#: The longest history one request may span, by resolution [days].
MAX_SPAN_DAYS = {"slot": 31, "hour": 93, "day": 732}
_COLUMNS = {
    ("pv_meter", "export"): "pv_wh",
    ("fuel_cell", "export"): "pv_wh",
    ("load", "import"): "load_wh",
    ("ev_charger", "import"): "load_wh",
    ("accumulator", "import"): "battery_charge_wh",
    ("accumulator", "export"): "battery_discharge_wh",
    ("bec", "import"): "grid_import_wh",
    ("bec", "export"): "grid_export_wh",
}
ENERGY_FIELDS = (
    "pv_wh",
    "load_wh",
    "battery_charge_wh",
    "battery_discharge_wh",
    "grid_import_wh",
    "grid_export_wh",
)


def site_for(platform: Platform, principal: Principal | None, site_id: str, action: Action) -> Site:
    """The site, if ``principal`` may ``action`` it (404 for anyone else's)."""
    site = platform.queries.site(site_id)
    if site is None:
        authorize(principal, action, site_id=site_id)  # 401 before 404 for the anonymous
        raise NotFoundError(f"no site {site_id!r} of yours")
    authorize(
        principal, action, site_id=site_id, site_owner=checksum(site.owner), region=site.region
    )
    return site


def list_sites(platform: Platform, principal: Principal) -> list[dict[str, Any]]:
    """The sites ``principal`` may see: its own; an operator's regions'; all for the admin."""
    q = platform.queries
    if principal.is_admin:
        sites = q.sites()
    else:
        sites = [s for r in principal.operator_regions for s in q.sites(r)]
        sites += [s for s in (q.site(i) for i in principal.sites) if s is not None]
    seen: dict[str, dict[str, Any]] = {}
    for s in sites:
        seen[s.site_id] = {"site_id": s.site_id, "region": s.region}
    return [seen[k] for k in sorted(seen)]


def site_detail(platform: Platform, principal: Principal | None, site_id: str) -> dict[str, Any]:
    site = site_for(platform, principal, site_id, Action.READ_SITE)
    latest = platform.queries.latest(site_id)
    devices = []
    for d in platform.queries.devices(site_id):
        r = latest.get(d.device_id)
        devices.append(
            {
                "device_id": d.device_id,
                "kind": d.kind,
                "address": checksum(d.address),
                "params": {k: v for k, v in dict(d.params).items() if isinstance(v, int)},
                "last_reading": None
                if r is None
                else {
                    "ts_ms": r.ts_ms,
                    "sequence": r.sequence,
                    "power_w": r.power_w,
                    "import_wh": r.import_wh,
                    "export_wh": r.export_wh,
                    "soc_permille": r.soc_permille,
                },
            }
        )
    return {"site_id": site.site_id, "region": site.region, "devices": devices}


def live(platform: Platform, principal: Principal | None, site_id: str) -> dict[str, Any]:
    """Current power per device and the site's balance, today's energy and self-powered share."""
    site = site_for(platform, principal, site_id, Action.READ_SITE)
    latest = platform.queries.latest(site_id)
    kinds = {d.device_id: d.kind for d in platform.queries.devices(site_id)}
    balance = {"pv_w": 0, "load_w": 0, "battery_w": 0, "grid_w": 0}
    soc: int | None = None
    ts = 0
    devices = []
    for device_id, r in sorted(latest.items()):
        kind = kinds.get(device_id, "")
        p = r.power_w or 0
        if kind in ("pv_meter", "fuel_cell"):
            balance["pv_w"] += p
        elif kind in ("load", "ev_charger"):
            balance["load_w"] += -p
        elif kind == "accumulator":
            balance["battery_w"] += p
            soc = r.soc_permille
        elif kind == "bec":
            balance["grid_w"] += -p
        ts = max(ts, r.ts_ms)
        devices.append({"device_id": device_id, "kind": kind, "power_w": p, "ts_ms": r.ts_ms})
    now = platform.clock.now()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = dict(_today(platform, site.site_id, int(day.timestamp()), ts))
    load = today["load_wh"]
    share = 1.0 - min(today["grid_import_wh"], load) / load if load else None
    return {
        "site_id": site.site_id,
        "ts_ms": ts or None,
        **balance,
        "soc_permille": soc,
        "devices": devices,
        "today": today,
        "self_powered_share": None if share is None else round(share, 4),
    }


@functools.lru_cache(maxsize=4096)
def _today(
    platform: Platform, site_id: str, day_start_s: int, newest_ms: int
) -> tuple[tuple[str, int], ...]:
    """Today's energy of a site [Wh]: a register-delta query over the day, cached until the
    site's newest reading changes (the live view is polled far more often than devices report)."""
    day = datetime.fromtimestamp(day_start_s, UTC)
    totals = _zero()
    for row in _energy_rows(platform, site_id, day, day + timedelta(days=1), 86400):
        for k in ENERGY_FIELDS:
            totals[k] += row[k]
    return tuple(totals.items())


def _zero() -> dict[str, int]:
    return dict.fromkeys(ENERGY_FIELDS, 0)


def parse_range(
    start: datetime | None,
    end: datetime | None,
    resolution: str,
    slot_seconds: int,
    now: datetime,
) -> tuple[datetime, datetime, int]:
    """Check a history request: aware times, start < end, span within limits."""
    if resolution not in ("slot", *RESOLUTIONS):
        raise ValidationError(f"resolution must be slot, hour or day, got {resolution!r}")
    interval = slot_seconds if resolution == "slot" else RESOLUTIONS[resolution]
    end = end or now
    start = start or end - timedelta(days=1)
    for ts, name in ((start, "start"), (end, "end")):
        if ts.tzinfo is None:
            raise ValidationError(f"{name} needs a UTC offset, e.g. 2026-06-21T00:00:00Z")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if not start < end:
        raise ValidationError("start must be before end")
    if end - start > timedelta(days=MAX_SPAN_DAYS[resolution]):
        raise ValidationError(
            f"at {resolution} resolution a request spans at most {MAX_SPAN_DAYS[resolution]} days"
        )
    # align to the interval grid so rows are whole slots, hours or days
    aligned = int(start.timestamp()) // interval * interval
    return datetime.fromtimestamp(aligned, UTC), end, interval


def _energy_rows(
    platform: Platform, site_id: str, start: datetime, end: datetime, interval_s: int
) -> list[dict[str, Any]]:
    rows: dict[int, dict[str, int]] = defaultdict(_zero)
    s_ms, e_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    for at_ms, kind, imp, exp in platform.queries.site_energy(site_id, s_ms, e_ms, interval_s):
        for direction, value in (("import", imp), ("export", exp)):
            column = _COLUMNS.get((kind, direction))
            if column is not None:
                rows[at_ms][column] += value
    return [{"start_ms": k, **rows[k]} for k in sorted(rows)]


def history(
    platform: Platform,
    principal: Principal | None,
    site_id: str,
    resolution: str,
    start: datetime | None,
    end: datetime | None,
) -> list[dict[str, Any]]:
    site = site_for(platform, principal, site_id, Action.READ_SITE)
    slot_s = platform.rules.clock.length_s
    s, e, interval = parse_range(start, end, resolution, slot_s, platform.clock.now())
    return _energy_rows(platform, site.site_id, s, e, interval)


def region_energy(
    platform: Platform,
    principal: Principal | None,
    region: str,
    resolution: str,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """A region's summed energy per interval, over at least five households."""
    authorize(principal, Action.READ_REGION, region=region)
    service = platform.region(region)
    households = platform.queries.household_count(region)
    require_aggregate(households, region)
    s, e, interval = parse_range(start, end, resolution, service.slot_seconds, platform.clock.now())
    rows: dict[int, dict[str, int]] = defaultdict(_zero)
    s_ms, e_ms = int(s.timestamp() * 1000), int(e.timestamp() * 1000)
    for at_ms, kind, imp, exp in platform.queries.region_energy(region, s_ms, e_ms, interval):
        for direction, value in (("import", imp), ("export", exp)):
            column = _COLUMNS.get((kind, direction))
            if column is not None:
                rows[at_ms][column] += value
    return {
        "region": region,
        "households": households,
        "rows": [{"start_ms": k, **rows[k]} for k in sorted(rows)],
    }


def battery(platform: Platform, principal: Principal | None, site_id: str) -> dict[str, Any]:
    """The accumulator's specs and settings (as the device reports them, or as last applied)."""
    site = site_for(platform, principal, site_id, Action.READ_SITE)
    device = next((d for d in platform.queries.devices(site_id) if d.kind == "accumulator"), None)
    if device is None:
        raise NotFoundError(f"site {site_id!r} has no accumulator")
    params = {k: v for k, v in dict(device.params).items() if isinstance(v, int)}
    hood = platform.neighbourhoods.get(site.region)
    acc = None if hood is None else hood.accumulator(site_id)
    settings: dict[str, Any]
    if isinstance(acc, Accumulator):
        settings = {
            "mode": MODE_NAMES.get(acc.mode, acc.mode.name.lower()),
            "reserve_soc_permille": acc.reserve_soc_permille,
            "max_charge_w": acc.max_charge_w,
            "max_discharge_w": acc.max_discharge_w,
            "soc_permille": acc.soc_permille,
            "price_low_micro_per_kwh": acc.price_low_micro_per_kwh,
            "price_high_micro_per_kwh": acc.price_high_micro_per_kwh,
            "region_price_micro_per_kwh": acc.price_micro_per_kwh,
            "sale_w": acc.sale_w,
        }
    else:
        settings = dict.fromkeys(
            (
                "mode", "reserve_soc_permille", "max_charge_w", "max_discharge_w",
                "soc_permille", "price_low_micro_per_kwh", "price_high_micro_per_kwh",
                "region_price_micro_per_kwh", "sale_w",
            )
        )  # fmt: skip
    return {
        "site_id": site_id,
        "device_id": device.device_id,
        "address": checksum(device.address),
        "capacity_wh": params.get("capacity_wh"),
        "rated_charge_w": params.get("rated_charge_w"),
        "rated_discharge_w": params.get("rated_discharge_w"),
        **settings,
        "sale_company": platform.commands.sale_companies().get(site_id),
        "next_nonce": platform.commands.next_nonce(device.device_id),
    }
