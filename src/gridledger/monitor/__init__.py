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
from gridledger.monitor.faults.records import fault_from_row, fault_row
from gridledger.monitor.readings import (
    SiteFaults,
    fleet_from_store,
    site_faults,
    telemetry_from_store,
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
    "SiteFaults",
    "Telemetry",
    "detect_faults",
    "fault_from_row",
    "fault_row",
    "fleet_from_store",
    "site_faults",
    "telemetry_from_store",
]
