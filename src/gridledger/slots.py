"""Delivery slots: timezone-aware UTC intervals of a fixed length, identified by their start.

A slot length is 5 to 60 minutes (default 15) and must divide the hour, so slots line up with
clock quarters and hours as meter data and tariffs expect. Slots are aligned to the Unix epoch.
Gate closure is a fixed lead time before the slot starts; after it the slot's order book is frozen.
Naive datetimes are refused everywhere: a timestamp without a zone is ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gridledger.errors import SlotError

DEFAULT_SLOT_MINUTES = 15
MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 60
DEFAULT_GATE_CLOSURE_S = 60


def require_utc(ts: datetime, title: str = "timestamp") -> datetime:
    """Return ``ts`` converted to UTC; raise :class:`SlotError` if it is naive."""
    if not isinstance(ts, datetime):
        raise SlotError(f"{title} must be a datetime, got {type(ts).__name__}")
    if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
        raise SlotError(
            f"{title} {ts.isoformat()} has no timezone; pass an aware datetime, "
            "e.g. datetime(..., tzinfo=datetime.UTC)"
        )
    return ts.astimezone(UTC)


def validate_slot_minutes(minutes: object) -> int:
    """Return ``minutes`` if it is a valid slot length [min], else raise :class:`SlotError`."""
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise SlotError(f"slot length must be an integer number of minutes, got {minutes!r}")
    if not MIN_SLOT_MINUTES <= minutes <= MAX_SLOT_MINUTES or 60 % minutes:
        raise SlotError(
            f"slot length {minutes} min is not allowed; use 5 to 60 minutes dividing the hour "
            "(5, 6, 10, 12, 15, 20, 30 or 60)"
        )
    return minutes


@dataclass(frozen=True, order=True)
class Slot:
    """One delivery slot: ``[start, start + length)`` in UTC.

    ``start_s`` is the slot's identifier on the wire and on the chain (Unix seconds).
    """

    start_s: int
    length_s: int = DEFAULT_SLOT_MINUTES * 60

    def __post_init__(self) -> None:
        if self.length_s % 60:
            raise SlotError(f"slot length {self.length_s} s is not a whole number of minutes")
        validate_slot_minutes(self.length_s // 60)
        if self.start_s % self.length_s:
            raise SlotError(
                f"slot start {self.start_s} is not aligned to {self.length_s} s; "
                "use SlotClock.slot_of() to get the slot of a timestamp"
            )

    @property
    def start(self) -> datetime:
        """Start of the slot (UTC, aware)."""
        return datetime.fromtimestamp(self.start_s, UTC)

    @property
    def end(self) -> datetime:
        """End of the slot, exclusive (UTC, aware)."""
        return datetime.fromtimestamp(self.start_s + self.length_s, UTC)

    @property
    def length(self) -> timedelta:
        return timedelta(seconds=self.length_s)

    @property
    def hours(self) -> float:
        """Length [h], for converting power [W] to energy [Wh] in models (never for money)."""
        return self.length_s / 3600

    def next(self, count: int = 1) -> Slot:
        """The slot ``count`` slots later (earlier when negative)."""
        return Slot(self.start_s + count * self.length_s, self.length_s)

    def contains(self, ts: datetime) -> bool:
        t = require_utc(ts).timestamp()
        return self.start_s <= t < self.start_s + self.length_s

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.length_s // 60}min"


@dataclass(frozen=True)
class SlotClock:
    """Slot arithmetic for one market: slot length [min] and gate-closure lead time [s]."""

    slot_minutes: int = DEFAULT_SLOT_MINUTES
    gate_closure_s: int = DEFAULT_GATE_CLOSURE_S

    def __post_init__(self) -> None:
        validate_slot_minutes(self.slot_minutes)
        if isinstance(self.gate_closure_s, bool) or not isinstance(self.gate_closure_s, int):
            raise SlotError(
                f"gate_closure_s must be an integer of seconds, got {self.gate_closure_s!r}"
            )
        if not 0 <= self.gate_closure_s <= 24 * 3600:
            raise SlotError(f"gate_closure_s must be 0 to 86400 s, got {self.gate_closure_s}")

    @property
    def length_s(self) -> int:
        return self.slot_minutes * 60

    def slot_of(self, ts: datetime) -> Slot:
        """The slot that contains ``ts``."""
        t = int(require_utc(ts).timestamp() // 1)
        return Slot(t - t % self.length_s, self.length_s)

    def slot_at(self, start_s: int) -> Slot:
        """The slot starting at Unix second ``start_s`` (must be aligned)."""
        return Slot(start_s, self.length_s)

    def next_slot(self, ts: datetime) -> Slot:
        """The first slot starting strictly after ``ts``."""
        return self.slot_of(ts).next()

    def gate_closure(self, slot: Slot) -> datetime:
        """The moment (UTC) after which orders for ``slot`` are refused."""
        return slot.start - timedelta(seconds=self.gate_closure_s)

    def is_open(self, slot: Slot, now: datetime) -> bool:
        """True while orders for ``slot`` are still accepted at ``now``."""
        return require_utc(now, "now") < self.gate_closure(slot)

    def first_open_slot(self, now: datetime) -> Slot:
        """The earliest slot whose gate is still open at ``now``."""
        slot = self.next_slot(now)
        while not self.is_open(slot, now):
            slot = slot.next()
        return slot

    def require_open(self, slot: Slot, now: datetime) -> None:
        """Raise :class:`SlotError` if the gate of ``slot`` has closed at ``now``."""
        if not self.is_open(slot, now):
            raise SlotError(
                f"gate closure for slot {slot} was {self.gate_closure(slot).isoformat()}; "
                f"submit for {self.first_open_slot(now)} or later"
            )

    def slots_between(self, start: datetime, end: datetime) -> list[Slot]:
        """All slots that start in ``[start, end)``, in order."""
        first = self.slot_of(start)
        if first.start < require_utc(start):
            first = first.next()
        stop = require_utc(end, "end").timestamp()
        out: list[Slot] = []
        slot = first
        while slot.start_s < stop:
            out.append(slot)
            slot = slot.next()
        return out
