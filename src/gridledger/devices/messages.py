"""The signed messages devices send and receive: readings up, commands down.

Both are EIP-712 typed data under the project's :class:`~gridledger.identity.Domain`, so the chain
id is bound into every signature, and both carry the region, the device address and a counter
(``sequence`` for readings, ``nonce`` for commands). Any wallet or contract can check them.

Wire format
-----------
A message on the wire is a fixed-layout, big-endian binary record followed by the 65-byte signature
``r || s || v`` (``v`` in {27, 28}). The record holds exactly the struct's fields, in declaration
order, each at its natural width; the first byte is a format tag (``0x52`` "R" for readings,
``0x43`` "C" for commands) so a stray payload is refused at once::

    reading (169 B) = tag(1) region(32) device(20) sequence(8) timestampMs(8) kind(1)
                      importWh(8) exportWh(8) powerW(8, signed) socPermille(2) sohPermille(2)
                      state(2) alarms(4) signature(65)
    command (163 B) = tag(1) region(32) device(20) owner(20) nonce(8) action(1) value(8, signed)
                      expiresS(8) signature(65)

Because the layout is fixed, EIP-712's ``encodeData`` is computed straight from the record with one
``struct.pack`` (:func:`reading_digest`), hashed once, without building a dict per message; a test
pins it to the generic :meth:`Domain.digest` path byte for byte.

A device numbers its readings 1, 2, 3, ... (``sequence``; ingest refuses any sequence not above the
last one it stored for that device) and its commands are numbered by the owner (``nonce``, refused
unless above the last one the device accepted).

Register convention (all cumulative, monotonic, integer Wh, from the device's point of view):
``importWh`` is energy flowing into the device from the household bus or the grid (OBIS 1.8.0 at
the BEC, charging for the accumulator, consumption for loads and EV chargers); ``exportWh`` is
energy the device delivers (OBIS 2.8.0 at the BEC, PV production, battery discharge, fuel cell
output). ``powerW`` is the instantaneous power [W], positive out of the device (export,
production, discharge) and negative into it, as in :class:`gridledger.store.Reading`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from gridledger.errors import CommandError, ReadingError, ValidationError
from gridledger.identity import (
    Domain,
    MessageType,
    Signer,
    address_bytes,
    keccak,
    region_id,
    region_name,
)


class DeviceKind(IntEnum):
    """What a device is; carried in every reading."""

    SOLAR_METER = 1
    ACCUMULATOR = 2
    BEC = 3
    LOAD = 4
    EV_CHARGER = 5
    FUEL_CELL = 6

    @property
    def store_name(self) -> str:
        """The kind's name in the store (``gridledger.store.DEVICE_KINDS``)."""
        return _STORE_NAMES[self]

    @classmethod
    def from_store_name(cls, name: str) -> DeviceKind:
        return _STORE_KINDS[name]


_STORE_NAMES: dict[DeviceKind, str] = {
    DeviceKind.SOLAR_METER: "pv_meter",
    DeviceKind.ACCUMULATOR: "accumulator",
    DeviceKind.BEC: "bec",
    DeviceKind.LOAD: "load",
    DeviceKind.EV_CHARGER: "ev_charger",
    DeviceKind.FUEL_CELL: "fuel_cell",
}
_STORE_KINDS = {v: k for k, v in _STORE_NAMES.items()}


#: A signed meter reading. ``timestampMs`` is Unix time [ms, UTC]; registers [Wh]; power [W];
#: ``socPermille``/``sohPermille`` [0.1 %] and ``state``/``alarms`` (SunSpec 802 ``ChaSt``/``Evt1``)
#: are 0 for devices without a battery.
READING: Final = MessageType(
    "Reading",
    (
        ("region", "bytes32"),
        ("device", "address"),
        ("sequence", "uint64"),
        ("timestampMs", "uint64"),
        ("kind", "uint8"),
        ("importWh", "uint64"),
        ("exportWh", "uint64"),
        ("powerW", "int64"),
        ("socPermille", "uint16"),
        ("sohPermille", "uint16"),
        ("state", "uint16"),
        ("alarms", "uint32"),
    ),
)

