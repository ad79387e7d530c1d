"""Household devices and their signed messages.

>>> from gridledger.identity import Domain
>>> from gridledger.devices import Site, decode_reading
>>> site = Site.household("s1", "north")
>>> grid_w = site.step(pv_w=3000, load_w=800, dt_ms=900_000)
>>> [(t.split("/")[-2], len(p)) for t, p in site.readings(1_780_000_000_000, Domain(1337))][:2]
[('s1-pv', 169), ('s1-battery', 169)]
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
from gridledger.devices.site import Site, make_sites, traffic

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
    "Site",
    "SolarMeter",
    "command_digest",
    "decode_command",
    "decode_reading",
    "make_sites",
    "reading_digest",
    "traffic",
]
