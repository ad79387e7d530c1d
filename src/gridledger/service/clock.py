"""The service's clock: wall time, or wall time sped up (``gridledger serve --speed 60``).

Every background task of the live platform reads the time from one :class:`Clock`, so a slot, gate
closure, ingest's "not in the future" check and the devices' timestamps all agree. A sped-up
clock runs ``speed`` simulated seconds per wall second from an origin; after a restart it resumes
from the last simulated time it recorded (never earlier than the wall clock), so device
timestamps and slots never go back.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from gridledger.errors import ConfigError


class Clock(Protocol):
    """The time every task of the service uses (aware UTC)."""

    def now(self) -> datetime: ...

    def now_ms(self) -> int:
        """Unix time [ms] of :meth:`now`."""
        ...

    def wall_seconds(self, sim_seconds: float) -> float:
        """Wall seconds that ``sim_seconds`` of this clock take."""
        ...


class ScaledClock:
    """``speed`` clock seconds per wall second from ``origin`` (default: now). ``speed`` 1 is
    the wall clock."""

    def __init__(self, speed: float = 1.0, origin: datetime | None = None) -> None:
        if not speed > 0 or speed > 100_000:
            raise ConfigError(f"speed must be in (0, 100000], got {speed}; e.g. --speed 60")
        self.speed = float(speed)
        self._origin = origin if origin is not None else datetime.now(UTC)
        self._mono0 = time.monotonic()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._mono0) * self.speed
        return self._origin + timedelta(seconds=elapsed)

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    def wall_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed


class ManualClock:
    """A clock that moves only when told (tests)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.speed = 1.0

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def wall_seconds(self, sim_seconds: float) -> float:
        return 0.0
