"""Durable storage behind one interface: SQLite (embedded default) or PostgreSQL.

>>> from gridledger.store import open_store
>>> with open_store("sqlite:///:memory:") as store:
...     store.reading_count()
0

See :mod:`gridledger.store.base` for the conventions (integer Wh / W / micro-units, ``ts_ms``).
"""

from gridledger.store.base import (
    DEVICE_KINDS,
    FAULT_COLUMNS,
    FAULT_STATES,
    SETTLEMENT_STATES,
    SEVERITIES,
    Device,
    EnergyInterval,
    ReadingRow,
    Region,
    Rejection,
    Settlement,
    Site,
    Store,
    TimeArg,
    from_ms,
    to_ms,
)
from gridledger.store.opening import open_store

__all__ = [
    "DEVICE_KINDS",
    "FAULT_COLUMNS",
    "FAULT_STATES",
    "SETTLEMENT_STATES",
    "SEVERITIES",
    "Device",
    "EnergyInterval",
    "ReadingRow",
    "Region",
    "Rejection",
    "Settlement",
    "Site",
    "Store",
    "TimeArg",
    "from_ms",
    "open_store",
    "to_ms",
]
