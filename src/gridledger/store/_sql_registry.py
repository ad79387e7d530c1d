"""The registry part of :class:`~gridledger.store._sql.SqlStore`: regions, sites and devices.

Adding an entry that exists already (same key) does nothing; lists come ordered by key.
Registration times are integer milliseconds since the Unix epoch (UTC), as in
:mod:`gridledger.store.base`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gridledger.store._sql_base import SqlBase, _json, _opt_bytes
from gridledger.store.base import Device, Region, Site


class RegistrySql(SqlBase):
    """The :class:`~gridledger.store.base.Store` methods on regions, sites and devices."""

    def add_region(self, region: Region) -> None:
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO regions (region, name, operator) VALUES (?, ?, ?) "
                "ON CONFLICT (region) DO NOTHING",
                (region.region, region.name, region.operator),
            )

    def list_regions(self) -> list[Region]:
        rows = self._query("SELECT region, name, operator FROM regions ORDER BY region")
        return [Region(r[0], r[1], _opt_bytes(r[2])) for r in rows]

    def add_site(self, site: Site) -> None:
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO sites (site_id, region, owner, registered_at_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (site_id) DO NOTHING",
                (site.site_id, site.region, site.owner, site.registered_at_ms),
            )

    def get_site(self, site_id: str) -> Site | None:
        sites = self._sites("WHERE site_id = ?", (site_id,))
        return sites[0] if sites else None

    def list_sites(self, region: str | None = None) -> list[Site]:
        if region is None:
            return self._sites("", ())
        return self._sites("WHERE region = ?", (region,))

    def _sites(self, where: str, params: Sequence[Any]) -> list[Site]:
        rows = self._query(
            f"SELECT site_id, region, owner, registered_at_ms FROM sites {where} ORDER BY site_id",
            params,
        )
        return [Site(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    def add_device(self, device: Device) -> None:
        with self._lock, self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO devices (device_id, site_id, kind, address, registered_at_ms, params) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO NOTHING",
                (
                    device.device_id,
                    device.site_id,
                    device.kind,
                    device.address,
                    device.registered_at_ms,
                    _json(device.params) or "{}",
                ),
            )

    def get_device(self, device_id: str) -> Device | None:
        devices = self._devices("WHERE device_id = ?", (device_id,))
        return devices[0] if devices else None

    def list_devices(self, site_id: str | None = None) -> list[Device]:
        if site_id is None:
            return self._devices("", ())
        return self._devices("WHERE site_id = ?", (site_id,))

    def _devices(self, where: str, params: Sequence[Any]) -> list[Device]:
        rows = self._query(
            "SELECT device_id, site_id, kind, address, registered_at_ms, params FROM devices "
            f"{where} ORDER BY device_id",
            params,
        )
        return [Device(r[0], r[1], r[2], bytes(r[3]), r[4], json.loads(r[5])) for r in rows]
