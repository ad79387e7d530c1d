"""Live aggregates per site and region, and fault detection over what the store holds.

Reads the store (and the market's results); raises faults. Used by the service, the API and the
simulator; it never imports them.
"""

from gridledger.monitor.faults import (
    Fault,
    FaultBook,
    FaultKind,
    FaultMonitor,
    FaultStatus,
    Severity,
    detect_faults,
)
from gridledger.monitor.series import DeviceSeries, Fleet, Telemetry

__all__ = [
    "DeviceSeries",
    "Fault",
    "FaultBook",
    "FaultKind",
    "FaultMonitor",
    "FaultStatus",
    "Fleet",
    "Severity",
    "Telemetry",
    "detect_faults",
]
