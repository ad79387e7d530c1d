"""Device models of one household: meters, the accumulator, loads, EV charger and fuel cell.

Every device owns a secp256k1 key (:class:`~gridledger.identity.Signer`); its address is the
device id. Devices integrate power over time into cumulative, monotonic registers kept exactly in
integer watt-milliseconds internally and reported in whole Wh (see
:mod:`gridledger.devices.messages` for the import/export convention). Each call to
:meth:`Device.reading` increments the device's sequence number.

The accumulator (home battery) follows SunSpec model 802: state of charge and health [0.1 %],
charge status ``ChaSt`` (:class:`ChargeStatus`) and the ``Evt1`` alarm bits (:class:`BatteryAlarm`).
Its owner changes its mode, reserve state of charge, power limits and price thresholds remotely
with signed commands (:meth:`Accumulator.apply_command`); the device refuses unsigned, foreign,
expired or replayed ones. What it does in each mode is :meth:`Accumulator.setpoint_w` (the modes
the field names: self-consumption, backup reserve, price-based, sell-to-company; and the manual
charge, discharge, hold and off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import ClassVar

from gridledger.devices.messages import (
    Action,
    Command,
    DeviceKind,
    Reading,
    command_digest,
    decode_command,
)
from gridledger.errors import CommandError, SignatureError
from gridledger.identity import Domain, Signer, checksum, recover_digest


def _integrate(power_w: int, dt_ms: int) -> int:
    """Energy [W·ms] of ``power_w`` held for ``dt_ms``; 3.6e6 W·ms = 1 Wh."""
    if dt_ms < 0:
        raise ValueError(f"dt_ms must be >= 0, got {dt_ms}")
    return power_w * dt_ms


_W_MS_PER_WH = 3_600_000
#: The highest price threshold a command may set [micro-units/kWh] (1,000 currency units/kWh).
MAX_PRICE_THRESHOLD = 1_000_000_000
_PARAMS = (
    "peak_w",
    "max_w",
    "rated_w",
    "capacity_wh",
    "rated_charge_w",
    "rated_discharge_w",
    "max_charge_w",
    "max_discharge_w",
    "reserve_soc_permille",
)


@dataclass(eq=False)
class Device:
    """Base of every device model: identity, registers [W·ms internally], sequence number."""

    kind: ClassVar[DeviceKind]

    signer: Signer = field(repr=False)
    region: str
    site: str
    device_id: str
    sequence: int = 0
    power_w: int = 0
    _import_wms: int = field(default=0, repr=False)
    _export_wms: int = field(default=0, repr=False)

    @property
    def address(self) -> bytes:
        """The device id: its 20-byte address."""
        return self.signer.address_bytes

    @property
    def address_hex(self) -> str:
        """Lower-case ``0x`` address, as used in topics."""
        return "0x" + self.address.hex()

    @property
    def import_wh(self) -> int:
        """Cumulative energy into the device [Wh] (OBIS 1.8.0 at a BEC)."""
        return self._import_wms // _W_MS_PER_WH

    @property
    def export_wh(self) -> int:
        """Cumulative energy out of the device [Wh] (OBIS 2.8.0 at a BEC)."""
        return self._export_wms // _W_MS_PER_WH

    def _flow(self, power_w: int, dt_ms: int) -> None:
        """Hold ``power_w`` (positive out of the device, negative into it) for ``dt_ms``."""
        energy = _integrate(power_w, dt_ms)
        if energy >= 0:
            self._export_wms += energy
        else:
            self._import_wms -= energy
        self.power_w = power_w

    def _extra(self) -> tuple[int, int, int, int]:
        return (0, 0, 0, 0)

    def params(self) -> dict[str, int]:
        """Static description for the registry (ratings, capacity) [W, Wh]."""
        return {
            name: getattr(self, name)
            for name in _PARAMS
            if isinstance(getattr(self, name, None), int) and not name.startswith("_")
        }

    def reading(self, timestamp_ms: int) -> Reading:
        """The next reading (increments the sequence number)."""
        self.sequence += 1
        soc, soh, state, alarms = self._extra()
        return Reading(
            self.region,
            self.address,
            self.sequence,
            timestamp_ms,
            self.kind,
            self.import_wh,
            self.export_wh,
            self.power_w,
            soc,
            soh,
            state,
            alarms,
        )

    def signed_reading(self, timestamp_ms: int, domain: Domain) -> bytes:
        """The next reading, signed with the device key, as a wire payload."""
        return self.reading(timestamp_ms).sign(self.signer, domain)


@dataclass(eq=False)
class SolarMeter(Device):
    """The PV production meter; production is its export register."""

    kind: ClassVar[DeviceKind] = DeviceKind.SOLAR_METER
    peak_w: int = 5_000

    def produce(self, power_w: int, dt_ms: int) -> int:
        """Record PV output ``power_w`` [W] (clipped to 0..peak) for ``dt_ms``; returns it."""
        power_w = max(0, min(power_w, self.peak_w))
        self._flow(power_w, dt_ms)
        return power_w


@dataclass(eq=False)
class HouseholdLoad(Device):
    """The household's appliances as one metered load."""

    kind: ClassVar[DeviceKind] = DeviceKind.LOAD

    def consume(self, power_w: int, dt_ms: int) -> int:
        power_w = max(0, power_w)
        self._flow(-power_w, dt_ms)
        return power_w