#: A command to a device, signed by the site owner. ``expiresS`` is Unix time [s] after which the
#: device refuses it (0 = never); ``value``'s meaning depends on ``action`` (see :class:`Action`).
COMMAND: Final = MessageType(
    "Command",
    (
        ("region", "bytes32"),
        ("device", "address"),
        ("owner", "address"),
        ("nonce", "uint64"),
        ("action", "uint8"),
        ("value", "int64"),
        ("expiresS", "uint64"),
    ),
)


class Action(IntEnum):
    """Command actions for the accumulator."""

    SET_MODE = 1  #: value: a :class:`~gridledger.devices.models.AccumulatorMode`
    SET_RESERVE_SOC = 2  #: value: reserve state of charge [0.1 %], 0..1000
    SET_MAX_CHARGE_W = 3  #: value: charge power limit [W], 0..rated
    SET_MAX_DISCHARGE_W = 4  #: value: discharge power limit [W], 0..rated
    SET_PRICE_LOW = 5  #: value: price-based mode charges at or below it [micro-units/kWh], >= 0
    SET_PRICE_HIGH = 6  #: value: price-based mode discharges at or above it [micro-units/kWh]


READING_TAG: Final = 0x52
COMMAND_TAG: Final = 0x43
SIGNATURE_SIZE: Final = 65

READING_LAYOUT = struct.Struct(">B32s20sQQBQQqHHHI")
_COMMAND_BODY = struct.Struct(">B32s20s20sQBqQ")
READING_SIZE: Final = READING_LAYOUT.size + SIGNATURE_SIZE
COMMAND_SIZE: Final = _COMMAND_BODY.size + SIGNATURE_SIZE

# encodeData of a Reading: 12 words of 32 bytes; small integers left-padded with zeros, the signed
# power sign-extended (two's complement over 256 bits) by the 24-byte prefix.
READING_WORDS_LAYOUT = struct.Struct(">32s12x20s24xQ24xQ31xB24xQ24xQ24sq30xH30xH30xH28xI")
_COMMAND_WORDS = struct.Struct(">32s12x20s12x20s24xQ31xB24sq24xQ")
_ZERO24 = bytes(24)
_ONES24 = b"\xff" * 24


def _digest_prefix(domain: Domain) -> bytes:
    return b"\x19\x01" + domain.separator


@dataclass(frozen=True, slots=True)
class Reading:
    """One meter reading of one device (unsigned content)."""

    region: str
    device: bytes  #: 20-byte address
    sequence: int
    timestamp_ms: int  #: Unix time [ms, UTC]
    kind: DeviceKind
    import_wh: int
    export_wh: int
    power_w: int
    soc_permille: int = 0
    soh_permille: int = 0
    state: int = 0
    alarms: int = 0

    def body(self) -> bytes:
        """The fixed-layout binary record (without signature); raises ReadingError out of range."""
        try:
            return READING_LAYOUT.pack(
                READING_TAG,
                region_id(self.region),
                address_bytes(self.device, "device"),
                self.sequence,
                self.timestamp_ms,
                int(self.kind),
                self.import_wh,
                self.export_wh,
                self.power_w,
                self.soc_permille,
                self.soh_permille,
                self.state,
                self.alarms,
            )
        except (struct.error, ValueError) as exc:
            raise ReadingError(f"reading field out of range: {exc}") from exc

    def message(self) -> dict[str, object]:
        """The EIP-712 message (for wallets and the generic :meth:`Domain.digest` path)."""
        return {
            "region": region_id(self.region),
            "device": self.device,
            "sequence": self.sequence,
            "timestampMs": self.timestamp_ms,
            "kind": int(self.kind),
            "importWh": self.import_wh,
            "exportWh": self.export_wh,
            "powerW": self.power_w,
            "socPermille": self.soc_permille,
            "sohPermille": self.soh_permille,
            "state": self.state,
            "alarms": self.alarms,
        }

    def sign(self, signer: Signer, domain: Domain) -> bytes:
        """The signed wire payload: body || signature (:data:`READING_SIZE` bytes)."""
        body = self.body()
        return body + signer.sign_digest(reading_digest(domain, body))


def reading_digest(domain: Domain, body: bytes) -> bytes:
    """EIP-712 digest of a reading given as its binary record (the lean, fixed-layout path)."""
    return keccak(_digest_prefix(domain) + reading_struct_hash(body))


