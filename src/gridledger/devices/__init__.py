"""Household devices, their signed messages and the topics they speak on.

A household's devices as one telemetry source (:class:`~gridledger.telemetry.site.Site`) live in
:mod:`gridledger.telemetry`, which also registers them in the store.
"""

from gridledger.devices.messages import (
    COMMAND,
    COMMAND_SIZE,
    READING,
    READING_SIZE,
    Action,
    Command,
    DeviceKind,
    Reading,
    command_digest,
    decode_command,
    decode_reading,
    reading_digest,
)
from gridledger.devices.models import (
    Accumulator,
    AccumulatorMode,
    BatteryAlarm,
    BidirectionalCounter,
    ChargeStatus,
    Device,
    EVCharger,
    FuelCell,
    HouseholdLoad,
    SolarMeter,
)

__all__ = [
    "COMMAND",
    "COMMAND_SIZE",
    "READING",
    "READING_SIZE",
    "Accumulator",
    "AccumulatorMode",
    "Action",
    "BatteryAlarm",
    "BidirectionalCounter",
    "ChargeStatus",
    "Command",
    "Device",
    "DeviceKind",
    "EVCharger",
    "FuelCell",
    "HouseholdLoad",
    "Reading",
    "SolarMeter",
    "command_digest",
    "decode_command",
    "decode_reading",
    "reading_digest",
]
