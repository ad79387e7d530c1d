"""The simulated neighbourhood of ``gridledger serve``: households whose devices report and whose
home controllers trade, on the service's clock.

Each household is a :class:`~gridledger.telemetry.Site` (PV meter, accumulator, load, BEC, each
with its own key; keys are derived from the region and a seed, so a restart finds the same
households). Every ``reading_interval_s`` of the clock all sites run their energy balance for the
elapsed time and every device publishes a signed reading over the telemetry transport, exactly as
a real device would; ingest checks and stores them.

PV power follows the clear-sky sun of :mod:`gridledger.sim.profiles` (solar position + Haurwitz)
scaled by each roof's peak power and a per-household cloud factor; load follows the BDEW H0
shape, both as arrays over all households (one numpy expression per step, not one per
household). The devices' registers and sequence numbers are restored from the store's latest
readings on start, so a restarted service continues every meter where it stopped.

The home controller is a simple rule (the ``control`` package will replace it): before each
slot's gate closure it forecasts the slot's PV and load, lets the battery do what its mode asks
(:meth:`~gridledger.devices.models.Accumulator.setpoint_w`: in self-consumption absorb surplus or
cover deficit down to its reserve) and offers the rest: surplus as an ask (to the region's energy
company when the household chose it and the company's offer pays enough), deficit as a bid. It
tells every accumulator the region's price (:meth:`Neighbourhood.set_price`, for the price-based
mode) and, for a sale of stored energy placed for a slot (sell-to-company mode,
:mod:`gridledger.service.controllers`), the discharge setpoint while that slot is delivered
(:meth:`Neighbourhood.schedule_sale`). Battery commands arrive over telemetry on the
accumulator's ``commands`` topic; the accumulator checks the owner's signature, nonce, expiry
and range and acknowledges on ``.../acks`` (:data:`ACK_SUFFIX`) with ``applied`` or
``refused``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gridledger.devices.messages import Action
from gridledger.devices.models import Accumulator, AccumulatorMode, Device, SolarMeter
from gridledger.devices.topics import topic
from gridledger.errors import CommandError, GridLedgerError
from gridledger.identity import Domain, Signer, keccak
from gridledger.service.queries import LastReading
from gridledger.sim.profiles import (
    H0_W_PER_MWH_A,
    PERFORMANCE_RATIO,
    haurwitz_ghi,
    solar_zenith_cos,
)
from gridledger.telemetry import Delivery, Site, Transport, make_sites

#: Appended to a device's ``commands`` topic for the device's acknowledgements.
ACK_SUFFIX = "/acks"
_W_MS_PER_WH = 3_600_000


def ack_topic(command_topic: str) -> str:
    return command_topic + ACK_SUFFIX


@dataclass(frozen=True)
class PlannedOrder:
    """What a home controller wants for one slot: ``side`` 0 bid / 1 ask, energy [Wh], limit
    [micro-units/kWh], and whether the ask goes to the region's company."""

    site_index: int
    side: int
    energy_wh: int
    price_micro_per_kwh: int
    to_company: bool


I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SlotResponse:
    """The live VENs' answer for one slot (:mod:`gridledger.service.vens`), per household: the
    retail price it plans with [micro-units/kWh], whether an import-limit or load-shed window
    curtails it, the most it may bid [Wh], the energy it buys to pre-charge its battery for a
    coming window [Wh], and the share of its load it shifts out of a window [per mille]."""

    retail_micro_per_kwh: I64
    curtailed: npt.NDArray[np.bool_]
    bid_cap_wh: I64
    precharge_wh: I64
    flexible_permille: int


class Responder(Protocol):
    """What a step asks the live VENs: each household's load after shifting and its battery
    set-point [W, positive charge; ``None``: self-consumption], then what happened."""

    def adjust(
        self, now_ms: int, dt_ms: int, pv_w: I64, load_w: I64
    ) -> tuple[I64, list[int | None]]: ...

    def observed(self, now_ms: int, dt_ms: int, pv_w: I64, load_w: I64, grid_w: I64) -> None: ...