def reading_struct_hash(body: bytes) -> bytes:
    """EIP-712 ``hashStruct`` of a reading record; ``struct.error`` if it is not one."""
    (_, region, device, seq, ts, kind, imp, exp, power, soc, soh, state, alarms) = (
        READING_LAYOUT.unpack(body)
    )
    return keccak(
        READING.type_hash
        + READING_WORDS_LAYOUT.pack(
            region,
            device,
            seq,
            ts,
            kind,
            imp,
            exp,
            _ONES24 if power < 0 else _ZERO24,
            power,
            soc,
            soh,
            state,
            alarms,
        )
    )


def _unpack_record(
    payload: object,
    size: int,
    layout: struct.Struct,
    tag: int,
    error: type[ValidationError],
    what: str,
) -> tuple[tuple[Any, ...], bytes]:
    """Check a fixed-size tagged record's type, length and tag; return its fields and raw bytes."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise error(f"a {what} payload is bytes, got {type(payload).__name__}")
    if len(payload) != size:
        raise error(f"a {what} payload is {size} bytes, got {len(payload)}")
    raw = bytes(payload)
    fields = layout.unpack_from(raw)
    if fields[0] != tag:
        raise error(f"not a {what}: format tag {fields[0]:#04x}")
    return fields, raw


def decode_reading(payload: bytes) -> tuple[Reading, bytes]:
    """Parse a wire payload into ``(reading, signature)``; raise :class:`ReadingError` if malformed.

    Only the shape is checked here (length, tag, region name, device kind); the signature is checked
    by ingest against the registered device key.
    """
    fields, raw = _unpack_record(
        payload, READING_SIZE, READING_LAYOUT, READING_TAG, ReadingError, "reading"
    )
    try:
        region = region_name(fields[1])
        region_id(region)
        kind = DeviceKind(fields[5])
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReadingError(f"malformed reading: {exc}") from None
    reading = Reading(
        region, fields[2], fields[3], fields[4], kind, fields[6], fields[7], fields[8],
        fields[9], fields[10], fields[11], fields[12],
    )  # fmt: skip
    return reading, raw[READING_LAYOUT.size :]


@dataclass(frozen=True, slots=True)
class Command:
    """A command from the site owner to one device (unsigned content)."""

    region: str
    device: bytes  #: 20-byte address of the target device
    owner: bytes  #: 20-byte address of the site owner who signs it
    nonce: int
    action: Action
    value: int
    expires_s: int = 0

    def body(self) -> bytes:
        try:
            return _COMMAND_BODY.pack(
                COMMAND_TAG,
                region_id(self.region),
                address_bytes(self.device, "device"),
                address_bytes(self.owner, "owner"),
                self.nonce,
                int(self.action),
                self.value,
                self.expires_s,
            )
        except (struct.error, ValueError) as exc:
            raise CommandError(f"command field out of range: {exc}") from exc

    def message(self) -> dict[str, object]:
        return {
            "region": region_id(self.region),
            "device": self.device,
            "owner": self.owner,
            "nonce": self.nonce,
            "action": int(self.action),
            "value": self.value,
            "expiresS": self.expires_s,
        }

    def sign(self, signer: Signer, domain: Domain) -> bytes:
        """The signed wire payload: body || signature (:data:`COMMAND_SIZE` bytes)."""
        body = self.body()
        return body + signer.sign_digest(command_digest(domain, body))


def command_digest(domain: Domain, body: bytes) -> bytes:
    """EIP-712 digest of a command given as its binary record."""
    (_, region, device, owner, nonce, action, value, expires) = _COMMAND_BODY.unpack(body)
    words = _COMMAND_WORDS.pack(
        region, device, owner, nonce, action, _ONES24 if value < 0 else _ZERO24, value, expires
    )
    return keccak(_digest_prefix(domain) + keccak(COMMAND.type_hash + words))


def decode_command(payload: bytes) -> tuple[Command, bytes]:
    """Parse a command payload into ``(command, signature)``; :class:`CommandError` if malformed."""
    fields, raw = _unpack_record(
        payload, COMMAND_SIZE, _COMMAND_BODY, COMMAND_TAG, CommandError, "command"
    )
    try:
        region = region_name(fields[1])
        region_id(region)
        action = Action(fields[5])
    except (UnicodeDecodeError, ValueError) as exc:
        raise CommandError(f"malformed command: {exc}") from None
    command = Command(region, fields[2], fields[3], fields[4], action, fields[6], fields[7])
    return command, raw[_COMMAND_BODY.size :]
