"""Fault detection for PV, meters and batteries, scored against injected faults.

Detector families, one module each: :mod:`~gridledger.monitor.faults.pv` (outage, clipping),
:mod:`~gridledger.monitor.faults.performance` (under-performance, soiling),
:mod:`~gridledger.monitor.faults.degradation`, :mod:`~gridledger.monitor.faults.shading`,
:mod:`~gridledger.monitor.faults.registers` (stuck registers, offline devices, clock drift),
:mod:`~gridledger.monitor.faults.battery` and :mod:`~gridledger.monitor.faults.meters` (bypassed
loads). :class:`FaultMonitor` runs them all, slot by slot or chunk by chunk;
:func:`detect_faults` over whole arrays.
"""

from gridledger.monitor.faults.model import Fault, FaultBook, FaultKind, FaultStatus, Severity
from gridledger.monitor.faults.monitor import FaultMonitor, detect_faults

__all__ = [
    "Fault",
    "FaultBook",
    "FaultKind",
    "FaultMonitor",
    "FaultStatus",
    "Severity",
    "detect_faults",
]
