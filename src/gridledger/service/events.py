"""Live events of the platform and the bus that fans them out to stream subscribers.

Background tasks (threads) :meth:`EventBus.publish` events; each stream subscriber holds a bounded
queue on its own event loop and receives the events its filter lets through. A slow subscriber
loses its oldest events (counted in ``dropped``) instead of slowing the platform down.

Event kinds: ``power`` (a device's power [W], per site), ``slot_cleared`` (a region's slot
result: price, volume), ``trade_settled`` (a settled trade, to its two parties),
``delivery_settled`` (a slot's delivery, per region), ``command`` (a battery command's state,
to the site's owner), ``fault`` (opened, acknowledged or closed, to the site's owner), ``alert``
(demand response: an event affects the home, an operator's notice, excess consumption, a report
posted; to the site's owner only, :mod:`gridledger.service.vens`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EVENT_KINDS = (
    "power", "slot_cleared", "trade_settled", "delivery_settled", "command", "fault", "alert",
)  # fmt: skip


@dataclass(frozen=True)
class Event:
    """One event: ``kind``, its ``region``, the ``site`` it belongs to (private to the site's
    owner) or ``None`` (region-wide), the ``accounts`` it concerns (lower-case addresses; a
    trade's two parties), the JSON-able ``data`` and the wall time it was published [ms]."""

    kind: str
    region: str
    data: dict[str, Any]
    site: str | None = None
    accounts: frozenset[str] = frozenset()
    published_ms: float = field(default_factory=lambda: time.time() * 1000)
    id: int = 0
    #: the stream's JSON of the event, serialised once for every subscriber
    wire: str = ""
    #: the event as one Server-Sent Events frame (``id``, ``event``, ``data`` lines), also
    #: encoded once: subscribers write these bytes as they are
    sse: bytes = b""


Filter = Callable[[Event], bool]


class Subscription:
    """One subscriber's queue on its event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, accept: Filter, size: int) -> None:
        self.loop = loop
        self.accept = accept
        self.queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self.dropped = 0

    def _put(self, event: Event) -> None:  # on the subscriber's loop
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()

    def drain(self) -> list[Event]:
        """The events queued behind the one :meth:`get` returned (written in the same chunk)."""
        out: list[Event] = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out


class EventBus:
    """Publish from any thread; subscribe from an asyncio loop."""

    def __init__(self, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.published = 0

    def subscribe(self, accept: Filter) -> Subscription:
        sub = Subscription(asyncio.get_running_loop(), accept, self.queue_size)
        with self._lock:
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, event: Event) -> Event:
        payload = {"kind": event.kind, "region": event.region, "published_ms": event.published_ms}
        event_id = next(self._ids)
        wire = json.dumps(event.data | payload)  # one line: json.dumps writes no newline
        event = Event(
            event.kind,
            event.region,
            event.data,
            event.site,
            event.accounts,
            event.published_ms,
            event_id,
            wire,
            sse_frame(event_id, event.kind, wire),
        )
        with self._lock:
            subs = list(self._subs)
            self.published += 1
        by_loop: dict[asyncio.AbstractEventLoop, list[Subscription]] = {}
        decided: dict[int, bool] = {}  # subscribers sharing one filter object share the answer
        for sub in subs:
            ok = decided.get(id(sub.accept))
            if ok is None:
                ok = decided[id(sub.accept)] = sub.accept(event)
            if ok:
                by_loop.setdefault(sub.loop, []).append(sub)
        for loop, targets in by_loop.items():
            # one hop per loop, not per subscriber: 1,000 subscribers cost one wake-up
            try:
                loop.call_soon_threadsafe(_deliver, targets, event)
            except RuntimeError:  # that loop is closed: its subscribers are gone
                for sub in targets:
                    self.unsubscribe(sub)
        return event


def sse_frame(event_id: int, kind: str, data: str) -> bytes:
    """One Server-Sent Events frame, as sse-starlette writes it (``\\r\\n`` line ends), for a
    one-line ``data``."""
    return f"id: {event_id}\r\nevent: {kind}\r\ndata: {data}\r\n\r\n".encode()


def _deliver(targets: list[Subscription], event: Event) -> None:
    for sub in targets:
        sub._put(event)