@dataclass(eq=False)
class EVCharger(Device):
    """A wallbox; charges a connected car at up to ``max_w``."""

    kind: ClassVar[DeviceKind] = DeviceKind.EV_CHARGER
    max_w: int = 11_000
    connected: bool = False

    def charge(self, power_w: int, dt_ms: int) -> int:
        power_w = max(0, min(power_w, self.max_w)) if self.connected else 0
        self._flow(-power_w, dt_ms)
        return power_w

    def _extra(self) -> tuple[int, int, int, int]:
        return (0, 0, int(self.connected), 0)


@dataclass(eq=False)
class FuelCell(Device):
    """A micro-CHP fuel cell; produces up to ``rated_w``."""

    kind: ClassVar[DeviceKind] = DeviceKind.FUEL_CELL
    rated_w: int = 1_500

    def produce(self, power_w: int, dt_ms: int) -> int:
        power_w = max(0, min(power_w, self.rated_w))
        self._flow(power_w, dt_ms)
        return power_w


@dataclass(eq=False)
class BidirectionalCounter(Device):
    """The BEC at the grid connection: OBIS 1.8.0 (import from grid) and 2.8.0 (export)."""

    kind: ClassVar[DeviceKind] = DeviceKind.BEC

    @property
    def obis_1_8_0(self) -> int:
        """Active energy imported from the grid [Wh]."""
        return self.import_wh

    @property
    def obis_2_8_0(self) -> int:
        """Active energy exported to the grid [Wh]."""
        return self.export_wh

    def exchange(self, power_w: int, dt_ms: int) -> None:
        """Net power at the connection [W]: positive imported from the grid, negative exported."""
        self._flow(-power_w, dt_ms)


class AccumulatorMode(IntEnum):
    """Operating mode the owner selects (see :meth:`Accumulator.setpoint_w`)."""

    AUTO = 0  #: self-consumption: absorb surplus, cover deficit down to the reserve
    CHARGE = 1  #: charge at the charge limit
    DISCHARGE = 2  #: discharge at the discharge limit, down to the reserve
    HOLD = 3  #: neither charge nor discharge
    OFF = 4
    #: backup reserve: kept for a grid outage; absorbs surplus, refills from the grid up to the
    #: reserve, never discharges for the home while the grid is up
    BACKUP_RESERVE = 5
    #: price-based: charges at the charge limit when the region's price is at or below the low
    #: threshold, discharges at the discharge limit when at or above the high one; in between
    #: self-consumption
    PRICE_BASED = 6
    #: sell-to-company: absorbs surplus and keeps it (covers no deficit); discharges at the sale
    #: setpoint while a sale to the chosen company is being delivered
    SELL_TO_COMPANY = 7


class ChargeStatus(IntEnum):
    """SunSpec 802 ``ChaSt``."""

    OFF = 1
    EMPTY = 2
    DISCHARGING = 3
    CHARGING = 4
    FULL = 5
    HOLDING = 6
    TESTING = 7


class BatteryAlarm(IntFlag):
    """SunSpec 802 ``Evt1`` alarm bits (subset)."""

    COMMUNICATION_ERROR = 1 << 0
    OVER_TEMP_ALARM = 1 << 1
    UNDER_SOC_MIN_WARNING = 1 << 14
    OVER_SOC_MAX_WARNING = 1 << 16


