"""The public surface of gridledger.devices is pinned (STYLE.md #4)."""

from __future__ import annotations

import gridledger.devices as devices


def test_exported_members() -> None:
    assert devices.__all__ == [
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
    for name in devices.__all__:
        assert getattr(devices, name) is not None