class Neighbourhood:
    """``households`` simulated homes of ``region`` publishing on ``transport``."""

    def __init__(
        self,
        region: str,
        households: int,
        transport: Transport,
        domain: Domain,
        *,
        seed: int = 7,
        lat_deg: float = 48.1,
        lon_deg: float = 11.6,
        utc_offset_h: int = 1,
        reading_interval_s: int = 60,
    ) -> None:
        self.region = region
        self.transport = transport
        self.domain = domain
        self.lat_deg = lat_deg
        self.lon_deg = lon_deg
        self.utc_offset_h = utc_offset_h
        self.reading_interval_s = reading_interval_s
        seed_int = int.from_bytes(keccak(f"{region}:{seed}".encode())[:4])
        self.sites: list[Site] = make_sites(households, region, seed=seed_int)
        rng = np.random.default_rng(seed_int)
        self.peak_w = np.array(
            [int(_device(s, SolarMeter).params().get("peak_w", 0)) for s in self.sites],
            dtype=np.int64,
        )
        self.annual_kwh = rng.integers(2000, 5501, households).astype(np.int64)
        self.cloud = rng.uniform(0.6, 1.0, households)
        self.sells_to_company = rng.random(households) < 0.5
        self.ask_markup = rng.uniform(0.0, 0.4, households)
        self.bid_markdown = rng.uniform(0.0, 0.4, households)
        self.owners: dict[str, Signer] = {s.site_id: s.owner for s in self.sites}
        self._by_device: dict[str, tuple[Site, Device]] = {
            d.device_id: (s, d) for s in self.sites for d in s.devices
        }
        self._last_ms: int | None = None
        #: injected PV outages (tests, ``serve --inject-outage``): site index -> from [ms]
        self.outages: dict[int, int] = {}
        self._lock = threading.Lock()
        self.on_ack: Callable[[str, dict[str, object]], None] | None = None
        #: sales of stored energy to deliver: site id -> [(from [ms], to [ms], power [W], Wh)]
        self.sales: dict[str, list[tuple[int, int, int, int]]] = {}
        #: the live VENs (demand response); ``None``: the households follow no event
        self.responder: Responder | None = None

    # --- setup ----------------------------------------------------------------------------------

    def accumulator(self, site_id: str) -> Accumulator | None:
        for site in self.sites:
            if site.site_id == site_id:
                acc = site.find(Accumulator)
                return acc if isinstance(acc, Accumulator) else None
        return None

    def restore(
        self,
        latest: dict[str, LastReading],
        command_nonces: dict[str, int],
        settings: Mapping[str, Mapping[Action, int]] | None = None,
    ) -> int | None:
        """Continue every device from its last stored reading, and every accumulator with the
        settings its owner's commands last applied (``settings``: device id -> action -> value);
        return the newest time [ms]."""
        newest: int | None = None
        for device_id, reading in latest.items():
            found = self._by_device.get(device_id)
            if found is None:
                continue
            device = found[1]
            # the registers and sequence live in the device; a restart must not send them back
            device.sequence = max(device.sequence, reading.sequence)
            device._import_wms = reading.import_wh * _W_MS_PER_WH
            device._export_wms = reading.export_wh * _W_MS_PER_WH
            if isinstance(device, Accumulator) and reading.soc_permille is not None:
                device.soc_permille = reading.soc_permille
            newest = reading.ts_ms if newest is None else max(newest, reading.ts_ms)
        for device_id, nonce in command_nonces.items():
            found = self._by_device.get(device_id)
            if found is not None and isinstance(found[1], Accumulator):
                found[1].last_nonce = max(found[1].last_nonce, nonce)
        for device_id, applied in (settings or {}).items():
            found = self._by_device.get(device_id)
            if found is not None and isinstance(found[1], Accumulator):
                for action, value in applied.items():
                    try:
                        found[1].apply_setting(action, value)
                    except CommandError:
                        continue  # applied once, so in range; a device model changed since
        if newest is not None:
            self._last_ms = newest
        return newest

    def set_price(self, price_micro_per_kwh: int) -> None:
        """Tell every accumulator the region's current price [micro-units/kWh]."""
        with self._lock:
            for site in self.sites:
                acc = site.find(Accumulator)
                if isinstance(acc, Accumulator):
                    acc.price_micro_per_kwh = price_micro_per_kwh

    def schedule_sale(self, site_id: str, slot_start_s: int, slot_seconds: int, wh: int) -> None:
        """A sale of ``wh`` [Wh] of stored energy for the slot: the accumulator of ``site_id``
        discharges ``wh`` spread evenly over the slot (its ``sale_w`` while the slot runs)."""
        power_w = wh * 3600 // slot_seconds
        with self._lock:
            self.sales.setdefault(site_id, []).append(
                (slot_start_s * 1000, (slot_start_s + slot_seconds) * 1000, power_w, wh)
            )

    def committed_wh(self, site_id: str) -> int:
        """Stored energy [Wh] of ``site_id`` sold already and not delivered yet (a sale being
        delivered counts whole: the rest of it is still owed)."""
        with self._lock:
            return sum(sale[3] for sale in self.sales.get(site_id, []))

    def inject_outage(self, site_id: str, from_ms: int) -> None:
        """From ``from_ms`` on, the PV of ``site_id`` produces nothing (an inverter that tripped);
        its meter keeps reporting, so the fault detection sees zero production."""
        index = next((i for i, s in enumerate(self.sites) if s.site_id == site_id), None)
        if index is None:
            raise GridLedgerError(
                f"no site {site_id!r} in region {self.region}; sites are named "
                f"{self.region}-0000 to {self.region}-{len(self.sites) - 1:04d}"
            )
        self.outages[index] = from_ms

    def listen_for_commands(self) -> None:
        """Subscribe every accumulator to its commands topic."""
        for site in self.sites:
            acc = site.find(Accumulator)
            if acc is not None:
                self.transport.subscribe(
                    topic(self.region, site.site_id, acc.device_id, "commands"), self._on_command
                )

    # --- devices --------------------------------------------------------------------------------

    def power_w(self, now_ms: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """PV and load power of every household at ``now_ms`` [W]."""
        t = np.array([now_ms // 1000], dtype=np.int64)
        ghi = haurwitz_ghi(solar_zenith_cos(t, self.lat_deg, self.lon_deg))[0]
        pv = np.floor(self.peak_w * (ghi / 1000.0) * PERFORMANCE_RATIO * self.cloud)
        hour = int((now_ms // 3_600_000 + self.utc_offset_h) % 24)
        load = self.annual_kwh / 1000.0 * H0_W_PER_MWH_A[hour]
        return pv.astype(np.int64), load.astype(np.int64)

    def step(self, now_ms: int) -> int:
        """Run every site since the last step and publish one signed reading per device.

        Returns how many readings were published (0 when less than a reading interval passed).
        """
        with self._lock:
            if self._last_ms is None:
                self._last_ms = now_ms - self.reading_interval_s * 1000
            dt_ms = now_ms - self._last_ms
            if dt_ms < self.reading_interval_s * 1000:
                return 0
            self._last_ms = now_ms
            pv, load = self.power_w(now_ms)
            for index, from_ms in self.outages.items():
                if now_ms >= from_ms:
                    pv[index] = 0
            setpoints: list[int | None] = [None] * len(self.sites)
            run_load = load
            if self.responder is not None:
                run_load, setpoints = self.responder.adjust(now_ms, dt_ms, pv, load)
            grid = np.zeros(len(self.sites), np.int64)
            sent = 0
            for i, site in enumerate(self.sites):
                acc = site.find(Accumulator)
                battery_w = None
                if isinstance(acc, Accumulator):
                    self._sale_setpoint(site.site_id, acc, now_ms)
                    # the live VENs steer a battery in self-consumption only: another mode
                    # (backup reserve, price-based, a sale, the manual ones) is the owner's choice
                    if acc.mode is AccumulatorMode.AUTO:
                        battery_w = setpoints[i]
                grid[i] = site.step(int(pv[i]), int(run_load[i]), dt_ms, battery_w=battery_w)
                for name, payload in site.readings(now_ms, self.domain):
                    self.transport.publish(name, payload)
                    sent += 1
            if self.responder is not None:
                self.responder.observed(now_ms, dt_ms, pv, load, grid)
            return sent

    def _sale_setpoint(self, site_id: str, acc: Accumulator, now_ms: int) -> None:
        # the step integrates the interval ending at now_ms: a sale runs while that is in its slot
        pending = [sale for sale in self.sales.get(site_id, []) if now_ms <= sale[1]]
        acc.sale_w = sum(sale[2] for sale in pending if sale[0] < now_ms)
        if pending:
            self.sales[site_id] = pending
        else:
            self.sales.pop(site_id, None)

    # --- commands -------------------------------------------------------------------------------

    def _on_command(self, delivery: Delivery) -> None:
        parts = delivery.topic.split("/")
        site_id, device_id = parts[2], parts[3]
        found = self._by_device.get(device_id)
        ack: dict[str, object]
        if found is None or not isinstance(found[1], Accumulator):
            ack = {"status": "refused", "detail": f"no accumulator {device_id}"}
        else:
            acc = found[1]
            with self._lock:
                try:
                    command = acc.apply_command(delivery.payload, self.domain, self._now_s())
                    ack = {
                        "status": "applied",
                        "nonce": command.nonce,
                        "detail": f"{command.action.name} = {command.value}",
                    }
                except (CommandError, GridLedgerError) as exc:
                    ack = {"status": "refused", "detail": str(exc)}
        ack["payload_hash"] = "0x" + keccak(delivery.payload).hex()
        self.transport.publish(ack_topic(delivery.topic), json.dumps(ack).encode())
        delivery.ack()
        _ = site_id

    def _now_s(self) -> int:
        return (self._last_ms or 0) // 1000

    # --- home controllers -----------------------------------------------------------------------

    def plan(
        self,
        slot_start_s: int,
        slot_seconds: int,
        feed_in: int,
        retail: int,
        company_pays: int | None,
        response: SlotResponse | None = None,
    ) -> list[PlannedOrder]:
        """Each household's order for the slot under its battery's mode (module docstring),
        changed by the live VENs' ``response`` where an event applies: the event's price, the
        flexible load shifted out of a curtailed slot and the battery at full power there, the
        bid capped by an import limit, a pre-charge bought ahead of a window."""
        mid_ms = (slot_start_s + slot_seconds // 2) * 1000
        pv_w, load_w = self.power_w(mid_ms)
        hours = slot_seconds / 3600
        n = len(self.sites)
        curtailed = response.curtailed if response else np.zeros(n, bool)
        flex = response.flexible_permille if response else 0
        load_w = np.where(curtailed, load_w * (1000 - flex) // 1000, load_w)
        residual = np.floor((pv_w - load_w) * hours).astype(np.int64)  # [Wh]
        out: list[PlannedOrder] = []
        with self._lock:
            for i, site in enumerate(self.sites):
                acc = site.find(Accumulator)
                r = int(residual[i])
                retail_i = int(response.retail_micro_per_kwh[i]) if response else retail
                spread = max(0, retail_i - feed_in)
                if isinstance(acc, Accumulator) and acc.mode is not AccumulatorMode.AUTO:
                    r -= _battery_wh(acc, int(pv_w[i] - load_w[i]), hours)
                elif isinstance(acc, Accumulator):
                    # the battery takes up to half its power limit over the slot (all of it in a
                    # curtailed slot); the rest trades
                    share = 1 if curtailed[i] else 2
                    if r > 0:
                        room = acc.capacity_wh * (1000 - acc.soc_permille) // 1000
                        r = max(0, r - min(room, int(acc.max_charge_w * hours) // share))
                    elif r < 0:
                        spare = acc.capacity_wh * max(
                            0, acc.soc_permille - acc.reserve_soc_permille
                        )
                        r = min(
                            0, r + min(spare // 1000, int(acc.max_discharge_w * hours) // share)
                        )
                if response is not None and r <= 0:
                    r = -min(-r + int(response.precharge_wh[i]), int(response.bid_cap_wh[i]))
                if r == 0:
                    continue
                if r > 0:
                    price = feed_in + int(self.ask_markup[i] * spread)
                    to_company = bool(
                        self.sells_to_company[i]
                        and company_pays is not None
                        and price <= company_pays
                    )
                    out.append(PlannedOrder(i, 1, r, price, to_company))
                else:
                    price = retail_i - int(self.bid_markdown[i] * spread)
                    out.append(PlannedOrder(i, 0, -r, price, False))
        return out


def _battery_wh(acc: Accumulator, surplus_w: int, hours: float) -> int:
    """What the battery takes [Wh] (negative: gives) over a slot of ``hours`` at its mode's
    setpoint, within its limits, room and energy above the reserve; a sale of stored energy is
    an order of its own, not part of the household's plan."""
    if acc.mode is AccumulatorMode.SELL_TO_COMPANY:
        want = max(surplus_w, 0)
    else:
        want = acc.setpoint_w(surplus_w)
    if want > 0:
        room = acc.capacity_wh * (1000 - acc.soc_permille) // 1000
        return min(room, int(min(want, acc.max_charge_w) * hours))
    if want < 0:
        spare = acc.capacity_wh * max(0, acc.soc_permille - acc.reserve_soc_permille) // 1000
        return -min(spare, int(min(-want, acc.max_discharge_w) * hours))
    return 0


def _device(site: Site, model: type[Device]) -> Device:
    device = site.find(model)
    if device is None:
        raise GridLedgerError(f"site {site.site_id} has no {model.__name__}")
    return device


__all__ = ["ACK_SUFFIX", "Neighbourhood", "PlannedOrder", "Responder", "SlotResponse", "ack_topic"]