@dataclass(eq=False)
class Accumulator(Device):
    """The energy accumulator (home battery).

    ``capacity_wh`` usable capacity [Wh]; ``rated_charge_w``/``rated_discharge_w`` hardware limits
    [W]; ``max_charge_w``/``max_discharge_w`` the owner's limits [W] (at most the rated ones);
    ``round_trip_efficiency`` split evenly between charge and discharge; ``reserve_soc_permille``
    the state of charge [0.1 %] below which it will not discharge; ``owner`` the 20-byte address
    allowed to command it. ``price_low_micro_per_kwh``/``price_high_micro_per_kwh`` are the
    price-based mode's thresholds [micro-units/kWh]; ``price_micro_per_kwh`` is the region's
    current price as the home controller last told it (``None``: no price known yet);
    ``sale_w`` the discharge setpoint [W] of a sale being delivered (sell-to-company mode).
    """

    kind: ClassVar[DeviceKind] = DeviceKind.ACCUMULATOR
    owner: bytes = b"\0" * 20
    capacity_wh: int = 10_000
    rated_charge_w: int = 5_000
    rated_discharge_w: int = 5_000
    max_charge_w: int = 5_000
    max_discharge_w: int = 5_000
    round_trip_efficiency: float = 0.9
    reserve_soc_permille: int = 100
    soh_permille: int = 1000
    mode: AccumulatorMode = AccumulatorMode.AUTO
    price_low_micro_per_kwh: int = 100_000
    price_high_micro_per_kwh: int = 250_000
    price_micro_per_kwh: int | None = None
    sale_w: int = 0
    alarms: BatteryAlarm = field(default_factory=lambda: BatteryAlarm(0))
    last_nonce: int = 0
    _stored_wms: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.capacity_wh <= 0:
            raise ValueError("capacity_wh must be > 0")
        if not 0 < self.round_trip_efficiency <= 1:
            raise ValueError("round_trip_efficiency must be in (0, 1]")

    @property
    def _capacity_wms(self) -> int:
        return self.capacity_wh * _W_MS_PER_WH

    @property
    def soc_permille(self) -> int:
        """State of charge [0.1 %]."""
        return self._stored_wms * 1000 // self._capacity_wms

    @soc_permille.setter
    def soc_permille(self, value: int) -> None:
        self._stored_wms = self._capacity_wms * max(0, min(value, 1000)) // 1000

    @property
    def stored_wh(self) -> int:
        return self._stored_wms // _W_MS_PER_WH

    @property
    def charge_status(self) -> ChargeStatus:
        if self.mode is AccumulatorMode.OFF:
            return ChargeStatus.OFF
        if self.power_w < 0:
            return ChargeStatus.CHARGING
        if self.power_w > 0:
            return ChargeStatus.DISCHARGING
        if self.soc_permille >= 1000:
            return ChargeStatus.FULL
        if self.soc_permille == 0:
            return ChargeStatus.EMPTY
        return ChargeStatus.HOLDING

    def setpoint_w(self, surplus_w: int) -> int:
        """The power the mode asks for [W] (positive charge, negative discharge) when the
        household bus has ``surplus_w`` [W] to spare (negative: a deficit), before the limits,
        the capacity and the reserve (:meth:`dispatch` applies those).

        * self-consumption (``AUTO``): absorb the surplus, cover the deficit;
        * backup reserve: absorb the surplus; below the reserve charge at the charge limit (from
          the grid if need be) so the reserve is there for an outage; never cover the deficit;
        * price-based: at or below the low threshold charge at the charge limit, at or above the
          high one discharge at the discharge limit, in between self-consumption (no price known
          yet: self-consumption); charging wins if the thresholds overlap;
        * sell-to-company: absorb the surplus and keep it; while a sale is delivered, discharge
          at its setpoint (``sale_w``);
        * charge, discharge, hold, off: the manual modes.
        """
        mode = self.mode
        if mode is AccumulatorMode.OFF or mode is AccumulatorMode.HOLD:
            return 0
        if mode is AccumulatorMode.CHARGE:
            return self.max_charge_w
        if mode is AccumulatorMode.DISCHARGE:
            return -self.max_discharge_w
        if mode is AccumulatorMode.BACKUP_RESERVE:
            if self.soc_permille < self.reserve_soc_permille:
                return max(surplus_w, self.max_charge_w)
            return max(surplus_w, 0)
        if mode is AccumulatorMode.PRICE_BASED and self.price_micro_per_kwh is not None:
            if self.price_micro_per_kwh <= self.price_low_micro_per_kwh:
                return self.max_charge_w
            if self.price_micro_per_kwh >= self.price_high_micro_per_kwh:
                return -self.max_discharge_w
        if mode is AccumulatorMode.SELL_TO_COMPANY:
            return -self.sale_w if self.sale_w > 0 else max(surplus_w, 0)
        return surplus_w

    def sellable_wh(self) -> int:
        """Energy [Wh] it can deliver at its terminals from above the reserve (after the
        discharge half of the round-trip loss)."""
        reserve = self._capacity_wms * self.reserve_soc_permille // 1000
        above = max(0, self._stored_wms - reserve)
        return int(above * math.sqrt(self.round_trip_efficiency)) // _W_MS_PER_WH

    def dispatch(self, surplus_w: int, dt_ms: int) -> int:
        """Run for ``dt_ms`` with ``surplus_w`` [W] spare on the household bus (negative: a
        deficit); the mode (:meth:`setpoint_w`) decides what to ask for.

        The owner's limits, the capacity and the reserve SoC are enforced; returns the power
        actually drawn (positive) or delivered (negative) at the terminals.
        """
        request_w = self.setpoint_w(surplus_w)
        eff = math.sqrt(self.round_trip_efficiency)
        power = 0
        if request_w > 0 and dt_ms > 0:
            room = self._capacity_wms - self._stored_wms
            power = min(request_w, self.max_charge_w, int(room / eff / dt_ms))
            self._stored_wms += int(power * dt_ms * eff)
        elif request_w < 0 and dt_ms > 0:
            reserve = self._capacity_wms * self.reserve_soc_permille // 1000
            available = max(0, self._stored_wms - reserve)
            power = min(-request_w, self.max_discharge_w, int(available * eff / dt_ms))
            self._stored_wms -= min(self._stored_wms, math.ceil(power * dt_ms / eff))
            power = -power
        self._flow(-power, dt_ms)
        alarms = self.alarms & ~(
            BatteryAlarm.UNDER_SOC_MIN_WARNING | BatteryAlarm.OVER_SOC_MAX_WARNING
        )
        if self.soc_permille < self.reserve_soc_permille:
            alarms |= BatteryAlarm.UNDER_SOC_MIN_WARNING
        self.alarms = alarms
        return power

    def _extra(self) -> tuple[int, int, int, int]:
        return (self.soc_permille, self.soh_permille, int(self.charge_status), int(self.alarms))

    def apply_command(self, payload: bytes, domain: Domain, now_s: int) -> Command:
        """Apply a signed command; if refused, raise :class:`CommandError` and change nothing.

        Refused: malformed payloads, commands for another device or region, signatures not made by
        the site owner's key on this chain, nonces not above the last accepted one (replays),
        expired commands and values out of range.
        """
        command, signature = decode_command(payload)
        if command.device != self.address:
            raise CommandError(f"command is for device {checksum(command.device)}, not this one")
        if command.region != self.region:
            raise CommandError(f"command is for region {command.region!r}, not {self.region!r}")
        if command.owner != self.owner:
            raise CommandError(f"command names owner {checksum(command.owner)}, not the site owner")
        try:
            signer = recover_digest(command_digest(domain, payload[: len(payload) - 65]), signature)
        except SignatureError as exc:
            raise CommandError(f"command signature is malformed: {exc}") from None
        if signer != self.owner:
            raise CommandError(f"command was signed by {checksum(signer)}, not by the site owner")
        if command.nonce <= self.last_nonce:
            raise CommandError(
                f"command nonce {command.nonce} is not above the last accepted {self.last_nonce} "
                "(replayed or out of order); sign a new command with a higher nonce"
            )
        if command.expires_s and command.expires_s < now_s:
            raise CommandError(f"command expired at {command.expires_s} (now {now_s})")
        self.apply_setting(command.action, command.value)
        self.last_nonce = command.nonce
        return command

    def apply_setting(self, action: Action, value: int) -> None:
        """Set what ``action`` sets to ``value`` (range-checked, :class:`CommandError` if out of
        range); no signature: for the device's own state, e.g. settings restored after a
        restart. Remote changes go through :meth:`apply_command`."""
        if action is Action.SET_MODE:
            try:
                self.mode = AccumulatorMode(value)
            except ValueError:
                raise CommandError(f"unknown accumulator mode {value}") from None
        elif action is Action.SET_RESERVE_SOC:
            if not 0 <= value <= 1000:
                raise CommandError(f"reserve SoC must be 0..1000 [0.1 %], got {value}")
            self.reserve_soc_permille = value
        elif action is Action.SET_MAX_CHARGE_W:
            if not 0 <= value <= self.rated_charge_w:
                raise CommandError(f"charge limit must be 0..{self.rated_charge_w} W, got {value}")
            self.max_charge_w = value
        elif action is Action.SET_MAX_DISCHARGE_W:
            if not 0 <= value <= self.rated_discharge_w:
                raise CommandError(
                    f"discharge limit must be 0..{self.rated_discharge_w} W, got {value}"
                )
            self.max_discharge_w = value
        elif action is Action.SET_PRICE_LOW:
            if not 0 <= value <= MAX_PRICE_THRESHOLD:
                raise CommandError(
                    f"low price threshold must be 0..{MAX_PRICE_THRESHOLD} micro-units/kWh, "
                    f"got {value}"
                )
            self.price_low_micro_per_kwh = value
        elif action is Action.SET_PRICE_HIGH:
            if not 0 <= value <= MAX_PRICE_THRESHOLD:
                raise CommandError(
                    f"high price threshold must be 0..{MAX_PRICE_THRESHOLD} micro-units/kWh, "
                    f"got {value}"
                )
            self.price_high_micro_per_kwh = value
